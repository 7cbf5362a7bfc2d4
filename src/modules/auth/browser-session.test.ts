import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { readCookie } from './browser-cookie.js';
import { REFRESH_COOKIE } from './browser-session.router.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const LOOPBACK = { host: '127.0.0.1:2271', origin: 'http://127.0.0.1:2271' };

async function signedIn(headers: Record<string, string> = LOOPBACK) {
  const tenant = await buildTenant(t.container.database.db);
  const { user, password } = await buildUser(t.container.database.db, tenant, { role: 'SUPPORT' });
  const res = await t.app.inject({ method: 'POST', url: '/api/auth/browser/login', headers, payload: { email: user.email, password } });
  return { res, user, password };
}

const cookieOf = (setCookie: string | string[] | undefined): string => {
  const header = Array.isArray(setCookie) ? setCookie.join(';') : (setCookie ?? '');
  return readCookie(header, REFRESH_COOKIE) ?? '';
};

describe('browser sessions (/api/auth/browser)', () => {
  it('login answers the access token and user; the refresh token only as an httpOnly, SameSite=Strict cookie on the refresh path', async () => {
    const { res, user } = await signedIn();
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['token', 'user']);
    expect(body.user.id).toBe(user.id);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(new RegExp(`^${REFRESH_COOKIE}=[^;]{20,}; Path=/api/auth/browser; Max-Age=\\d+; HttpOnly; SameSite=Strict$`));
    expect(setCookie).not.toContain('Secure'); // loopback: a plain-HTTP page must keep it
  });

  it('off loopback the cookie is Secure', async () => {
    const { res } = await signedIn({ host: 'panel.example.test', origin: 'http://panel.example.test' });
    expect(res.statusCode, res.body).toBe(200);
    expect(String(res.headers['set-cookie'])).toMatch(/; Secure$/);
  });

  it('refresh rotates the cookie and answers a working access token; the spent cookie is refused', async () => {
    const { res } = await signedIn();
    const first = cookieOf(res.headers['set-cookie']);
    const refreshed = await t.app.inject({ method: 'POST', url: '/api/auth/browser/refresh', headers: { ...LOOPBACK, cookie: `other=1; ${REFRESH_COOKIE}=${first}` } });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const second = cookieOf(refreshed.headers['set-cookie']);
    expect(second).not.toBe(first);
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${refreshed.json().token}` } });
    expect(me.statusCode).toBe(200);

    const replay = await t.app.inject({ method: 'POST', url: '/api/auth/browser/refresh', headers: { ...LOOPBACK, cookie: `${REFRESH_COOKIE}=${first}` } });
    expect(replay.statusCode).toBe(401);
    expect(String(replay.headers['set-cookie'])).toContain('Max-Age=0');
  });

  it('refuses a cross-origin or origin-less refresh and login (403), and a refresh without the cookie (401)', async () => {
    const { res, user, password } = await signedIn();
    const cookie = `${REFRESH_COOKIE}=${cookieOf(res.headers['set-cookie'])}`;
    for (const origin of ['http://evil.example', undefined]) {
      const headers = { host: LOOPBACK.host, cookie, ...(origin ? { origin } : {}) };
      const refused = await t.app.inject({ method: 'POST', url: '/api/auth/browser/refresh', headers });
      expect(refused.statusCode).toBe(403);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      const login = await t.app.inject({ method: 'POST', url: '/api/auth/browser/login', headers: { host: LOOPBACK.host, ...(origin ? { origin } : {}) }, payload: { email: user.email, password } });
      expect(login.statusCode).toBe(403);
    }
    const noCookie = await t.app.inject({ method: 'POST', url: '/api/auth/browser/refresh', headers: LOOPBACK });
    expect(noCookie.statusCode).toBe(401);
  });

  it('logout revokes the session and clears the cookie', async () => {
    const { res } = await signedIn();
    const cookie = `${REFRESH_COOKIE}=${cookieOf(res.headers['set-cookie'])}`;
    const out = await t.app.inject({ method: 'POST', url: '/api/auth/browser/logout', headers: { ...LOOPBACK, authorization: `Bearer ${res.json().token}` } });
    expect(out.statusCode, out.body).toBe(200);
    expect(String(out.headers['set-cookie'])).toMatch(new RegExp(`^${REFRESH_COOKIE}=; Path=/api/auth/browser; Max-Age=0`));
    const after = await t.app.inject({ method: 'POST', url: '/api/auth/browser/refresh', headers: { ...LOOPBACK, cookie } });
    expect(after.statusCode).toBe(401);
  });
});
