import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { platformHostNames } from '../domains/hosted-names.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import type { CustomerAuthDeps } from '../customer-auth/customer-auth.service.js';
import { customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import { dnsSettings } from '../dns/dns-template.js';
import { createRecord, deleteRecord, getZone, listCustomerZones, updateRecord, type DnsCaller, type DnsDeps } from '../dns/dns.service.js';
import { createRecordBody, dnsRecordResponse, dnsZoneDetail, dnsZoneResponse, noContent, updateRecordBody } from '../dns/dns.types.js';
import type { RouterDeps } from '../router-deps.js';
import { changePassword, getProfile, getService, inviteContact, listContacts, listServices, listSessions, removeContact, revokeSession, updateCustomer } from './portal.service.js';
import { billingAddress, changePasswordBody, contact, contactList, inviteContactBody, profile, service, serviceList, sessionList, taxIdBody, updateProfileBody } from './portal.types.js';

const dnsCaller = (request: FastifyRequest): DnsCaller => {
  const auth = customerOf(request);
  return { tenantId: auth.tenantId, customerId: auth.customerId, actor: customerActorOf(request) };
};

/** /api/portal: what a signed-in customer sees and changes of their own account. */
export const portalRouter: FastifyPluginAsyncZod<RouterDeps & { authDeps: CustomerAuthDeps }> = async (app, { db, env, logger, dns, authDeps }) => {
  const dnsDeps: DnsDeps = { db, dns, settings: dnsSettings(env), logger, platformNames: platformHostNames(env) };

  app.get(
    '/profile',
    { schema: { tags: ['portal account'], summary: 'The customer account and the signed-in login', response: { 200: profile, ...authProblems } }, config: { portal: 'portal:self' } },
    async (request) => getProfile(db, customerOf(request)),
  );

  app.patch(
    '/profile',
    { schema: { tags: ['portal account'], summary: "Change the account's name, company or phone", body: updateProfileBody, response: { 200: profile, ...authProblems } }, config: { portal: 'portal:owner' } },
    async (request) => updateCustomer(db, customerOf(request), customerActorOf(request), request.body),
  );

  app.put(
    '/billing-address',
    { schema: { tags: ['portal account'], summary: 'Set the billing address', body: billingAddress, response: { 200: profile, ...authProblems } }, config: { portal: 'portal:billing' } },
    async (request) => updateCustomer(db, customerOf(request), customerActorOf(request), { billingAddress: request.body }),
  );

  app.put(
    '/tax-id',
    { schema: { tags: ['portal account'], summary: 'Set (or clear, with null) the tax id', body: taxIdBody, response: { 200: profile, ...authProblems } }, config: { portal: 'portal:billing' } },
    async (request) => updateCustomer(db, customerOf(request), customerActorOf(request), { taxId: request.body.taxId }),
  );

  app.get(
    '/contacts',
    { schema: { tags: ['portal account'], summary: "The account's logins (owner, billing and technical contacts)", response: { 200: contactList, ...authProblems } }, config: { portal: 'portal:self' } },
    async (request) => listContacts(db, customerOf(request)),
  );

  app.post(
    '/contacts',
    {
      schema: {
        tags: ['portal account'],
        summary: 'Invite a billing or technical contact (the owner only)',
        description: 'The contact gets a 72 h invitation link by email to set their password.',
        body: inviteContactBody,
        response: { 201: contact, ...authProblems, ...problems(409) },
      },
      config: { portal: 'portal:owner' },
    },
    async (request, reply) => reply.code(201).send(await inviteContact(authDeps, customerOf(request), customerActorOf(request), request.body)),
  );

  app.delete(
    '/contacts/:id',
    { schema: { tags: ['portal account'], summary: 'Remove a contact; their sessions end', params: idParams, response: { 204: noContent, ...authProblems, ...problems(409) } }, config: { portal: 'portal:owner' } },
    async (request, reply) => {
      await removeContact(db, customerOf(request), customerActorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/sessions',
    { schema: { tags: ['portal account'], summary: "The signed-in login's open sessions", response: { 200: sessionList, ...authProblems } }, config: { portal: 'portal:self' } },
    async (request) => listSessions(db, customerOf(request)),
  );

  app.delete(
    '/sessions/:id',
    { schema: { tags: ['portal account'], summary: 'End one of your sessions', params: idParams, response: { 204: noContent, ...authProblems } }, config: { portal: 'portal:self' } },
    async (request, reply) => {
      await revokeSession(db, customerOf(request), customerActorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/password',
    {
      schema: { tags: ['portal account'], summary: 'Change your password; your other sessions end', body: changePasswordBody, response: { 204: noContent, ...authProblems } },
      config: { portal: 'portal:self' },
    },
    async (request, reply) => {
      await changePassword(db, customerOf(request), customerActorOf(request), request.body.currentPassword, request.body.newPassword);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/services',
    { schema: { tags: ['portal services'], summary: "The account's services: plan, status and why, domain, site URL, certificate", response: { 200: serviceList, ...authProblems } }, config: { portal: 'portal:read' } },
    async (request) => listServices(db, customerOf(request)),
  );

  app.get(
    '/services/:id',
    { schema: { tags: ['portal services'], summary: 'One service', params: idParams, response: { 200: service, ...authProblems } }, config: { portal: 'portal:read' } },
    async (request) => getService(db, customerOf(request), request.params.id),
  );

  // DNS: the staff DNS service behind a second door, scoped to the customer's zones.
  const dnsTags = ['portal dns'];
  const write = 'The same validation, conflict rules and PowerDNS write as the staff DNS API: if PowerDNS refuses (422) or cannot be reached (503), nothing changes.';

  app.get(
    '/dns/zones',
    { schema: { tags: dnsTags, summary: "The account's DNS zones", response: { 200: z.object({ items: z.array(dnsZoneResponse) }), ...authProblems } }, config: { portal: 'portal:read' } },
    async (request) => {
      const auth = customerOf(request);
      return { items: await listCustomerZones(db, { tenantId: auth.tenantId, customerId: auth.customerId }) };
    },
  );

  app.get(
    '/dns/zones/:id',
    { schema: { tags: dnsTags, summary: 'A zone with its records', params: idParams, response: { 200: dnsZoneDetail, ...authProblems } }, config: { portal: 'portal:read' } },
    async (request) => {
      const auth = customerOf(request);
      return getZone(dnsDeps, { tenantId: auth.tenantId, customerId: auth.customerId }, request.params.id);
    },
  );

  app.post(
    '/dns/zones/:id/records',
    {
      schema: { tags: dnsTags, summary: 'Add a record', description: write, params: idParams, body: createRecordBody, response: { 201: dnsRecordResponse, ...authProblems, ...problems(409, 422, 503) } },
      config: { portal: 'portal:technical' },
    },
    async (request, reply) => reply.code(201).send(await createRecord(dnsDeps, dnsCaller(request), request.params.id, request.body)),
  );

  app.patch(
    '/dns/records/:id',
    {
      schema: { tags: dnsTags, summary: 'Change a record', description: write, params: idParams, body: updateRecordBody, response: { 200: dnsRecordResponse, ...authProblems, ...problems(409, 422, 503) } },
      config: { portal: 'portal:technical' },
    },
    async (request) => updateRecord(dnsDeps, dnsCaller(request), request.params.id, request.body),
  );

  app.delete(
    '/dns/records/:id',
    {
      schema: { tags: dnsTags, summary: 'Delete a record', description: write, params: idParams, response: { 204: noContent, ...authProblems, ...problems(409, 422, 503) } },
      config: { portal: 'portal:technical' },
    },
    async (request, reply) => {
      await deleteRecord(dnsDeps, dnsCaller(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
