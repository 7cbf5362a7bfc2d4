import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { customerAuthDeps, customerAuthRouter } from '../customer-auth/customer-auth.router.js';
import { assertPortalRouteDeclaresAccess, createCustomerAuthenticate } from '../customer-auth/customer-authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { portalBrowserSessionRouter } from '../customer-auth/portal-browser-session.router.js';
import { portalRouter } from './portal.router.js';
import { portalPaymentsRouter } from './portal-payments.router.js';
import { portalPlanChangeRouter } from './portal-plan-change.router.js';
import { portalBillingRouter } from './portal-billing.router.js';
import { portalMailRouter } from './portal-mail.router.js';
import { portalTwoFactorRouter, customerSecondFactor } from '../two-factor/portal-two-factor.router.js';
import type { TwoFactorDeps } from '../two-factor/two-factor.service.js';
import { LoginThrottle } from '../auth/login-throttle.js';

/**
 * The client portal, mounted at /api/portal beside (not inside) the staff API: its own hook
 * verifies customer tokens (their own audience), so staff tokens are refused here and customer
 * tokens on every staff route. A route declares `config.public` or `config.portal`.
 */
export const portalApi: FastifyPluginAsyncZod<RouterDeps> = async (app, deps) => {
  app.addHook('onRoute', assertPortalRouteDeclaresAccess);
  app.addHook('onRequest', createCustomerAuthenticate({ env: deps.env, db: deps.db }));
  const { env, redis } = deps;
  const twoFactor: TwoFactorDeps = {
    env,
    db: deps.db,
    redis,
    throttle: new LoginThrottle(redis, { prefix: `${env.REDIS_KEY_PREFIX}:portal`, maxPerAccount: env.LOGIN_MAX_FAILURES_PER_ACCOUNT, maxPerIp: env.LOGIN_MAX_FAILURES_PER_IP, windowSeconds: env.LOGIN_FAILURE_WINDOW }),
  };
  const authDeps = customerAuthDeps(deps, customerSecondFactor(twoFactor));
  await app.register(customerAuthRouter, { ...deps, authDeps });
  await app.register(portalTwoFactorRouter, { ...deps, authDeps, twoFactor });
  await app.register(portalBrowserSessionRouter, { ...deps, authDeps, twoFactor });
  await app.register(portalRouter, { ...deps, authDeps });
  await app.register(portalPaymentsRouter, deps);
  await app.register(portalPlanChangeRouter, { ...deps, authDeps });
  await app.register(portalBillingRouter, deps);
  await app.register(portalMailRouter, deps);
};
