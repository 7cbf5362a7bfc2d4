import { ApiError } from './problem';
import type { components } from './schema';

export type SessionUser = components['schemas']['SessionUser'];

/**
 * The browser session. The access token lives in this module's memory only (never in storage, so
 * a script injected later cannot read it back from disk or another tab); the refresh token is an
 * httpOnly cookie the page never sees, sent only to /api/auth/browser/* (POST …/refresh answers a
 * new access token). A reload therefore starts with one refresh call.
 */
let accessToken: string | null = null;
let currentUser: SessionUser | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let pendingResume: Promise<boolean> | undefined;

const BASE = '/api/auth/browser';

export const session = {
  token: (): string | null => accessToken,
  user: (): SessionUser | null => currentUser,
};

async function post(path: string, body?: unknown): Promise<Response> {
  return fetch(`${BASE}${path}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Seconds until the JWT expires (its `exp`), read without checking: the API checks it. */
function secondsLeft(token: string): number {
  try {
    const payload = JSON.parse(atob(token.split('.')[1]?.replace(/-/g, '+').replace(/_/g, '/') ?? '')) as { exp?: number };
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : 0;
  } catch {
    return 0;
  }
}

function adopt(token: string, user: SessionUser): void {
  accessToken = token;
  currentUser = user;
  clearTimeout(refreshTimer);
  // Refresh a little before expiry (80 % of the remaining life) so requests never carry a stale token.
  const delay = Math.max(5, secondsLeft(token) * 0.8) * 1000;
  refreshTimer = setTimeout(() => void resume(true), delay);
}

function forget(): void {
  accessToken = null;
  currentUser = null;
  clearTimeout(refreshTimer);
}

/** The password step's answer: signed in, or a second factor to present (or, when the tenant requires one, to set up). */
export type SignInStep = { signedIn: true } | { signedIn: false; challenge: string; enrolmentRequired: boolean };

async function answer<T>(response: Response): Promise<T> {
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body as T;
}

export async function signIn(email: string, password: string): Promise<SignInStep> {
  const body = await answer<{ token: string; user: SessionUser } | { twoFactorRequired: true; challenge: string; enrolmentRequired: boolean }>(await post('/login', { email, password }));
  if ('twoFactorRequired' in body) return { signedIn: false, challenge: body.challenge, enrolmentRequired: body.enrolmentRequired };
  adopt(body.token, body.user);
  return { signedIn: true };
}

/** An enrolment challenge starts the factor the tenant requires: the secret for the authenticator app. */
export async function setUpSecondFactor(challenge: string): Promise<{ secret: string; otpauthUri: string }> {
  return answer(
    await fetch('/api/auth/2fa/setup', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ challenge }) }),
  );
}

/** The second step: signs in; a factor set up just now answers its recovery codes (shown once). */
export async function answerChallenge(challenge: string, code: string): Promise<{ recoveryCodes?: string[] }> {
  const body = await answer<{ token: string; user: SessionUser; recoveryCodes?: string[] }>(await post('/2fa/verify', { challenge, code }));
  adopt(body.token, body.user);
  return body.recoveryCodes ? { recoveryCodes: body.recoveryCodes } : {};
}

/** A session from the refresh cookie (on load, and before the access token expires). */
export function resume(force = false): Promise<boolean> {
  if (accessToken && !force) return Promise.resolve(true);
  pendingResume ??= (async () => {
    try {
      const response = await post('/refresh');
      if (!response.ok) {
        forget();
        return false;
      }
      const { token } = (await response.json()) as { token: string };
      const me = await fetch('/api/auth/me', { headers: { authorization: `Bearer ${token}` } });
      if (!me.ok) {
        forget();
        return false;
      }
      adopt(token, ((await me.json()) as { user: SessionUser }).user);
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

export async function signOut(): Promise<void> {
  try {
    await post('/logout');
  } finally {
    forget();
  }
}
