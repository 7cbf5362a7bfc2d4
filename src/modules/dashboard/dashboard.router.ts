import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems } from '../../shared/http/schemas.js';
import { authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { getDashboard } from './dashboard.service.js';
import { dashboardQuery, dashboardResponse } from './dashboard.types.js';

/** The staff dashboard's figures that no list gives: order-to-live percentiles, expiring certificates, the last billing run. */
export const dashboardRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
  app.get(
    '/dashboard',
    {
      schema: {
        tags: ['dashboard'],
        summary: "The tenant's operational figures for the staff dashboard",
        description:
          'Order-to-live p50/p95 over the last 24 hours (total and per hour), ISSUED certificates expiring within `expiringWithinDays` (and the FAILED count), and the last finished billing run. Orders, subscriptions and failed jobs come from their own lists.',
        querystring: dashboardQuery,
        response: { 200: dashboardResponse, ...authProblems },
      },
      config: { permission: 'dashboard:read' },
    },
    async (request) => getDashboard(db, authOf(request), request.query),
  );
};
