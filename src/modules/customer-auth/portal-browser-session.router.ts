import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authProblems, messageResponse, problems } from '../../shared/http/schemas.js';
import { twoFactorChallenge } from '../auth/auth.types.js';
import { clientMeta } from '../auth/authenticate.js';
import { rotateRefreshCookie, sameOriginOnly, setRefreshCookie, type RefreshCookie } from '../auth/browser-cookie.js';
import type { RouterDeps } from '../router-deps.js';
import { completeCustomerChallenge } from '../two-factor/portal-two-factor.router.js';
import { recoveryCodes, verifyBody } from '../two-factor/two-factor.types.js';
import type { TwoFactorDeps } from '../two-factor/two-factor.service.js';
import { customerOf } from './customer-authenticate.js';
import { customerLogin, customerLogout, customerRefresh, signInWithLink, type CustomerAuthDeps, type CustomerLoginOutcome } from './customer-auth.service.js';
import { customerLoginBody, customerSessionLogin, signInLinkBody } from './customer-auth.types.js';

/**
 * Browser sessions of the client portal: the sign-ins and rotating refresh tokens of
 * /api/portal/auth, but the refresh token never reaches JavaScript (browser-cookie.ts: httpOnly,
 * SameSite=Strict, scoped to this prefix, and an Origin check). The cookie has its own name, so a
 * staff console session in the same browser (mpanel_refresh, /api/auth/browser) never collides.
 * A reload, a new tab or the return from a payment page resumes with one refresh call.
 */
export const PORTAL_BROWSER_PREFIX = '/auth/browser';
export const PORTAL_REFRESH_COOKIE = 'mpanel_portal_refresh';
const COOKIE_PATH = `/api/portal${PORTAL_BROWSER_PREFIX}`;
const cookie: RefreshCookie = { name: PORTAL_REFRESH_COOKIE, path: COOKIE_PATH };

const browserToken = z.object({
  token: z.string().meta({ description: 'JWT customer access token (Authorization: Bearer ...): keep it in memory only' }),
});
const browserSession = browserToken.extend({ login: customerSessionLogin });
const browserSignIn = z.union([browserSession, twoFactorChallenge]);
const COOKIE_NOTE = `the refresh token is a cookie (${PORTAL_REFRESH_COOKIE}, HttpOnly, SameSite=Strict, Path=${COOKIE_PATH}, Secure off loopback), the body carries only the access token and the login. Requires an Origin header naming this server (403 otherwise).`;

export const portalBrowserSessionRouter: FastifyPluginAsyncZod<RouterDeps & { authDeps: CustomerAuthDeps; twoFactor: TwoFactorDeps }> = async (app, { env, db, authDeps, twoFactor }) => {
  const tags = ['portal auth'];
  const checkOrigin = sameOriginOnly(env.APP_URL);

  /** A password or link sign-in: the refresh token goes into the cookie; a challenge passes through (no cookie until the second step). */
  const answer = (request: FastifyRequest, reply: FastifyReply, outcome: CustomerLoginOutcome) => {
    if ('twoFactorRequired' in outcome) return outcome;
    setRefreshCookie(request, reply, cookie, outcome.refreshToken, env.JWT_REFRESH_EXPIRES_IN);
    return { token: outcome.token, login: outcome.login };
  };

  app.post(
    `${PORTAL_BROWSER_PREFIX}/login`,
    {
      schema: {
        tags,
        summary: 'Customer login from the portal: the refresh token is set as an httpOnly cookie',
        description: `As POST /api/portal/auth/login (same throttle, audit and second-factor challenge), but ${COOKIE_NOTE}`,
        body: customerLoginBody,
        response: { 200: browserSignIn, ...problems(400, 401, 403, 404, 429, 503) },
      },
      config: { public: true },
      preHandler: checkOrigin,
    },
    async (request, reply) => answer(request, reply, await customerLogin(authDeps, request.body, clientMeta(request))),
  );

  app.post(
    `${PORTAL_BROWSER_PREFIX}/sign-in-link/confirm`,
    {
      schema: {
        tags,
        summary: 'Sign in from the portal with a sign-in link: the refresh token is set as an httpOnly cookie',
        description: `As POST /api/portal/auth/sign-in-link/confirm (a second factor is still asked for), but ${COOKIE_NOTE}`,
        body: signInLinkBody,
        response: { 200: browserSignIn, ...problems(400, 401, 403) },
      },
      config: { public: true },
      preHandler: checkOrigin,
    },
    async (request, reply) => answer(request, reply, await signInWithLink(authDeps, request.body.token, clientMeta(request))),
  );

  app.post(
    `${PORTAL_BROWSER_PREFIX}/2fa/verify`,
    {
      schema: {
        tags,
        summary: "The portal's second sign-in step: the refresh token is set as an httpOnly cookie",
        description: `As POST /api/portal/auth/2fa/verify (an enrolment challenge from POST /api/portal/auth/2fa/setup included), but ${COOKIE_NOTE}`,
        body: verifyBody,
        response: { 200: browserSession.extend({ recoveryCodes: recoveryCodes.optional() }), ...problems(400, 401, 403, 429, 503) },
      },
      config: { public: true },
      preHandler: checkOrigin,
    },
    async (request, reply) => {
      const { refreshToken, ...session } = await completeCustomerChallenge({ authDeps, twoFactor }, request.body.challenge, request.body.code, clientMeta(request));
      setRefreshCookie(request, reply, cookie, refreshToken, env.JWT_REFRESH_EXPIRES_IN);
      return session;
    },
  );

  app.post(
    `${PORTAL_BROWSER_PREFIX}/refresh`,
    {
      schema: {
        tags,
        summary: 'A new customer access token (and the login) from the refresh cookie (rotated)',
        description: 'The cookie is spent and replaced; a spent cookie presented again revokes its whole session. No or bad cookie: 401 (and the cookie is cleared). Requires an Origin header naming this server (403 otherwise).',
        response: { 200: browserSession, ...problems(401, 403) },
        security: [{ portalRefreshCookie: [] }],
      },
      config: { public: true },
      onRequest: checkOrigin,
    },
    async (request, reply) => {
      const { token, login } = await rotateRefreshCookie(request, reply, cookie, env.JWT_REFRESH_EXPIRES_IN, (presented) => customerRefresh(authDeps, presented, clientMeta(request)));
      return { token, login };
    },
  );

  app.post(
    `${PORTAL_BROWSER_PREFIX}/logout`,
    {
      schema: { tags, summary: 'End the portal session: revokes its refresh tokens and clears the cookie', response: { 200: messageResponse, ...authProblems } },
      // No origin check: the bearer token, which no other site can hold, is the credential here.
      config: { portal: 'portal:self' },
    },
    async (request, reply) => {
      await customerLogout(db, customerOf(request), clientMeta(request));
      setRefreshCookie(request, reply, cookie, '', 0);
      return { message: 'Logged out' };
    },
  );
};
