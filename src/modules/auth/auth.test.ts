import { createHmac } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, refreshTokens, users } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { eventually } from '../../../test/helpers/orders.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_FAILURES_PER_IP: '6', LOGIN_FAILURE_WINDOW: '60' } });
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;
let ipCounter = 0;
/** Each test logs in from its own client IP, so the per-IP limit of one test does not leak into another. */
const freshIp = () => `127.0.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;

async function post(url: string, payload: unknown, ip = '127.0.0.1', headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...headers }, remoteAddress: ip });
}

async function auditActions(tenantId: string): Promise<string[]> {
  const rows = await withTenant(db(), tenantId, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs).orderBy(auditLogs.seq));
  return rows.map((row) => row.action);
}

describe('POST /api/auth/login', () => {
  it('returns an access token, a refresh token and the user; records last_login_at and the login', async () => {
    const tenant = await buildTenant(db());
    const { user, password } = await buildUser(db(), tenant, { role: 'SUPPORT', email: 'Mixed.Case@Example.test' });
    const res = await post('/api/auth/login', { email: 'mixed.case@example.test', password }, freshIp());
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toEqual({ id: user.id, email: user.email, name: user.name, role: 'SUPPORT', tenantId: tenant.id });
    expect(body.token.split('.')).toHaveLength(3);
    expect(body.refreshToken.length).toBeGreaterThanOrEqual(43); // 256 bits, base64url

    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(users).where(eq(users.id, user.id)));
    expect(row?.lastLoginAt).toBeInstanceOf(Date);
    expect(await auditActions(tenant.id)).toContain('auth.login');

    // The refresh token is stored only as a hash.
    const tokens = await withTenant(db(), tenant.id, (tx) => tx.select().from(refreshTokens).where(eq(refreshTokens.userId, user.id)));
    expect(tokens).toHaveLength(1);
    expect(tokens[0]?.tokenHash).not.toContain(body.refreshToken);
    expect(tokens[0]?.tokenHash).toMatch(/^[0-9a-f]{64}$/);

    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${body.token}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ user: body.user });
  });

  it('answers the same 401 for an unknown email and a wrong password', async () => {
    const tenant = await buildTenant(db());
    const { user } = await buildUser(db(), tenant);
    const ip = freshIp();
    const unknown = await post('/api/auth/login', { email: 'nobody@example.test', password: 'whatever-password' }, ip);
    const wrong = await post('/api/auth/login', { email: user.email, password: 'not-the-password' }, ip);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.json().detail).toBe(wrong.json().detail);
    expect(unknown.headers['content-type']).toContain('application/problem+json');
    expect(unknown.body.replace(/"instance":"[^"]*",?|"requestId":"[^"]*",?/g, '')).toBe(wrong.body.replace(/"instance":"[^"]*",?|"requestId":"[^"]*",?/g, ''));
    // Recorded off the response path (so a known account answers no slower), but recorded.
    await eventually(async () => (await auditActions(tenant.id)).includes('auth.login_failed'), 5_000, 'the failed login in the audit log');
  });

  it('never accepts a password longer than 72 bytes, even when its first 72 bytes are right', async () => {
    const tenant = await buildTenant(db());
    const password = 'p'.repeat(72);
    const { user } = await buildUser(db(), tenant, { password });
    expect((await post('/api/auth/login', { email: user.email, password }, freshIp())).statusCode).toBe(200);
    expect((await post('/api/auth/login', { email: user.email, password: `${password}extra` }, freshIp())).statusCode).toBe(401);
  });

  it('refuses a disabled user and a deactivated tenant with 403, once the password is right', async () => {
    const tenant = await buildTenant(db());
    const disabled = await buildUser(db(), tenant, { isActive: false });
    const res = await post('/api/auth/login', { email: disabled.user.email, password: disabled.password }, freshIp());
    expect(res.statusCode).toBe(403);
    expect(res.json().detail).toMatch(/disabled/);
    expect((await post('/api/auth/login', { email: disabled.user.email, password: 'wrong-password!' }, freshIp())).statusCode).toBe(401);

    const inactive = await buildTenant(db(), { isActive: false });
    const member = await buildUser(db(), inactive);
    const res2 = await post('/api/auth/login', { email: member.user.email, password: member.password }, freshIp());
    expect(res2.statusCode).toBe(403);
    expect(res2.json().detail).toMatch(/deactivated/);
  });

  it('rate-limits failures per (account, address): 429 with Retry-After there, while the owner from a clean address logs in', async () => {
    const tenant = await buildTenant(db());
    const { user, password } = await buildUser(db(), tenant);
    const attacker = freshIp();
    for (let i = 0; i < 3; i++) {
      expect((await post('/api/auth/login', { email: user.email, password: 'wrong-password!' }, attacker)).statusCode).toBe(401);
    }
    const limited = await post('/api/auth/login', { email: user.email, password }, attacker);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.json().code).toBe('RATE_LIMITED');
    // The owner, from an address with no failures, is not locked out.
    expect((await post('/api/auth/login', { email: user.email, password }, freshIp())).statusCode).toBe(200);
    // Failures spread over addresses are each counted per address: none of them locks the account.
    for (let i = 0; i < 4; i++) expect((await post('/api/auth/login', { email: user.email, password: 'wrong-password!' }, freshIp())).statusCode).toBe(401);
    expect((await post('/api/auth/login', { email: user.email, password }, freshIp())).statusCode).toBe(200);
  });

  it('rate-limits failures per IP across accounts', async () => {
    const ip = freshIp();
    for (let i = 0; i < 6; i++) {
      expect((await post('/api/auth/login', { email: `guess-${i}@example.test`, password: 'wrong-password!' }, ip)).statusCode).toBe(401);
    }
    const limited = await post('/api/auth/login', { email: 'guess-next@example.test', password: 'wrong-password!' }, ip);
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    // Another IP is not affected.
    expect((await post('/api/auth/login', { email: 'guess-next@example.test', password: 'wrong-password!' }, freshIp())).statusCode).toBe(401);
  });

  it('validates the body', async () => {
    const res = await post('/api/auth/login', { email: 'a@b.test' }, freshIp());
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ field: 'body/password' })]);
    const extra = await post('/api/auth/login', { email: 'a@b.test', password: 'x', tenantId: 'x' }, freshIp());
    expect(extra.statusCode).toBe(400);
  });
});

async function loginAs(overrides: Parameters<typeof buildUser>[2] = {}) {
  const tenant = await buildTenant(db());
  const built = await buildUser(db(), tenant, overrides);
  const res = await post('/api/auth/login', { email: built.user.email, password: built.password }, freshIp());
  expect(res.statusCode).toBe(200);
  const body: { token: string; refreshToken: string } = res.json();
  return { tenant, ...built, ...body };
}

describe('POST /api/auth/refresh', () => {
  it('rotates: a new pair each time, the old refresh token is spent', async () => {
    const session = await loginAs();
    const first = await post('/api/auth/refresh', { refreshToken: session.refreshToken });
    expect(first.statusCode).toBe(200);
    const pair = first.json();
    expect(pair.refreshToken).not.toBe(session.refreshToken);
    const second = await post('/api/auth/refresh', { refreshToken: pair.refreshToken });
    expect(second.statusCode).toBe(200);
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${second.json().token}` } });
    expect(me.statusCode).toBe(200);
  });

  it('reuse of a spent token revokes the whole family and is audited', async () => {
    const session = await loginAs();
    const rotated = (await post('/api/auth/refresh', { refreshToken: session.refreshToken })).json();
    const newest = (await post('/api/auth/refresh', { refreshToken: rotated.refreshToken })).json();

    const replay = await post('/api/auth/refresh', { refreshToken: session.refreshToken });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().detail).toMatch(/already used/);
    // Every descendant of that login is dead now, including the newest token.
    expect((await post('/api/auth/refresh', { refreshToken: newest.refreshToken })).statusCode).toBe(401);
    const live = await withTenant(db(), session.tenant.id, (tx) =>
      tx.select().from(refreshTokens).where(and(eq(refreshTokens.userId, session.user.id), isNull(refreshTokens.revokedAt))),
    );
    expect(live).toHaveLength(0);
    expect(await auditActions(session.tenant.id)).toContain('auth.refresh_token_reused');
  });

  it('two concurrent refreshes of one token: one wins, the copy revokes the family', async () => {
    const session = await loginAs();
    const results = await Promise.all([1, 2].map(() => post('/api/auth/refresh', { refreshToken: session.refreshToken })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
    const winner = results.find((r) => r.statusCode === 200)!.json();
    expect((await post('/api/auth/refresh', { refreshToken: winner.refreshToken })).statusCode).toBe(401);
  });

  it('rejects unknown, expired, and disabled-user tokens', async () => {
    expect((await post('/api/auth/refresh', { refreshToken: 'x'.repeat(43) })).statusCode).toBe(401);

    const session = await loginAs();
    await withTenant(db(), session.tenant.id, (tx) =>
      tx.update(refreshTokens).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(refreshTokens.userId, session.user.id)),
    );
    const expired = await post('/api/auth/refresh', { refreshToken: session.refreshToken });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().detail).toMatch(/expired/);

    const other = await loginAs();
    await withTenant(db(), other.tenant.id, (tx) => tx.update(users).set({ isActive: false }).where(eq(users.id, other.user.id)));
    expect((await post('/api/auth/refresh', { refreshToken: other.refreshToken })).statusCode).toBe(401);
  });
});

