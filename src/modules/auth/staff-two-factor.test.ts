import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLogs } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildTenant, buildUser, type BuiltUser } from '../../../test/factories.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { base32Decode, stepAt, totpCode } from '../two-factor/totp.js';

const t = await createTestApp();
afterAll(() => t.close());
const db = t.container.database.db;

const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: `/api${url}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
const login = (built: BuiltUser) => post('/auth/login', { email: built.user.email, password: built.password });
/**
 * Codes by step, relative to the step when the factor was enrolled (not to each call's clock): a
 * 30 s boundary falling between two requests must not turn a replayed step into a fresh one.
 */
const codeFor = (secret: string) => {
  const enrolled = stepAt(Date.now());
  return (offset = 0) => totpCode(base32Decode(secret), enrolled + offset);
};

interface Challenge {
  twoFactorRequired: true;
  enrolmentRequired: boolean;
  challenge: string;
  token?: string;
}

describe('staff two-factor sign-in', () => {
  it('enrol → confirm → the password alone answers a challenge → TOTP signs in once; recovery codes once each', async () => {
    const tenant = await buildTenant(db);
    const built = await buildUser(db, tenant, { role: 'SUPPORT' });
    const auth = await authHeader(t.env, built.user);
    const enrol = await post('/auth/2fa/enrol', undefined, auth);
    expect(enrol.statusCode, enrol.body).toBe(200);
    const { secret, otpauthUri } = enrol.json<{ secret: string; otpauthUri: string }>();
    expect(otpauthUri).toContain(encodeURIComponent(built.user.email));
    const code = codeFor(secret);
    const confirmed = await post('/auth/2fa/confirm', { code: code(-1) }, auth);
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const { recoveryCodes } = confirmed.json<{ recoveryCodes: string[] }>();
    expect(recoveryCodes).toHaveLength(10);

    const challenged = (await login(built)).json<Challenge>();
    expect(challenged).toMatchObject({ twoFactorRequired: true, enrolmentRequired: false });
    expect(challenged.token).toBeUndefined();
    expect((await post('/auth/2fa/verify', { challenge: challenged.challenge, code: '000000' })).statusCode).toBe(401);
    const verified = await post('/auth/2fa/verify', { challenge: challenged.challenge, code: code(0) });
    expect(verified.statusCode, verified.body).toBe(200);
    const session = verified.json<{ token: string; refreshToken: string; user: { id: string }; recoveryCodes?: string[] }>();
    expect(session.user.id).toBe(built.user.id);
    expect(session.recoveryCodes).toBeUndefined();
    const me = await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: { authorization: `Bearer ${session.token}` } });
    expect(me.statusCode).toBe(200);
    // The challenge is spent, and the code too.
    expect((await post('/auth/2fa/verify', { challenge: challenged.challenge, code: code(1) })).statusCode).toBe(401);
    const again = (await login(built)).json<Challenge>();
    expect((await post('/auth/2fa/verify', { challenge: again.challenge, code: code(0) })).statusCode).toBe(401);
    expect((await post('/auth/2fa/verify', { challenge: again.challenge, code: recoveryCodes[0]! })).statusCode).toBe(200);
    const third = (await login(built)).json<Challenge>();
    expect((await post('/auth/2fa/verify', { challenge: third.challenge, code: recoveryCodes[0]! })).statusCode).toBe(401);

    const audited = await withTenant(db, tenant.id, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs).where(eq(auditLogs.targetId, built.user.id)));
    expect(audited.map((row) => row.action)).toEqual(expect.arrayContaining(['two_factor.enabled', 'two_factor.verified', 'two_factor.failed', 'two_factor.recovery_code_used']));
    expect(JSON.stringify(audited)).not.toContain(secret);
  });

  it("the tenant's policy: a listed role enrols at its next login, cannot turn the factor off, and other roles are not asked", async () => {
    const tenant = await buildTenant(db);
    const admin = await buildUser(db, tenant, { role: 'ADMIN' });
    const support = await buildUser(db, tenant, { role: 'SUPPORT' });
    const billing = await buildUser(db, tenant, { role: 'BILLING' });
    const adminAuth = await authHeader(t.env, admin.user);

    const bad = await t.app.inject({ method: 'PUT', url: '/api/two-factor-policy', headers: adminAuth, payload: { twoFactorStaffRoles: ['SUPPORT', 'SUPPORT'], twoFactorCustomers: false } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('body/twoFactorStaffRoles');
    const forbidden = await t.app.inject({ method: 'PUT', url: '/api/two-factor-policy', headers: await authHeader(t.env, support.user), payload: { twoFactorStaffRoles: [], twoFactorCustomers: false } });
    expect(forbidden.statusCode).toBe(403);
    const set = await t.app.inject({ method: 'PUT', url: '/api/two-factor-policy', headers: adminAuth, payload: { twoFactorStaffRoles: ['SUPPORT'], twoFactorCustomers: true } });
    expect(set.statusCode, set.body).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/two-factor-policy', headers: adminAuth })).json()).toEqual({ twoFactorStaffRoles: ['SUPPORT'], twoFactorCustomers: true });
    const [audit] = await withTenant(db, tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, tenant.id), eq(auditLogs.action, 'tenant.two_factor_policy_updated'))));
    expect(audit).toMatchObject({ actorUserId: admin.user.id, before: { twoFactorStaffRoles: [] }, after: { twoFactorStaffRoles: ['SUPPORT'] } });

    // BILLING is not listed: tokens as before.
    expect((await login(billing)).json()).toHaveProperty('token');
    // SUPPORT has no factor yet: an enrolment challenge, which starts one and signs in with its first code.
    const challenged = (await login(support)).json<Challenge>();
    expect(challenged).toMatchObject({ twoFactorRequired: true, enrolmentRequired: true });
    expect((await post('/auth/2fa/verify', { challenge: challenged.challenge, code: '123456' })).statusCode).toBe(401);
    const setup = await post('/auth/2fa/setup', { challenge: challenged.challenge });
    expect(setup.statusCode, setup.body).toBe(200);
    const code = codeFor(setup.json<{ secret: string }>().secret);
    const verified = await post('/auth/2fa/verify', { challenge: challenged.challenge, code: code(0) });
    expect(verified.statusCode, verified.body).toBe(200);
    const session = verified.json<{ token: string; recoveryCodes: string[] }>();
    expect(session.recoveryCodes).toHaveLength(10);
    // From now on an ordinary challenge; setup is refused for it.
    const next = (await login(support)).json<Challenge>();
    expect(next).toMatchObject({ twoFactorRequired: true, enrolmentRequired: false });
    expect((await post('/auth/2fa/setup', { challenge: next.challenge })).statusCode).toBe(409);
    // The policy keeps the factor on.
    const off = await post('/auth/2fa/disable', { code: code(1) }, { authorization: `Bearer ${session.token}` });
    expect(off.statusCode, off.body).toBe(409);
  });

  it('the console: login with a factor answers the challenge and no cookie; the browser verify sets the cookie', async () => {
    const tenant = await buildTenant(db);
    const built = await buildUser(db, tenant, { role: 'ADMIN' });
    const auth = await authHeader(t.env, built.user);
    const { secret } = (await post('/auth/2fa/enrol', undefined, auth)).json<{ secret: string }>();
    const code = codeFor(secret);
    expect((await post('/auth/2fa/confirm', { code: code(-1) }, auth)).statusCode).toBe(200);
    const origin = { origin: 'http://localhost:80' };
    const browserLogin = await t.app.inject({ method: 'POST', url: '/api/auth/browser/login', headers: { ...origin, host: 'localhost:80' }, payload: { email: built.user.email, password: built.password } });
    expect(browserLogin.statusCode, browserLogin.body).toBe(200);
    expect(browserLogin.headers['set-cookie']).toBeUndefined();
    const { challenge } = browserLogin.json<Challenge>();
    const verified = await t.app.inject({ method: 'POST', url: '/api/auth/browser/2fa/verify', headers: { ...origin, host: 'localhost:80' }, payload: { challenge, code: code(0) } });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(String(verified.headers['set-cookie'])).toMatch(/^mpanel_refresh=[^;]{20,}; Path=\/api\/auth\/browser; .*HttpOnly; SameSite=Strict/);
    expect(verified.json()).not.toHaveProperty('refreshToken');
  });
});
