import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RouterDeps } from '../shared/http/router-deps.js';
import { auditRouter } from './audit/audit.router.js';
import { authRouter } from './auth/auth.router.js';
import { orderIntakeRouter } from './orders/orders.router.js';
import { tenantsRouter } from './tenants/tenants.router.js';
import { usersRouter } from './users/users.router.js';

/**
 * The API's modules, each a Fastify plugin mounted under /api behind the authenticate hook
 * (app.ts). A route is public only when it says so (`config.public`); any other declares a
 * permission from modules/auth/permissions.ts.
 */
export const apiRouters: readonly FastifyPluginAsyncZod<RouterDeps>[] = [
  authRouter,
  orderIntakeRouter,
  auditRouter,
  usersRouter,
  tenantsRouter,
];
