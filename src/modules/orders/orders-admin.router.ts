import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams } from '../../shared/http/schemas.js';
import { getOrder, listOrders } from './orders-admin.service.js';
import { listOrdersQuery, orderDetail, ordersPage } from './orders-admin.types.js';

const tags = ['orders'];

/** The staff side of orders (the marketing site's signed intake is orders.router.ts). */
export const ordersAdminRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
  app.get(
    '/orders',
    {
      schema: { tags, summary: "List the tenant's orders, newest first", querystring: listOrdersQuery, response: { 200: ordersPage, ...authProblems } },
      config: { permission: 'orders:read' },
    },
    async (request) => listOrders(db, authOf(request), request.query),
  );

  app.get(
    '/orders/:id',
    {
      schema: {
        tags,
        summary: 'An order with its customer, subscription and provisioning jobs',
        params: idParams,
        response: { 200: orderDetail, ...authProblems },
      },
      config: { permission: 'orders:read' },
    },
    async (request) => getOrder(db, authOf(request), request.params.id),
  );
};
