import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import { createAlias, createMailbox, deleteAlias, listAliases, listMailboxes, listMailDomains, updateMailbox, type MailApiDeps, type MailCaller } from '../mail/mail.api.service.js';
import type { RouterDeps } from '../router-deps.js';
import {
  aliasesPage,
  aliasResponse,
  createAliasBody,
  createMailboxBody,
  listAliasesQuery,
  listMailboxesQuery,
  listMailDomainsQuery,
  mailboxesPage,
  mailboxWithPassword,
  portalMailDomainsPage,
  resetMailboxPasswordBody,
} from './portal-mail.types.js';

const tags = ['portal mail'];
const read = { portal: 'portal:read' } as const;
const write = { portal: 'portal:technical' } as const;
const APPLIED = "The same service as the staff mail API: the plan's limits are checked, the mail server is written before the answer (503 when it cannot be reached, and then nothing changed).";

/** The signed-in customer as the mail service's caller: only their own mail domains exist for it. */
const callerOf = (request: FastifyRequest): MailCaller => {
  const auth = customerOf(request);
  return { tenantId: auth.tenantId, customerId: auth.customerId, actor: customerActorOf(request) };
};

/** /api/portal: the customer's mail domains, mailboxes and aliases (the staff mail service, scoped by customer). */
export const portalMailRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, mail, logger }) => {
  const depsOf = (reqId: string): MailApiDeps => ({ db, env, mail, logger: logger.child({ reqId }) });

  app.get(
    '/mail-domains',
    { schema: { tags, summary: "The account's mail domains: mailboxes used against the plan's count", querystring: listMailDomainsQuery, response: { 200: portalMailDomainsPage, ...authProblems } }, config: read },
    async (request) => {
      const caller = callerOf(request);
      return listMailDomains(depsOf(request.id), caller.tenantId, request.query, caller.customerId);
    },
  );

  app.get(
    '/mailboxes',
    { schema: { tags, summary: "The account's mailboxes, newest first", querystring: listMailboxesQuery, response: { 200: mailboxesPage, ...authProblems } }, config: read },
    async (request) => {
      const caller = callerOf(request);
      return listMailboxes(depsOf(request.id), caller.tenantId, request.query, caller.customerId);
    },
  );

  app.post(
    '/mailboxes',
    {
      schema: {
        tags,
        summary: "Create a mailbox (within the plan's mailbox count and quota)",
        description: `Without \`password\` a random one is generated and returned ONCE in \`generatedPassword\`. All of the plan's mailboxes in use: 409 naming the limit. ${APPLIED}`,
        body: createMailboxBody,
        response: { 201: mailboxWithPassword, ...authProblems, ...problems(409, 422, 503) },
      },
      config: write,
    },
    async (request, reply) => reply.status(201).send(await createMailbox(depsOf(request.id), callerOf(request), request.body)),
  );

  app.post(
    '/mailboxes/:id/password',
    {
      schema: {
        tags,
        summary: "Reset a mailbox's password (chosen, or generated and returned once)",
        description: APPLIED,
        params: idParams,
        body: resetMailboxPasswordBody,
        response: { 200: mailboxWithPassword, ...authProblems, ...problems(409, 422, 503) },
      },
      config: write,
    },
    async (request) => updateMailbox(depsOf(request.id), callerOf(request), request.params.id, request.body.password === undefined ? { resetPassword: true } : { password: request.body.password }),
  );

  app.get(
    '/mail-aliases',
    { schema: { tags, summary: "The account's aliases and forwarders", querystring: listAliasesQuery, response: { 200: aliasesPage, ...authProblems } }, config: read },
    async (request) => {
      const caller = callerOf(request);
      return listAliases(depsOf(request.id), caller.tenantId, request.query, caller.customerId);
    },
  );

  app.post(
    '/mail-aliases',
    {
      schema: {
        tags,
        summary: 'Create an alias or forwarder on one of your mail domains',
        description: `Targets on your own hosted domains must exist; a chain leading back to the alias is refused. ${APPLIED}`,
        body: createAliasBody,
        response: { 201: aliasResponse, ...authProblems, ...problems(409, 422, 503) },
      },
      config: write,
    },
    async (request, reply) => reply.status(201).send(await createAlias(depsOf(request.id), callerOf(request), request.body)),
  );

  app.delete(
    '/mail-aliases/:id',
    {
      schema: { tags, summary: 'Delete an alias or forwarder', description: `409 while another alias delivers to it. ${APPLIED}`, params: idParams, response: { 200: aliasResponse, ...authProblems, ...problems(409, 422, 503) } },
      config: write,
    },
    async (request) => deleteAlias(depsOf(request.id), callerOf(request), request.params.id),
  );
};
