import createClient from 'openapi-fetch';
import type { components, paths } from '../api/schema';
import { portalMust as must } from './client';

export type CustomerLogin = components['schemas']['CustomerLogin'];

/**
 * The customer's portal session, in the cookie mode of /api/portal/auth/browser: the access token
 * lives in this module's memory only (never in localStorage, sessionStorage or a readable cookie,
 * where a later injected script or another tab could read it); the refresh token is an httpOnly
 * cookie (mpanel_portal_refresh, its own name, so a staff console session in the same browser never
 * collides) that the page never sees and the browser sends only to /api/portal/auth/browser/*.
 * A reload, a new tab or the return from the payment page therefore starts with one refresh call
 * (resume), as the staff console does (api/session.ts). The cookie is single use and rotated by
 * POST …/refresh a little before the access token expires; one refresh at a time (a spent cookie
 * presented twice ends the whole session).
 */
let accessToken: string | null = null;
let currentLogin: CustomerLogin | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let pendingResume: Promise<boolean> | undefined;

export const portalSession = {
  token: (): string | null => accessToken,
  login: (): CustomerLogin | null => currentLogin,
};

/** The typed portal client: every /api/portal path checked against the OpenAPI document, with the customer's token. */
export const portalApi = createClient<paths>({ baseUrl: '' });
const expiredListeners = new Set<() => void>();
/** Called when the API no longer takes the session (ended elsewhere, password changed): the shell goes to sign-in. */
export function onSessionEnded(listener: () => void): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

portalApi.use({
  onRequest({ request }) {
    if (accessToken && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${accessToken}`);
    return request;
  },
  onResponse({ request, response }) {
    // A 401 outside the sign-in routes: this session is over (revoked, or its login removed).
    if (response.status === 401 && accessToken && !new URL(request.url).pathname.startsWith('/api/portal/auth/')) {
      forget();
      for (const listener of expiredListeners) listener();
    }
    return response;
  },
});

/** Seconds until the JWT expires (its `exp`), read without checking: the API checks it. */
function secondsLeft(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]?.replace(/-/g, '+').replace(/_/g, '/') ?? '')) as { exp?: number };
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : 0;
  } catch {
    return 0;
  }
}

function adopt(session: { token: string; login: CustomerLogin }): void {
  accessToken = session.token;
  currentLogin = session.login;
  clearTimeout(refreshTimer);
  // Refresh at 80 % of the access token's remaining life, so requests never carry a stale one.
  refreshTimer = setTimeout(() => void resume(true), Math.max(5, secondsLeft(session.token) * 0.8) * 1000);
}

export function forget(): void {
  accessToken = null;
  currentLogin = null;
  clearTimeout(refreshTimer);
}

/** The password (or sign-in link) step's answer: signed in, or a second factor to present or set up. */
export type PortalSignInStep = { signedIn: true } | { signedIn: false; challenge: string; enrolmentRequired: boolean };

type SignInAnswer = { token: string; login: CustomerLogin } | { twoFactorRequired: true; challenge: string; enrolmentRequired: boolean };

function stepOf(body: SignInAnswer): PortalSignInStep {
  if ('twoFactorRequired' in body) return { signedIn: false, challenge: body.challenge, enrolmentRequired: body.enrolmentRequired };
  adopt(body);
  return { signedIn: true };
}

export async function portalSignIn(tenant: string, email: string, password: string): Promise<PortalSignInStep> {
  return stepOf(await must(portalApi.POST('/api/portal/auth/browser/login', { body: { tenant, email, password } })));
}

export async function portalSignInWithLink(token: string): Promise<PortalSignInStep> {
  return stepOf(await must(portalApi.POST('/api/portal/auth/browser/sign-in-link/confirm', { body: { token } })));
}

/** An enrolment challenge (the tenant requires a factor): the secret for the authenticator app. */
export function portalSetUpSecondFactor(challenge: string): Promise<{ secret: string; otpauthUri: string }> {
  return must(portalApi.POST('/api/portal/auth/2fa/setup', { body: { challenge } }));
}

/** The second step: signs in; a factor set up just now answers its recovery codes (shown once). */
export async function portalAnswerChallenge(challenge: string, code: string): Promise<{ recoveryCodes?: string[] }> {
  const body = await must(portalApi.POST('/api/portal/auth/browser/2fa/verify', { body: { challenge, code } }));
  adopt(body);
  return body.recoveryCodes ? { recoveryCodes: body.recoveryCodes } : {};
}

/**
 * A session from the refresh cookie: on page load (a reload, a new tab, back from the payment
 * page), and with force before the access token expires. False (and signed out) when there is none.
 */
export function resume(force = false): Promise<boolean> {
  if (accessToken && !force) return Promise.resolve(true);
  pendingResume ??= (async () => {
    try {
      const { data, response } = await portalApi.POST('/api/portal/auth/browser/refresh');
      if (!response.ok || !data) {
        forget();
        return false;
      }
      adopt(data);
      return true;
    } catch {
      forget();
      return false;
    } finally {
      pendingResume = undefined;
    }
  })();
  return pendingResume;
}

export async function portalSignOut(): Promise<void> {
  try {
    if (accessToken) await portalApi.POST('/api/portal/auth/browser/logout');
  } finally {
    forget();
  }
}
