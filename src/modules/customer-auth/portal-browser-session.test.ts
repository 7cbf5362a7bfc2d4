import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLogs, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildOrder, buildTenant, buildUser, DEFAULT_PASSWORD } from '../../../test/factories.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { buildCustomerLogin, CapturingMailer, containerWithMailer } from '../../../test/helpers/portal.js';
import { readCookie } from '../auth/browser-cookie.js';
import { REFRESH_COOKIE } from '../auth/browser-session.router.js';
import { base32Decode, stepAt, totpCode } from '../two-factor/totp.js';
import { PORTAL_REFRESH_COOKIE } from './portal-browser-session.router.js';

const mailer = new CapturingMailer();
const t = await createTestApp({ container: containerWithMailer(mailer) });
afterAll(() => t.close());
const db = t.container.database.db;

const LOOPBACK = { host: '127.0.0.1:2271', origin: 'http://127.0.0.1:2271' };
const BASE = '/api/portal/auth/browser';

const post = (url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

const cookieOf = (setCookie: string | string[] | undefined, name = PORTAL_REFRESH_COOKIE): string => {
  const header = Array.isArray(setCookie) ? setCookie.join(';') : (setCookie ?? '');
  return readCookie(header, name) ?? '';
};

async function customerLogin(tenant?: Tenant) {
  const owner = tenant ?? (await buildTenant(db));
  const { customer } = await buildOrder(db, owner);
  const login = await buildCustomerLogin(db, owner, customer);
  return { tenant: owner, login, body: { tenant: owner.slug, email: login.email, password: DEFAULT_PASSWORD } };
}

async function signedIn(headers: Record<string, string> = LOOPBACK) {
  const account = await customerLogin();
  const res = await post(`${BASE}/login`, headers, account.body);
  return { ...account, res };
}

const auditActions = async (tenantId: string, loginId: string) =>
  (await withTenant(db, tenantId, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs).where(and(eq(auditLogs.tenantId, tenantId), eq(auditLogs.targetId, loginId))))).map((row) => row.action);

