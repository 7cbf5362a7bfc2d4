import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authOf, clientMeta } from './authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, messageResponse, problems } from '../../shared/http/schemas.js';
import { login, logout, me, refresh } from './auth.service.js';
import { loginBody, loginOutcome, meResponse, refreshBody, tokenPair } from './auth.types.js';
import { staffAuth } from './staff-auth-deps.js';

export const authRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, routerDeps) => {
  const { auth: deps } = staffAuth(routerDeps);

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in with email and password',
        description:
          'Wrong email or password: 401 (same message). Disabled user or inactive tenant: 403. Too many failures per IP or account: 429 with Retry-After. ' +
          'A user with a second factor, or whose tenant requires one for their role, gets a TwoFactorChallenge instead of tokens (POST /api/auth/2fa/verify).',
        body: loginBody,
        response: { 200: loginOutcome, ...problems(400, 401, 403, 429, 503) },
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