describe('POST /api/auth/logout', () => {
  it('revokes the session: its refresh token no longer works', async () => {
    const session = await loginAs({ role: 'READ_ONLY' });
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${session.token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'Logged out' });
    expect((await post('/api/auth/refresh', { refreshToken: session.refreshToken })).statusCode).toBe(401);
    expect(await auditActions(session.tenant.id)).toContain('auth.logout');
  });
});

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${token}` } });

describe('access tokens', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  async function sign(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: number; issuer?: string; audience?: string } = {}) {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(options.issuer ?? t.env.JWT_ISSUER)
      .setAudience(options.audience ?? t.env.JWT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresIn ?? 60))
      .setJti('test')
      .sign(new TextEncoder().encode(options.secret ?? t.env.JWT_SECRET));
  }

  it('rejects missing, expired, tampered, alg:none, other-secret and wrong iss/aud tokens', async () => {
    const session = await loginAs();
    const claims = { sub: session.user.id, tid: session.tenant.id, sid: crypto.randomUUID(), role: 'ADMIN' };
    expect((await me(await sign(claims))).statusCode).toBe(200); // the control: a well-formed token passes

    expect((await t.app.inject({ method: 'GET', url: '/api/auth/me' })).statusCode).toBe(401);
    const expired = await me(await sign(claims, { expiresIn: -10 }));
    expect(expired.statusCode).toBe(401);
    expect(expired.json().detail).toMatch(/expired/);

    const [header, , signature] = session.token.split('.');
    const forgedPayload = b64({ ...claims, role: 'SUPER_ADMIN', exp: Math.floor(Date.now() / 1000) + 60, iss: t.env.JWT_ISSUER, aud: t.env.JWT_AUDIENCE, jti: 'x' });
    expect((await me(`${header}.${forgedPayload}.${signature}`)).statusCode).toBe(401);

    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) + 60, iss: t.env.JWT_ISSUER, aud: t.env.JWT_AUDIENCE, jti: 'x' })}.`;
    expect((await me(none)).statusCode).toBe(401);

    expect((await me(await sign(claims, { secret: 'another-secret-that-is-long-enough-123456' }))).statusCode).toBe(401);
    expect((await me(await sign(claims, { issuer: 'someone-else' }))).statusCode).toBe(401);
    expect((await me(await sign(claims, { audience: 'another-api' }))).statusCode).toBe(401);

    // HS256 with the right secret but a different algorithm name (HS512) is refused: the algorithm is pinned.
    const hs512Header = b64({ alg: 'HS512', typ: 'JWT' });
    const body = b64({ ...claims, exp: Math.floor(Date.now() / 1000) + 60, iss: t.env.JWT_ISSUER, aud: t.env.JWT_AUDIENCE, jti: 'x' });
    const mac = createHmac('sha512', t.env.JWT_SECRET).update(`${hs512Header}.${body}`).digest('base64url');
    expect((await me(`${hs512Header}.${body}.${mac}`)).statusCode).toBe(401);
  });

  it('stops working at once when the user is disabled or the tenant deactivated', async () => {
    const session = await loginAs();
    const superAdmin = await loginAs({ role: 'SUPER_ADMIN' });
    expect((await me(session.token)).statusCode).toBe(200);
    const off = await patch(`/api/tenants/${session.tenant.id}`, superAdmin.token, { isActive: false });
    expect(off.statusCode, off.body).toBe(200);
    expect((await me(session.token)).statusCode).toBe(401);

    const other = await loginAs();
    const admin = await adminOf(other.tenant.id);
    expect((await me(other.token)).statusCode).toBe(200);
    expect((await patch(`/api/users/${other.user.id}`, admin, { isActive: false })).statusCode).toBe(200);
    expect((await me(other.token)).statusCode).toBe(401);
  });

  it('a change written to the database behind the API is seen within AUTH_CACHE_TTL_MS', async () => {
    const session = await loginAs();
    expect((await me(session.token)).statusCode).toBe(200);
    await withTenant(db(), session.tenant.id, (tx) => tx.update(users).set({ isActive: false }).where(eq(users.id, session.user.id)));
    await eventually(async () => (await me(session.token)).statusCode === 401, t.env.AUTH_CACHE_TTL_MS + 500, 'the disabled user refused');
  });
});

