import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { addServer, getServer, listServers, serverAddressPolicy, updateServer } from './servers.service.js';
import { createServerBody, listServersQuery, serverResponse, serversPage, updateServerBody } from './servers.types.js';

const tags = ['servers'];

/** The machines workers act on: web servers (sites), mail servers (mailboxes), DNS servers. */
export const serversRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env }) => {
  const policy = serverAddressPolicy(env);

  app.get(
    '/servers',
    {
      schema: { tags, summary: "List the tenant's servers", description: 'Newest first, cursor-paginated.', querystring: listServersQuery, response: { 200: serversPage, ...authProblems } },
      config: { permission: 'servers:read' },
    },
    async (request) => listServers(db, authOf(request), request.query),
  );

  app.get(
    '/servers/:id',
    {
      schema: { tags, summary: 'A server of the tenant', params: idParams, response: { 200: serverResponse, ...authProblems } },
      config: { permission: 'servers:read' },
    },
    async (request) => getServer(db, authOf(request), request.params.id),
  );

  app.post(
    '/servers',
    {
      schema: {
        tags,
        summary: 'Register a server',
        description:
          'driver LOCAL: a worker runs on the server and consumes its queue; SSH: workers drive it over SSH (sshHost, sshUser and the pinned sshHostKey required). ' +
          'WEB and MAIL servers need an IPv4 or IPv6 address. Hostname and role are unique per tenant (409).',
        body: createServerBody,
        response: { 201: serverResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'servers:write' },
    },
    async (request, reply) => reply.code(201).send(await addServer(db, authOf(request), request.body, actorOf(request), policy)),
  );

  app.patch(
    '/servers/:id',
    {
      schema: {
        tags,
        summary: 'Change a server (not its role)',
        description: 'null clears an optional field. status DRAINING: no new sites; DISABLED: nothing runs there. The same rules as on creation apply to the result.',
        params: idParams,
        body: updateServerBody,
        response: { 200: serverResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'servers:write' },
    },
    async (request) => updateServer(db, authOf(request), request.params.id, request.body, actorOf(request), policy),
  );
};
