import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams } from '../../shared/http/schemas.js';
import { getCustomer, listCustomers } from './customers.service.js';
import { customerDetail, customersPage, listCustomersQuery } from './customers.types.js';

const tags = ['customers'];

export const customersRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
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
};