describe('portal browser sessions (/api/portal/auth/browser)', () => {
  it('login answers the access token and login; the refresh token only as an httpOnly, SameSite=Strict cookie of its own name on the portal refresh path', async () => {
    const { res, login, tenant } = await signedIn();
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['login', 'token']);
    expect(body.login).toMatchObject({ id: login.id, customerId: login.customerId, email: login.email });
    expect(res.body).not.toContain(cookieOf(res.headers['set-cookie']));
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(new RegExp(`^${PORTAL_REFRESH_COOKIE}=[^;]{20,}; Path=/api/portal/auth/browser; Max-Age=${t.env.JWT_REFRESH_EXPIRES_IN}; HttpOnly; SameSite=Strict$`));
    expect(setCookie).not.toContain('Secure'); // loopback: a plain-HTTP page must keep it
    const profile = await t.app.inject({ method: 'GET', url: '/api/portal/profile', headers: { authorization: `Bearer ${body.token}` } });
    expect(profile.statusCode, profile.body).toBe(200);
    // The same audit trail as the JSON login (same service call).
    expect(await auditActions(tenant.id, login.id)).toContain('customer_auth.login');
  });

  it('off loopback the cookie is Secure', async () => {
    const { res } = await signedIn({ host: 'portal.example.test', origin: 'http://portal.example.test' });
    expect(res.statusCode, res.body).toBe(200);
    expect(String(res.headers['set-cookie'])).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
  });

  it('refresh rotates the cookie and answers a working access token with the login; the spent cookie is refused and cleared', async () => {
    const { res, login } = await signedIn();
    const first = cookieOf(res.headers['set-cookie']);
    const refreshed = await post(`${BASE}/refresh`, { ...LOOPBACK, cookie: `other=1; ${PORTAL_REFRESH_COOKIE}=${first}` });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(Object.keys(refreshed.json()).sort()).toEqual(['login', 'token']);
    expect(refreshed.json().login.id).toBe(login.id);
    const second = cookieOf(refreshed.headers['set-cookie']);
    expect(second.length).toBeGreaterThanOrEqual(20);
    expect(second).not.toBe(first);
    const profile = await t.app.inject({ method: 'GET', url: '/api/portal/profile', headers: { authorization: `Bearer ${refreshed.json().token}` } });
    expect(profile.statusCode).toBe(200);

    const replay = await post(`${BASE}/refresh`, { ...LOOPBACK, cookie: `${PORTAL_REFRESH_COOKIE}=${first}` });
    expect(replay.statusCode).toBe(401);
    expect(String(replay.headers['set-cookie'])).toMatch(new RegExp(`^${PORTAL_REFRESH_COOKIE}=; Path=/api/portal/auth/browser; Max-Age=0`));
    // Reuse revoked the whole session: the rotated cookie is dead too.
    expect((await post(`${BASE}/refresh`, { ...LOOPBACK, cookie: `${PORTAL_REFRESH_COOKIE}=${second}` })).statusCode).toBe(401);
  });

  it('refuses a cross-origin or origin-less refresh and login (403, nothing issued), and a refresh without the cookie (401)', async () => {
    const { res, body } = await signedIn();
    const cookie = `${PORTAL_REFRESH_COOKIE}=${cookieOf(res.headers['set-cookie'])}`;
    for (const origin of ['http://evil.example', undefined]) {
      const headers = { host: LOOPBACK.host, ...(origin ? { origin } : {}) };
      const refused = await post(`${BASE}/refresh`, { ...headers, cookie });
      expect(refused.statusCode).toBe(403);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      expect(refused.headers['set-cookie']).toBeUndefined();
      const login = await post(`${BASE}/login`, headers, body);
      expect(login.statusCode).toBe(403);
      expect(login.headers['set-cookie']).toBeUndefined();
      expect(login.body).not.toContain('token');
    }
    // The refused refresh did not spend the cookie.
    expect((await post(`${BASE}/refresh`, { ...LOOPBACK, cookie })).statusCode).toBe(200);
    expect((await post(`${BASE}/refresh`, LOOPBACK)).statusCode).toBe(401);
  });

  it('a bad body is a 400 with the field before the origin is looked at; bad credentials are the JSON login 401', async () => {
    const bad = await post(`${BASE}/login`, { host: LOOPBACK.host }, { tenant: 'x', email: 'not-an-email', password: 'p' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toContain('email');
    const { body } = await customerLogin();
    const wrong = await post(`${BASE}/login`, LOOPBACK, { ...body, password: 'not the password' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
  });

  it('logout revokes the session and clears the cookie', async () => {
    const { res } = await signedIn();
    const cookie = `${PORTAL_REFRESH_COOKIE}=${cookieOf(res.headers['set-cookie'])}`;
    const auth = { authorization: `Bearer ${res.json().token}` };
    const out = await post(`${BASE}/logout`, { ...LOOPBACK, ...auth });
    expect(out.statusCode, out.body).toBe(200);
    expect(String(out.headers['set-cookie'])).toMatch(new RegExp(`^${PORTAL_REFRESH_COOKIE}=; Path=/api/portal/auth/browser; Max-Age=0`));
    expect((await post(`${BASE}/refresh`, { ...LOOPBACK, cookie })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/portal/profile', headers: auth })).statusCode).toBe(401);
  });

  it('staff and customer cookies never stand in for each other', async () => {
    const { res: portal } = await signedIn();
    const portalToken = cookieOf(portal.headers['set-cookie']);
    const tenant = await buildTenant(db);
    const { user, password } = await buildUser(db, tenant, { role: 'SUPPORT' });
    const staff = await post('/api/auth/browser/login', LOOPBACK, { email: user.email, password });
    expect(staff.statusCode, staff.body).toBe(200);
    const staffToken = cookieOf(staff.headers['set-cookie'], REFRESH_COOKIE);
    expect(staffToken.length).toBeGreaterThanOrEqual(20);
    // Own names, and paths that do not contain each other: the browser sends neither to the other's routes.
    expect(PORTAL_REFRESH_COOKIE).not.toBe(REFRESH_COOKIE);
    expect(String(staff.headers['set-cookie'])).toContain('; Path=/api/auth/browser;');

    // Each cookie under the other's name, and both in one browser: each route reads only its own.
    expect((await post(`${BASE}/refresh`, { ...LOOPBACK, cookie: `${PORTAL_REFRESH_COOKIE}=${staffToken}` })).statusCode).toBe(401);
    expect((await post('/api/auth/browser/refresh', { ...LOOPBACK, cookie: `${REFRESH_COOKIE}=${portalToken}` })).statusCode).toBe(401);
    expect((await post(`${BASE}/refresh`, { ...LOOPBACK, cookie: `${REFRESH_COOKIE}=${staffToken}` })).statusCode).toBe(401);
    expect((await post('/api/auth/browser/refresh', { ...LOOPBACK, cookie: `${PORTAL_REFRESH_COOKIE}=${portalToken}` })).statusCode).toBe(401);
  });

  it('a tenant that requires a second factor: login answers the enrolment challenge without a cookie; the cookie comes with the second step', async () => {
    const strict = await buildTenant(db, { twoFactorCustomers: true });
    const { body } = await customerLogin(strict);
    const first = await post(`${BASE}/login`, LOOPBACK, body);
    expect(first.statusCode, first.body).toBe(200);
    const challenge = first.json<{ twoFactorRequired: boolean; enrolmentRequired: boolean; challenge: string }>();
    expect(challenge).toMatchObject({ twoFactorRequired: true, enrolmentRequired: true });
    expect(first.headers['set-cookie']).toBeUndefined();
    expect(first.body).not.toContain('token"');

    const setup = await post('/api/portal/auth/2fa/setup', {}, { challenge: challenge.challenge });
    expect(setup.statusCode, setup.body).toBe(200);
    const code = totpCode(base32Decode(setup.json<{ secret: string }>().secret), stepAt(Date.now()));
    // The second step checks the origin too.
    expect((await post(`${BASE}/2fa/verify`, { host: LOOPBACK.host, origin: 'http://evil.example' }, { challenge: challenge.challenge, code })).statusCode).toBe(403);
    const verified = await post(`${BASE}/2fa/verify`, LOOPBACK, { challenge: challenge.challenge, code });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(Object.keys(verified.json()).sort()).toEqual(['login', 'recoveryCodes', 'token']);
    const cookie = cookieOf(verified.headers['set-cookie']);
    expect(String(verified.headers['set-cookie'])).toMatch(new RegExp(`^${PORTAL_REFRESH_COOKIE}=[^;]{20,}; Path=/api/portal/auth/browser; Max-Age=\\d+; HttpOnly; SameSite=Strict$`));
    expect((await post(`${BASE}/refresh`, { ...LOOPBACK, cookie: `${PORTAL_REFRESH_COOKIE}=${cookie}` })).statusCode).toBe(200);
  });

  it('a sign-in link signs in with the cookie too', async () => {
    const { body } = await customerLogin();
    expect((await post('/api/portal/auth/sign-in-link', {}, { tenant: body.tenant, email: body.email })).statusCode).toBe(202);
    const res = await post(`${BASE}/sign-in-link/confirm`, LOOPBACK, { token: mailer.tokenFor(body.email, 'SIGN_IN') });
    expect(res.statusCode, res.body).toBe(200);
    expect(Object.keys(res.json()).sort()).toEqual(['login', 'token']);
    expect(cookieOf(res.headers['set-cookie']).length).toBeGreaterThanOrEqual(20);
  });
});