describe('sessions end when they should (issue 12)', () => {
  it('logout ends the access token at once', async () => {
    const session = await loginAs();
    expect((await me(session.token)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${session.token}` } })).statusCode).toBe(200);
    const after = await me(session.token);
    expect(after.statusCode).toBe(401);
    expect(after.json().detail).toMatch(/session has ended/);
  });

  it('a password change ends every session of the user at once; a new login works', async () => {
    const session = await loginAs();
    const second = await post('/api/auth/login', { email: session.user.email, password: session.password }, freshIp());
    expect((await me(session.token)).statusCode).toBe(200);
    const admin = await adminOf(session.tenant.id);
    expect((await patch(`/api/users/${session.user.id}`, admin, { password: 'a-brand-new-password-42' })).statusCode).toBe(200);
    expect((await me(session.token)).statusCode).toBe(401);
    expect((await me(second.json().token)).statusCode).toBe(401);
    const fresh = await post('/api/auth/login', { email: session.user.email, password: 'a-brand-new-password-42' }, freshIp());
    expect((await me(fresh.json().token)).statusCode).toBe(200);
  });

  it('refresh-token reuse ends the access tokens of the whole family at once', async () => {
    const session = await loginAs();
    const rotated = (await post('/api/auth/refresh', { refreshToken: session.refreshToken })).json();
    expect((await me(rotated.token)).statusCode).toBe(200);
    expect((await post('/api/auth/refresh', { refreshToken: session.refreshToken })).statusCode).toBe(401);
    expect((await me(rotated.token)).statusCode).toBe(401);
    expect((await me(session.token)).statusCode).toBe(401);
  });

  it('re-enabling a user does not bring the old access tokens back', async () => {
    const session = await loginAs();
    const admin = await adminOf(session.tenant.id);
    expect((await patch(`/api/users/${session.user.id}`, admin, { isActive: false })).statusCode).toBe(200);
    expect((await patch(`/api/users/${session.user.id}`, admin, { isActive: true })).statusCode).toBe(200);
    expect((await me(session.token)).statusCode).toBe(401);
    const fresh = await post('/api/auth/login', { email: session.user.email, password: session.password }, freshIp());
    expect((await me(fresh.json().token)).statusCode).toBe(200);
  });

  it('another API process learns of a logout through Redis pub/sub, well within the cache TTL', async () => {
    const other = await createTestApp();
    try {
      const session = await loginAs();
      const meThere = async () => (await other.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${session.token}` } })).statusCode;
      expect(await meThere()).toBe(200); // cached there now
      expect((await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${session.token}` } })).statusCode).toBe(200);
      await eventually(async () => (await meThere()) === 401, t.env.AUTH_CACHE_TTL_MS, 'the other process to refuse the ended session');
    } finally {
      await other.close();
    }
  });
});

function patch(url: string, token: string, payload: unknown) {
  return t.app.inject({ method: 'PATCH', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
}

/** A fresh ADMIN's access token in the tenant. */
async function adminOf(tenantId: string): Promise<string> {
  const { user, password } = await buildUser(db(), { id: tenantId }, { role: 'ADMIN' });
  const res = await post('/api/auth/login', { email: user.email, password }, freshIp());
  expect(res.statusCode).toBe(200);
  const body: { token: string } = res.json();
  return body.token;
}

describe('a SUPER_ADMIN acting in a deactivated tenant (issue 12)', () => {
  it('may read, not write', async () => {
    const superAdmin = await loginAs({ role: 'SUPER_ADMIN' });
    const target = await buildTenant(db(), { isActive: false });
    const acting = { authorization: `Bearer ${superAdmin.token}`, 'x-mpanel-tenant': target.id };
    expect((await t.app.inject({ method: 'GET', url: '/api/users', headers: acting })).statusCode).toBe(200);
    const write = await t.app.inject({
      method: 'POST',
      url: '/api/users',
      headers: { ...acting, 'content-type': 'application/json' },
      payload: JSON.stringify({ email: `new-${target.slug}@example.test`, name: 'New', role: 'READ_ONLY', password: 'a-long-enough-password-1' }),
    });
    expect(write.statusCode, write.body).toBe(403);
    expect(write.json().detail).toMatch(/read-only/);
    const created = await withTenant(db(), target.id, (tx) => tx.select().from(users));
    expect(created).toHaveLength(0);
  });
});
