import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authProblems, messageResponse, problems } from '../../shared/http/schemas.js';
import type { RouterDeps } from '../router-deps.js';
import { authOf, clientMeta } from './authenticate.js';
import { login, logout, refresh } from './auth.service.js';
import { loginBody, sessionUser, twoFactorChallenge } from './auth.types.js';
import { rotateRefreshCookie, sameOriginOnly, setRefreshCookie, type RefreshCookie } from './browser-cookie.js';
import { completeStaffChallenge, staffAuth } from './staff-auth-deps.js';
import { recoveryCodes, verifyBody } from '../two-factor/two-factor.types.js';

/**
 * Browser sessions (the staff console): the same logins and rotating refresh tokens as
 * /api/auth/login, but the refresh token never reaches JavaScript (browser-cookie.ts: an httpOnly,
 * SameSite=Strict cookie scoped to this prefix, and an Origin check); the access token is answered
 * in the body and kept in memory by the page.
 */
export const BROWSER_SESSION_PREFIX = '/auth/browser';
export const REFRESH_COOKIE = 'mpanel_refresh';
const COOKIE_PATH = `/api${BROWSER_SESSION_PREFIX}`;
const cookie: RefreshCookie = { name: REFRESH_COOKIE, path: COOKIE_PATH };

const browserToken = z.object({
  token: z.string().meta({ description: 'JWT access token (Authorization: Bearer ...): keep it in memory only' }),
});
const browserLogin = browserToken.extend({ user: sessionUser });

export const browserSessionRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, routerDeps) => {
  const { env } = routerDeps;
  const staff = staffAuth(routerDeps);
  const deps = staff.auth;
  const checkOrigin = sameOriginOnly(env.APP_URL);

  app.post(
    `${BROWSER_SESSION_PREFIX}/login`,
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in from the console: the refresh token is set as an httpOnly cookie',
        description: `As POST /api/auth/login, but the refresh token is a cookie (${REFRESH_COOKIE}, HttpOnly, SameSite=Strict, Path=${COOKIE_PATH}, Secure off loopback). Requires an Origin header naming this server (403 otherwise).`,
        body: loginBody,
        response: { 200: z.union([browserLogin, twoFactorChallenge]), ...problems(400, 401, 403, 429, 503) },
      },
      config: { public: true },
      preHandler: checkOrigin,
    },
    async (request, reply) => {
      const result = await login(deps, request.body, clientMeta(request));
      if ('twoFactorRequired' in result) return result;
      setRefreshCookie(request, reply, cookie, result.refreshToken, env.JWT_REFRESH_EXPIRES_IN);
      return { token: result.token, user: result.user };
    },
  );

  app.post(
    `${BROWSER_SESSION_PREFIX}/2fa/verify`,
    {
      schema: {
        tags: ['auth'],
        summary: "The console's second sign-in step: the refresh token is set as an httpOnly cookie",
        description: 'As POST /api/auth/2fa/verify, with the cookie of POST /api/auth/browser/login. Requires an Origin header naming this server (403 otherwise).',
        body: verifyBody,
        response: { 200: browserLogin.extend({ recoveryCodes: recoveryCodes.optional() }), ...problems(400, 401, 403, 429, 503) },
      },
      config: { public: true },
      preHandler: checkOrigin,
    },
    async (request, reply) => {
      const { refreshToken, ...session } = await completeStaffChallenge(staff, request.body.challenge, request.body.code, clientMeta(request));
      setRefreshCookie(request, reply, cookie, refreshToken, env.JWT_REFRESH_EXPIRES_IN);
      return session;
    },
  );

  app.post(
    `${BROWSER_SESSION_PREFIX}/refresh`,
    {
      schema: {
        tags: ['auth'],
        summary: 'A new access token from the refresh cookie (rotated)',
        description: 'The cookie is spent and replaced. No or bad cookie: 401 (and the cookie is cleared). Requires an Origin header naming this server (403 otherwise).',
        response: { 200: browserToken, ...problems(401, 403) },
        security: [{ refreshCookie: [] }],
      },
      config: { public: true },
      onRequest: checkOrigin,
    },
    async (request, reply) => {
      const { token } = await rotateRefreshCookie(request, reply, cookie, env.JWT_REFRESH_EXPIRES_IN, (presented) => refresh(deps, presented, clientMeta(request)));
      return { token };
    },
  );

  app.post(
    `${BROWSER_SESSION_PREFIX}/logout`,
    {
      schema: { tags: ['auth'], summary: 'End the console session: revokes its refresh tokens and clears the cookie', response: { 200: messageResponse, ...authProblems } },
      // No origin check: the bearer token, which no other site can hold, is the credential here.
      config: { permission: 'session:self' },
    },
    async (request, reply) => {
      await logout(deps, authOf(request), clientMeta(request));
      setRefreshCookie(request, reply, cookie, '', 0);
      return { message: 'Logged out' };
    },
  );
};
