import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import { customerAuthDeps } from '../customer-auth/customer-auth.router.js';
import { resendInvitation } from '../customer-auth/customer-auth.service.js';
import { invitationResponse } from '../customer-auth/customer-auth.types.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { getCustomer, listCustomerContacts, listCustomers } from './customers.service.js';
import { customerContacts, customerDetail, customersPage, listCustomersQuery } from './customers.types.js';

const tags = ['customers'];

export const customersRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, deps) => {
  const { db } = deps;
  const authDeps = customerAuthDeps(deps);
  app.get(
    '/customers',
    {
      schema: {
        tags,
        summary: "List the tenant's customers, newest first",
        querystring: listCustomersQuery,
        response: { 200: customersPage, ...authProblems },
      },
      config: { permission: 'customers:read' },
    },
    async (request) => listCustomers(db, authOf(request), request.query),
  );

  app.get(
    '/customers/:id',
    {
      schema: { tags, summary: 'A customer with their subscriptions', params: idParams, response: { 200: customerDetail, ...authProblems } },
      config: { permission: 'customers:read' },
    },
    async (request) => getCustomer(db, authOf(request), request.params.id),
  );

  app.get(
    '/customers/:id/contacts',
    {
      schema: {
        tags,
        summary: "The customer's client portal logins: owner, billing and technical contacts",
        description:
          'Oldest first. For each: whether the invitation was accepted (a password set), whether the login is active, whether two-factor sign-in is on, and the last sign-in. No secret is ever part of the answer.',
        params: idParams,
        response: { 200: customerContacts, ...authProblems },
      },
      config: { permission: 'customers:read' },
    },
    async (request) => listCustomerContacts(db, authOf(request), request.params.id),
  );

  app.post(
    '/customers/:id/invitation',
    {
      schema: {
        tags,
        summary: "(Re)send the customer's client portal invitation",
        description:
          'A new one-time link (72 h) goes to the owner login by email; the previous one stops working. The answer says where and until when, never the link. 409 once the owner has set a password.',
        params: idParams,
        response: { 202: invitationResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'customers:invite' },
    },
    async (request, reply) => {
      const auth = authOf(request);
      return reply.code(202).send(await resendInvitation(authDeps, auth.tenantId, request.params.id, actorOf(request)));
    },
  );
};
