import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams } from '../../shared/http/schemas.js';
import { getSubscription, listSubscriptions } from './subscriptions.service.js';
import { listSubscriptionsQuery, subscriptionDetail, subscriptionsPage } from './subscriptions.types.js';

const tags = ['subscriptions'];

export const subscriptionsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
  app.get(
    '/subscriptions',
    {
      schema: {
        tags,
        summary: "List the tenant's subscriptions, newest first",
        querystring: listSubscriptionsQuery,
        response: { 200: subscriptionsPage, ...authProblems },
      },
      config: { permission: 'subscriptions:read' },
    },
    async (request) => listSubscriptions(db, authOf(request), request.query),
  );

  app.get(
    '/subscriptions/:id',
    {
      schema: {
        tags,
        summary: 'A subscription with its customer, product, price, domains and provisioning jobs (with their history)',
        params: idParams,
        response: { 200: subscriptionDetail, ...authProblems },
      },
      config: { permission: 'subscriptions:read' },
    },
    async (request) => getSubscription(db, authOf(request), request.params.id),
  );
};
