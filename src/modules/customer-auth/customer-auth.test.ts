import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { customerLinkTokens, customers } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { CapturingMailer, containerWithMailer } from '../../../test/helpers/portal.js';

const mailer = new CapturingMailer();
const t = await createTestApp({ container: containerWithMailer(mailer) });
afterAll(() => t.close());
const db = t.container.database.db;

const tenant = await buildTenant(db);
const { user: admin } = await buildUser(db, tenant, { role: 'ADMIN' });
const { price } = await buildOffer(db, tenant);
const PASSWORD = 'a new portal password';

async function placeOrder(email: string) {
  const body = JSON.stringify(orderPayload(tenant, price, { customer: { email, name: 'Ada Customer' } }));
  const res = await t.app.inject({ method: 'POST', url: '/api/orders', headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, body), payload: body });
  expect(res.statusCode, res.body).toBe(201);
}

const post = (url: string, payload: unknown, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url, payload: payload as object, headers });
const login = (email: string, password = PASSWORD) => post('/api/portal/auth/login', { tenant: tenant.slug, email, password });

describe('invitation → password → login → sessions', () => {
  const email = `owner-${Date.now()}@example.test`;

  it('the first accepted order invites the owner; a second order does not; only the hash is stored', async () => {
    await placeOrder(email);
    expect(mailer.sent.filter((m) => m.email === email && m.kind === 'INVITATION')).toHaveLength(1);
    const token = mailer.tokenFor(email, 'INVITATION');
    const mail = mailer.sent.find((m) => m.email === email);
    expect(mail?.url.startsWith(`${t.env.PORTAL_URL}/accept-invitation?token=`)).toBe(true);
    expect(mail!.expiresAt.getTime() - Date.now()).toBeGreaterThan(71 * 3600_000);
    const rows = await withTenant(db, tenant.id, (tx) => tx.select().from(customerLinkTokens));
    expect(rows.map((r) => r.tokenHash)).toContain(createHash('sha256').update(token).digest('hex'));
    expect(JSON.stringify(rows)).not.toContain(token);

    await placeOrder(email);
    expect(mailer.sent.filter((m) => m.email === email && m.kind === 'INVITATION')).toHaveLength(1);
  });

  it('staff resend: a new link, the old one dead, nothing secret in the answer', async () => {
    const old = mailer.tokenFor(email, 'INVITATION');
    const [customer] = await withTenant(db, tenant.id, (tx) => tx.select().from(customers).where(eq(customers.email, email)));
    const res = await post(`/api/customers/${customer!.id}/invitation`, undefined, await authHeader(t.env, admin));
    expect(res.statusCode, res.body).toBe(202);
    const fresh = mailer.tokenFor(email, 'INVITATION');
    expect(fresh).not.toBe(old);
    expect(res.body).not.toContain(fresh);
    expect(res.json()).toMatchObject({ email });
    expect((await post('/api/portal/auth/accept-invitation', { token: old, password: PASSWORD })).statusCode).toBe(401);
  });

  it('accepting sets the password once; the link cannot be used twice; login works', async () => {
    const token = mailer.tokenFor(email, 'INVITATION');
    expect((await login(email)).statusCode).toBe(401);
    const accepted = await post('/api/portal/auth/accept-invitation', { token, password: PASSWORD });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect((await post('/api/portal/auth/accept-invitation', { token, password: 'another password 123' })).statusCode).toBe(401);
    const res = await login(email);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ login: { email, role: 'OWNER' } });
    const [customer] = await withTenant(db, tenant.id, (tx) => tx.select().from(customers).where(eq(customers.email, email)));
    expect((await post(`/api/customers/${customer!.id}/invitation`, undefined, await authHeader(t.env, admin))).statusCode).toBe(409);
  });

  it('refresh rotates; a spent token presented again ends the session; logout ends it too', async () => {
    const first = (await login(email)).json<{ token: string; refreshToken: string }>();
    const rotated = await post('/api/portal/auth/refresh', { refreshToken: first.refreshToken });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const next = rotated.json<{ token: string; refreshToken: string }>();
    expect((await post('/api/portal/auth/refresh', { refreshToken: first.refreshToken })).statusCode).toBe(401);
    // The family is revoked: the rotated token and the access token of that session stop working.
    expect((await post('/api/portal/auth/refresh', { refreshToken: next.refreshToken })).statusCode).toBe(401);
    expect((await post('/api/portal/auth/logout', undefined, { authorization: `Bearer ${next.token}` })).statusCode).toBe(401);

    const other = (await login(email)).json<{ token: string; refreshToken: string }>();
    expect((await post('/api/portal/auth/logout', undefined, { authorization: `Bearer ${other.token}` })).statusCode).toBe(200);
    expect((await post('/api/portal/auth/refresh', { refreshToken: other.refreshToken })).statusCode).toBe(401);
  });

  it('token audiences: a customer token is 401 on staff routes, a staff token 401 on portal routes', async () => {
    const session = (await login(email)).json<{ token: string }>();
    const staff = await t.app.inject({ method: 'GET', url: '/api/customers', headers: { authorization: `Bearer ${session.token}` } });
    expect(staff.statusCode).toBe(401);
    const portal = await post('/api/portal/auth/logout', undefined, await authHeader(t.env, admin));
    expect(portal.statusCode).toBe(401);
  });

  it('password reset: same answer for an unknown email, link works once, old password and sessions end', async () => {
    const before = mailer.sent.length;
    const unknown = await post('/api/portal/auth/password-reset', { tenant: tenant.slug, email: 'nobody@example.test' });
    expect(unknown.statusCode).toBe(202);
    expect(mailer.sent.length).toBe(before);
    const session = (await login(email)).json<{ refreshToken: string }>();
    const known = await post('/api/portal/auth/password-reset', { tenant: tenant.slug, email });
    expect(known.statusCode).toBe(202);
    expect(known.body).toBe(unknown.body);
    const token = mailer.tokenFor(email, 'PASSWORD_RESET');
    const newPassword = 'reset portal password';
    expect((await post('/api/portal/auth/password-reset/confirm', { token, password: newPassword })).statusCode).toBe(200);
    expect((await post('/api/portal/auth/password-reset/confirm', { token, password: 'yet another one 1' })).statusCode).toBe(401);
    expect((await login(email)).statusCode).toBe(401);
    expect((await login(email, newPassword)).statusCode).toBe(200);
    expect((await post('/api/portal/auth/refresh', { refreshToken: session.refreshToken })).statusCode).toBe(401);
    // Back to the shared password for the next tests.
    await post('/api/portal/auth/password-reset', { tenant: tenant.slug, email });
    await post('/api/portal/auth/password-reset/confirm', { token: mailer.tokenFor(email, 'PASSWORD_RESET'), password: PASSWORD });
  });

  it('sign-in link: 15 minutes, single use', async () => {
    expect((await post('/api/portal/auth/sign-in-link', { tenant: tenant.slug, email })).statusCode).toBe(202);
    const mail = mailer.sent.filter((m) => m.kind === 'SIGN_IN').at(-1);
    expect(mail!.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    const token = mailer.tokenFor(email, 'SIGN_IN');
    const res = await post('/api/portal/auth/sign-in-link/confirm', { token });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toHaveProperty('refreshToken');
    expect((await post('/api/portal/auth/sign-in-link/confirm', { token })).statusCode).toBe(401);
  });

  it('failed logins are throttled per account (429 after the limit)', async () => {
    // A successful login clears the account's counter (link requests count against it too).
    expect((await login(email)).statusCode).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < t.env.LOGIN_MAX_FAILURES_PER_ACCOUNT + 1; i++) statuses.push((await login(email, 'wrong password!!')).statusCode);
    expect(statuses.slice(0, -1).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    expect((await login(email)).statusCode).toBe(429);
  });
});
