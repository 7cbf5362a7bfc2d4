import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { addUser, deleteUser, getUser, listUsers, updateUser } from './users.service.js';
import { createUserInput, listUsersQuery, updateUserBody, userResponse, usersPage } from './users.types.js';

const tags = ['users'];

export const usersRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, sessions }) => {
  app.get(
    '/users',
    {
      schema: { tags, summary: "List the tenant's users", querystring: listUsersQuery, response: { 200: usersPage, ...authProblems } },
      config: { permission: 'users:read' },
    },
    async (request) => listUsers(db, authOf(request), request.query),
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        summary: 'Create a user in the tenant',
        description: 'Nobody can grant a role above their own (403). Emails are unique across all tenants (409).',
        body: createUserInput,
        response: { 201: userResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request, reply) => reply.status(201).send(await addUser(db, authOf(request), request.body, actorOf(request))),
  );

  app.get(
    '/users/:id',
    {
      schema: { tags, summary: 'A user of the tenant', params: idParams, response: { 200: userResponse, ...authProblems } },
      config: { permission: 'users:read' },
    },
    async (request) => getUser(db, authOf(request), request.params.id),
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Rename, change the role of, disable or re-enable a user, or set their password',
        description:
          'Disabling a user or changing their password revokes their refresh tokens. 403 for a role above your own; ' +
          '409 for disabling yourself or taking away the last active ADMIN.',
        params: idParams,
        body: updateUserBody,
        response: { 200: userResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request) => {
      const user = await updateUser(db, authOf(request), request.params.id, request.body, actorOf(request));
      // Committed: the user's requests see the change now, in every API process.
      await sessions.invalidate({ user: user.id });
      return user;
    },
  );

  app.delete(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Delete a user (soft delete; their sessions end)',
        description: '409 for deleting yourself or the last active ADMIN.',
        params: idParams,
        response: { 204: z.null().meta({ description: 'The user is deleted' }), ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request, reply) => {
      await deleteUser(db, authOf(request), request.params.id, actorOf(request));
      await sessions.invalidate({ user: request.params.id });
      return reply.status(204).send(null);
    },
  );
};
