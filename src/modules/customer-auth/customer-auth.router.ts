import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LoginThrottle } from '../auth/login-throttle.js';
import { twoFactorChallenge } from '../auth/auth.types.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, messageResponse, problems } from '../../shared/http/schemas.js';
import { clientMeta } from '../auth/authenticate.js';
import { customerOf } from './customer-authenticate.js';
import {
  customerLogin,
  customerLogout,
  customerRefresh,
  sendLinkByEmail,
  setPasswordWithLink,
  signInWithLink,
  type CustomerAuthDeps,
} from './customer-auth.service.js';
import { customerLoginBody, customerRefreshBody, customerSession, customerTokenPair, linkRequestBody, setPasswordBody, signInLinkBody } from './customer-auth.types.js';

export const customerSignInResult = z.union([customerSession, twoFactorChallenge]);

/** The portal's throttle: the staff rules, its own Redis keys (tenant id + email per account). */
export function portalThrottle(deps: Pick<RouterDeps, 'env' | 'redis'>): LoginThrottle {
  const { env, redis } = deps;
  return new LoginThrottle(redis, {
    prefix: `${env.REDIS_KEY_PREFIX}:portal`,
    maxPerAccount: env.LOGIN_MAX_FAILURES_PER_ACCOUNT,
    maxPerIp: env.LOGIN_MAX_FAILURES_PER_IP,
    windowSeconds: env.LOGIN_FAILURE_WINDOW,
  });
}

export function customerAuthDeps(deps: RouterDeps, secondFactor?: CustomerAuthDeps['secondFactor']): CustomerAuthDeps {
  return { env: deps.env, db: deps.db, logger: deps.logger, throttle: portalThrottle(deps), mailer: deps.customerLinkMailer, ...(secondFactor ? { secondFactor } : {}) };
}

const LINK_SENT = 'If this email has a portal login, a link is on its way';

/** /api/portal/auth: customer sign-in, sessions and one-time links. */
export const customerAuthRouter: FastifyPluginAsyncZod<RouterDeps & { authDeps: CustomerAuthDeps }> = async (app, { db, authDeps }) => {
  const tags = ['portal auth'];

  app.post(
    '/auth/login',
    {
      schema: {
        tags,
        summary: 'Customer login: tenant, email and password',
        description:
          'Wrong tenant, email or password: 401 (same message). Too many failures per IP or account: 429. When the login has a second factor (or the tenant requires one), the answer is a challenge, and the tokens come from POST /api/portal/auth/2fa/verify.',
        body: customerLoginBody,
        response: { 200: customerSignInResult, ...problems(400, 401, 404, 429, 503) },
      },
      config: { public: true },
    },
    async (request) => customerLogin(authDeps, request.body, clientMeta(request)),
  );

  app.post(
    '/auth/refresh',
    {
      schema: { tags, summary: 'Rotate a customer refresh token', description: 'A spent token presented again revokes its whole session (401).', body: customerRefreshBody, response: { 200: customerTokenPair, ...problems(400, 401) } },
      config: { public: true },
    },
    async (request) => {
      const { token, refreshToken } = await customerRefresh(authDeps, request.body.refreshToken, clientMeta(request));
      return { token, refreshToken };
    },
  );

  app.post(
    '/auth/logout',
    { schema: { tags, summary: 'End this session', response: { 200: messageResponse, ...authProblems } }, config: { portal: 'portal:self' } },
    async (request) => {
      await customerLogout(db, customerOf(request), clientMeta(request));
      return { message: 'Logged out' };
    },
  );

  app.post(
    '/auth/accept-invitation',
    {
      schema: {
        tags,
        summary: "Set the login's password with the invitation link (72 h, single use)",
        body: setPasswordBody,
        response: { 200: messageResponse, ...problems(400, 401) },
      },
      config: { public: true },
    },
    async (request) => {
      await setPasswordWithLink(authDeps, request.body.token, request.body.password, clientMeta(request));
      return { message: 'Password set; you can log in' };
    },
  );

  app.post(
    '/auth/password-reset',
    {
      schema: {
        tags,
        summary: 'Email a password reset link (1 h, single use)',
        description: 'The same 202 whether or not the email has a login. Counts against the login throttle.',
        body: linkRequestBody,
        response: { 202: messageResponse, ...problems(400, 404, 429, 503) },
      },
      config: { public: true },
    },
    async (request, reply) => {
      await sendLinkByEmail(authDeps, request.body, 'PASSWORD_RESET', clientMeta(request));
      return reply.code(202).send({ message: LINK_SENT });
    },
  );

  app.post(
    '/auth/password-reset/confirm',
    {
      schema: { tags, summary: 'Set a new password with the reset link; every session of the login ends', body: setPasswordBody, response: { 200: messageResponse, ...problems(400, 401) } },
      config: { public: true },
    },
    async (request) => {
      await setPasswordWithLink(authDeps, request.body.token, request.body.password, clientMeta(request));
      return { message: 'Password changed; you can log in' };
    },
  );

  app.post(
    '/auth/sign-in-link',
    {
      schema: {
        tags,
        summary: 'Email a sign-in link (15 min, single use)',
        description: 'The same 202 whether or not the email has a login. Counts against the login throttle.',
        body: linkRequestBody,
        response: { 202: messageResponse, ...problems(400, 404, 429, 503) },
      },
      config: { public: true },
    },
    async (request, reply) => {
      await sendLinkByEmail(authDeps, request.body, 'SIGN_IN', clientMeta(request));
      return reply.code(202).send({ message: LINK_SENT });
    },
  );

  app.post(
    '/auth/sign-in-link/confirm',
    {
      schema: { tags, summary: 'Sign in with a sign-in link', description: 'A second factor, when the login has one, is still asked for.', body: signInLinkBody, response: { 200: customerSignInResult, ...problems(400, 401) } },
      config: { public: true },
    },
    async (request) => signInWithLink(authDeps, request.body.token, clientMeta(request)),
  );
};
