import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authOf } from './authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, messageResponse, problems } from '../../shared/http/schemas.js';
import { login, logout, me, refresh, type AuthDeps } from './auth.service.js';
import { loginBody, loginResponse, meResponse, refreshBody, tokenPair, type ClientMeta } from './auth.types.js';
import { LoginThrottle } from './login-throttle.js';

const clientMeta = (request: FastifyRequest): ClientMeta => ({
  ip: request.ip,
  userAgent: request.headers['user-agent'] ?? null,
  requestId: request.id,
});

export const authRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, redis, sessions, logger }) => {
  const deps: AuthDeps = {
    env,
    db,
    sessions,
    onBackgroundError: (error) => logger.error({ err: error }, 'could not record a failed login in the audit log'),
    throttle: new LoginThrottle(redis, {
      prefix: env.REDIS_KEY_PREFIX,
      maxPerAccount: env.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      maxPerIp: env.LOGIN_MAX_FAILURES_PER_IP,
      windowSeconds: env.LOGIN_FAILURE_WINDOW,
    }),
  };

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in with email and password',
        description: 'Wrong email or password: 401 (same message). Disabled user or inactive tenant: 403. Too many failures per IP or account: 429 with Retry-After.',
        body: loginBody,
        response: { 200: loginResponse, ...problems(400, 401, 403, 429, 503) },
      },
      config: { public: true },
    },
    async (request) => login(deps, request.body, clientMeta(request)),
  );

  app.post(
    '/auth/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new token pair (the old refresh token is spent)',
        description: 'A spent refresh token presented again revokes its whole session family (401).',
        body: refreshBody,
        response: { 200: tokenPair, ...problems(400, 401) },
      },
      config: { public: true },
    },
    async (request) => refresh(deps, request.body.refreshToken, clientMeta(request)),
  );

  app.get(
    '/auth/me',
    { schema: { tags: ['auth'], summary: 'The logged-in user', response: { 200: meResponse, ...authProblems } }, config: { permission: 'session:self' } },
    async (request) => ({ user: me(authOf(request)) }),
  );

  app.post(
    '/auth/logout',
    {
      schema: { tags: ['auth'], summary: 'End the session: revokes its refresh tokens', response: { 200: messageResponse, ...authProblems } },
      config: { permission: 'session:self' },
    },
    async (request) => {
      await logout(deps, authOf(request), clientMeta(request));
      return { message: 'Logged out' };
    },
  );
};
