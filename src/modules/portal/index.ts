import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { customerAuthDeps, customerAuthRouter } from '../customer-auth/customer-auth.router.js';
import { assertPortalRouteDeclaresAccess, createCustomerAuthenticate } from '../customer-auth/customer-authenticate.js';
import type { RouterDeps } from '../router-deps.js';

/**
 * The client portal, mounted at /api/portal beside (not inside) the staff API: its own hook
 * verifies customer tokens (their own audience), so staff tokens are refused here and customer
 * tokens on every staff route. A route declares `config.public` or `config.portal`.
 */
export const portalApi: FastifyPluginAsyncZod<RouterDeps> = async (app, deps) => {
  app.addHook('onRoute', assertPortalRouteDeclaresAccess);
  app.addHook('onRequest', createCustomerAuthenticate({ env: deps.env, db: deps.db }));
  const authDeps = customerAuthDeps(deps);
  await app.register(customerAuthRouter, { ...deps, authDeps });
};
