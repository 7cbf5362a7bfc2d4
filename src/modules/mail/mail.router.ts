import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import {
  createAlias,
  createMailbox,
  deleteAlias,
  deleteMailbox,
  getMailbox,
  getMailDomain,
  listAliases,
  listMailboxes,
  listMailDomains,
  updateMailbox,
  type MailApiDeps,
} from './mail.api.service.js';
import {
  aliasesPage,
  aliasResponse,
  createAliasBody,
  createMailboxBody,
  listAliasesQuery,
  listMailboxesQuery,
  listMailDomainsQuery,
  mailboxDeleted,
  mailboxDetail,
  mailboxesPage,
  mailboxWithPassword,
  mailDomainDetail,
  mailDomainsPage,
  updateMailboxBody,
} from './mail.types.js';

const APPLIED =
  'Applied to the mail server before the answer (the domain\'s state rewritten from the rows): 503 when the mail server is unreachable, and then nothing changed.';

/** Mail hosting for staff: mail domains (with usage), mailboxes and aliases (modules/mail/mail.api.service.ts). */
export const mailRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, mail, logger }) => {
  const depsOf = (reqId: string): MailApiDeps => ({ db, env, mail, logger: logger.child({ reqId }) });

  app.get(
    '/mail-domains',
    {
      schema: {
        tags: ['mail'],
        summary: "List the tenant's mail domains",
        description: "Newest first, cursor-paginated; mailboxes used against the plan's limit, quota allocated.",
        querystring: listMailDomainsQuery,
        response: { 200: mailDomainsPage, ...authProblems },
      },
      config: { permission: 'mail:read' },
    },
    async (request) => listMailDomains(depsOf(request.id), authOf(request).tenantId, request.query),
  );

  app.get(
    '/mail-domains/:id',
    {
      schema: {
        tags: ['mail'],
        summary: 'A mail domain: usage (Dovecot quota) and the DNS records mail needs',
        params: idParams,
        response: { 200: mailDomainDetail, ...authProblems },
      },
      config: { permission: 'mail:read' },
    },
    async (request) => getMailDomain(depsOf(request.id), authOf(request).tenantId, request.params.id),
  );

  app.get(
    '/mailboxes',
    {
      schema: { tags: ['mail'], summary: "List the tenant's mailboxes", description: 'Newest first, cursor-paginated.', querystring: listMailboxesQuery, response: { 200: mailboxesPage, ...authProblems } },
      config: { permission: 'mail:read' },
    },
    async (request) => listMailboxes(depsOf(request.id), authOf(request).tenantId, request.query),
  );

  app.post(
    '/mailboxes',
    {
      schema: {
        tags: ['mail'],
        summary: 'Create a mailbox (within the plan: mailbox count and quota)',
        description: `Without \`password\` a random one is generated and returned ONCE in \`generatedPassword\`. ${APPLIED}`,
        body: createMailboxBody,
        response: { 201: mailboxWithPassword, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'mail:write' },
    },
    async (request, reply) => reply.status(201).send(await createMailbox(depsOf(request.id), { tenantId: authOf(request).tenantId, actor: actorOf(request) }, request.body)),
  );

  app.get(
    '/mailboxes/:id',
    {
      schema: { tags: ['mail'], summary: "A mailbox, with its usage from Dovecot's quota", params: idParams, response: { 200: mailboxDetail, ...authProblems } },
      config: { permission: 'mail:read' },
    },
    async (request) => getMailbox(depsOf(request.id), authOf(request).tenantId, request.params.id),
  );

  app.patch(
    '/mailboxes/:id',
    {
      schema: {
        tags: ['mail'],
        summary: 'Change a mailbox: quota, enabled, password (chosen, or generated and returned once)',
        description: APPLIED,
        params: idParams,
        body: updateMailboxBody,
        response: { 200: mailboxWithPassword, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'mail:write' },
    },
    async (request) => updateMailbox(depsOf(request.id), { tenantId: authOf(request).tenantId, actor: actorOf(request) }, request.params.id, request.body),
  );

  app.delete(
    '/mailboxes/:id',
    {
      schema: {
        tags: ['mail'],
        summary: 'Delete a mailbox: its mail refused from then on, its maildir archived to the backups location, then removed',
        description: `409 while an alias delivers to it. ${APPLIED}`,
        params: idParams,
        response: { 200: mailboxDeleted, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'mail:write' },
    },
    async (request) => deleteMailbox(depsOf(request.id), { tenantId: authOf(request).tenantId, actor: actorOf(request) }, request.params.id),
  );

  app.get(
    '/mail-aliases',
    {
      schema: { tags: ['mail'], summary: "List the tenant's aliases and forwarders", querystring: listAliasesQuery, response: { 200: aliasesPage, ...authProblems } },
      config: { permission: 'mail:read' },
    },
    async (request) => listAliases(depsOf(request.id), authOf(request).tenantId, request.query),
  );

  app.post(
    '/mail-aliases',
    {
      schema: {
        tags: ['mail'],
        summary: 'Create an alias or forwarder',
        description: `Targets on the tenant's hosted domains must exist; a target chain leading back to the alias is refused. ${APPLIED}`,
        body: createAliasBody,
        response: { 201: aliasResponse, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'mail:write' },
    },
    async (request, reply) => reply.status(201).send(await createAlias(depsOf(request.id), { tenantId: authOf(request).tenantId, actor: actorOf(request) }, request.body)),
  );

  app.delete(
    '/mail-aliases/:id',
    {
      schema: {
        tags: ['mail'],
        summary: 'Delete an alias or forwarder',
        description: `409 while another alias delivers to it. ${APPLIED}`,
        params: idParams,
        response: { 200: aliasResponse, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'mail:write' },
    },
    async (request) => deleteAlias(depsOf(request.id), { tenantId: authOf(request).tenantId, actor: actorOf(request) }, request.params.id),
  );
};
