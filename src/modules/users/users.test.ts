import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, refreshTokens, users, type Tenant, type User, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { hashRefreshToken } from '../auth/tokens.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;
const STRONG_PASSWORD = 'a-long-enough-password';

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, caller: Pick<User, 'id' | 'tenantId' | 'role'>, payload?: unknown) {
  const headers = await authHeader(t.env, caller);
  return t.app.inject({
    method,
    url,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}

/** A tenant with one ADMIN (the usual caller). */
async function tenantWithAdmin(): Promise<{ tenant: Tenant; admin: User }> {
  const tenant = await buildTenant(db());
  const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
  return { tenant, admin };
}

/** The platform's SUPER_ADMIN, acting in `tenant`: the only role that creates users with a password. */
async function platformAdmin(tenant: Tenant): Promise<User> {
  return (await buildUser(db(), tenant, { role: 'SUPER_ADMIN' })).user;
}

async function member(tenant: Tenant, role: UserRole, overrides: { email?: string; name?: string; isActive?: boolean } = {}): Promise<User> {
  return (await buildUser(db(), tenant, { role, ...overrides })).user;
}

/** The row as stored, read as its tenant (deleted rows included). */
async function storedUser(user: Pick<User, 'id' | 'tenantId'>): Promise<User | undefined> {
  const [row] = await withTenant(db(), user.tenantId, (tx) => tx.select().from(users).where(eq(users.id, user.id)));
  return row;
}

/** The `user.*` audit rows about one user, oldest first. */
async function auditRows(tenantId: string, targetId: string) {
  const rows = await withTenant(db(), tenantId, (tx) =>
    tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenantId), eq(auditLogs.targetId, targetId))).orderBy(auditLogs.seq),
  );
  return rows.filter((row) => row.action.startsWith('user.'));
}

async function insertRefreshToken(user: User): Promise<string> {
  const [row] = await withTenant(db(), user.tenantId, (tx) =>
    tx
      .insert(refreshTokens)
      .values({ tenantId: user.tenantId, userId: user.id, familyId: randomUUID(), tokenHash: hashRefreshToken(randomUUID()), expiresAt: new Date(Date.now() + 3_600_000) })
      .returning({ id: refreshTokens.id }),
  );
  return row!.id;
}

async function refreshTokenRevokedAt(tenantId: string, id: string): Promise<Date | null | undefined> {
  const [row] = await withTenant(db(), tenantId, (tx) => tx.select({ revokedAt: refreshTokens.revokedAt }).from(refreshTokens).where(eq(refreshTokens.id, id)));
  return row?.revokedAt;
}

describe('users CRUD', () => {
  it('creates (SUPER_ADMIN), reads, lists, updates and deletes a user, auditing each write without the password hash', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const platform = await platformAdmin(tenant);

    // A tenant ADMIN invites (staff-invitations.test.ts): creating with a password is the platform's.
    const refused = await call('POST', '/api/users', admin, { email: 'refused@example.test', name: 'Refused', role: 'SUPPORT', password: STRONG_PASSWORD });
    expect(refused.statusCode).toBe(403);

    const created = await call('POST', '/api/users', platform, { email: 'New.Person@Example.test', name: '  New Person ', role: 'SUPPORT', password: STRONG_PASSWORD });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toMatchObject({ email: 'new.person@example.test', name: 'New Person', role: 'SUPPORT', tenantId: tenant.id, isActive: true, lastLoginAt: null });
    expect(Object.keys(body).sort()).toEqual(['createdAt', 'email', 'id', 'isActive', 'lastLoginAt', 'name', 'role', 'tenantId', 'updatedAt']);
    expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);
    const stored = await storedUser({ id: body.id, tenantId: tenant.id });
    expect(stored?.passwordHash).toMatch(/^\$2[aby]\$12\$/);

    const read = await call('GET', `/api/users/${body.id}`, admin);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(body);

    // The password was hashed so that login accepts it.
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email: 'new.person@example.test', password: STRONG_PASSWORD }) });
    expect(login.statusCode).toBe(200);
    expect((await call('GET', `/api/users/${body.id}`, admin)).json().lastLoginAt).toEqual(expect.any(String));

    const list = await call('GET', '/api/users', admin);
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((u: { id: string }) => u.id).sort()).toEqual([admin.id, platform.id, body.id].sort());

    const patched = await call('PATCH', `/api/users/${body.id}`, admin, { name: 'Renamed', role: 'BILLING' });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: body.id, name: 'Renamed', role: 'BILLING', isActive: true });

    const deleted = await call('DELETE', `/api/users/${body.id}`, admin);
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expect((await call('GET', `/api/users/${body.id}`, admin)).statusCode).toBe(404);
    expect((await call('PATCH', `/api/users/${body.id}`, admin, { name: 'Ghost' })).statusCode).toBe(404);
    expect((await call('DELETE', `/api/users/${body.id}`, admin)).statusCode).toBe(404);
    expect((await call('GET', '/api/users', admin)).json().items.map((u: { id: string }) => u.id).sort()).toEqual([admin.id, platform.id].sort());
    const gone = await storedUser({ id: body.id, tenantId: tenant.id });
    expect(gone?.deletedAt).toBeInstanceOf(Date);
    expect(gone?.isActive).toBe(false);

    const audit = await auditRows(tenant.id, body.id);
    expect(audit.map((row) => row.action)).toEqual(['user.created', 'user.updated', 'user.deleted']);
    const [create, update, remove] = audit;
    expect(create).toMatchObject({ actorUserId: platform.id, targetType: 'user', before: null, after: { email: 'new.person@example.test', role: 'SUPPORT' } });
    expect(update).toMatchObject({ before: { name: 'New Person', role: 'SUPPORT' }, after: { name: 'Renamed', role: 'BILLING' } });
    expect(remove).toMatchObject({ before: { isActive: true }, after: { isActive: false } });
    const text = JSON.stringify(audit);
    expect(text).not.toContain('$2');
    expect(text).not.toContain('passwordHash');
  });

  it('keeps a deleted user\'s email taken, and refuses an email used in another tenant (409 on body/email: the platform sees every tenant)', async () => {
    const { tenant } = await tenantWithAdmin();
    const admin = await platformAdmin(tenant);
    const other = await tenantWithAdmin();
    await member(other.tenant, 'SUPPORT', { email: 'taken@example.test' });
    const res = await call('POST', '/api/users', admin, { email: 'TAKEN@example.test', name: 'Copy', role: 'SUPPORT', password: STRONG_PASSWORD });
    expect(res.statusCode).toBe(409);
    expect(res.json().errors).toEqual([{ field: 'body/email', message: 'is already taken' }]);

    const own = await call('POST', '/api/users', admin, { email: 'soon-deleted@example.test', name: 'Soon', role: 'SUPPORT', password: STRONG_PASSWORD });
    expect((await call('DELETE', `/api/users/${own.json().id}`, admin)).statusCode).toBe(204);
    const again = await call('POST', '/api/users', admin, { email: 'soon-deleted@example.test', name: 'Again', role: 'SUPPORT', password: STRONG_PASSWORD });
    expect(again.statusCode).toBe(409);
  });
});

describe('listing', () => {
  it('filters by role, isActive and an escaped substring of email or name, and pages with a cursor', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const percent = await member(tenant, 'SUPPORT', { name: 'Rate 100% sure' });
    await member(tenant, 'SUPPORT', { name: 'Rate 1000 sure' });
    const disabled = await member(tenant, 'BILLING', { isActive: false, email: `under_score-${randomUUID()}@example.test` });
    await member(tenant, 'READ_ONLY', { email: `underXscore-${randomUUID()}@example.test` });
    const elsewhere = await tenantWithAdmin();
    await member(elsewhere.tenant, 'SUPPORT', { name: 'Rate 100% sure' });

    const ids = async (query: string) => {
      const res = await call('GET', `/api/users?${query}`, admin);
      expect(res.statusCode).toBe(200);
      const page: { items: { id: string }[] } = res.json();
      return page.items.map((u) => u.id);
    };
    expect(await ids('q=100%25')).toEqual([percent.id]);
    expect(await ids('q=under_score')).toEqual([disabled.id]);
    expect(await ids('isActive=false')).toEqual([disabled.id]);
    expect(await ids('role=BILLING&isActive=true')).toEqual([]);
    expect((await ids('role=SUPPORT')).length).toBe(2);
    expect((await ids('isActive=true')).length).toBe(4);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call('GET', `/api/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`, admin);
      expect(res.statusCode).toBe(200);
      const page: { items: { id: string }[]; nextCursor: string | null } = res.json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((u) => u.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);

    const bad = await call('GET', '/api/users?isActive=yes&role=ROOT', admin);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors.map((e: { field: string }) => e.field).sort()).toEqual(['querystring/isActive', 'querystring/role']);
  });
});

describe('validation', () => {
  it('names the offending field of each bad request', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const valid = { email: 'valid@example.test', name: 'Valid', role: 'SUPPORT', password: STRONG_PASSWORD };
    const cases: [unknown, string][] = [
      [{ ...valid, email: 'not-an-email' }, 'body/email'],
      [{ ...valid, password: 'short' }, 'body/password'],
      [{ ...valid, password: 'é'.repeat(37) }, 'body/password'],
      [{ ...valid, password: `${'é'.repeat(36)}x` }, 'body/password'], // exactly 73 bytes
      [{ ...valid, role: 'ROOT' }, 'body/role'],
      [{ ...valid, tenantId: randomUUID() }, 'body'],
    ];
    const platform = await platformAdmin(tenant);
    for (const [payload, field] of cases) {
      const res = await call('POST', '/api/users', platform, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
    const unknownKey = await call('POST', '/api/users', platform, { ...valid, isAdmin: true });
    expect(unknownKey.json().errors[0].message).toMatch(/isAdmin/);

    const own = await member(tenant, 'SUPPORT');
    const empty = await call('PATCH', `/api/users/${own.id}`, admin, {});
    expect(empty.statusCode).toBe(400);
    expect(empty.json().errors[0]).toMatchObject({ field: 'body', message: expect.stringMatching(/at least one/) });
    const longPassword = await call('PATCH', `/api/users/${own.id}`, admin, { password: 'é'.repeat(37) });
    expect(longPassword.json().errors.map((e: { field: string }) => e.field)).toEqual(['body/password']);
    const email = await call('PATCH', `/api/users/${own.id}`, admin, { email: 'new@example.test' });
    expect(email.statusCode).toBe(400);
    expect((await call('GET', '/api/users/not-a-uuid', admin)).json().errors[0].field).toBe('params/id');
  });

  it('accepts a 72-byte multi-byte password', async () => {
    const { tenant } = await tenantWithAdmin();
    const res = await call('POST', '/api/users', await platformAdmin(tenant), { email: `p72-${randomUUID()}@example.test`, name: 'P', role: 'READ_ONLY', password: 'é'.repeat(36) });
    expect(res.statusCode).toBe(201);
  });
});

describe('role rules', () => {
  it('an ADMIN cannot invite, promote to, change or delete a SUPER_ADMIN (403) and nothing changes', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const superAdmin = await member(tenant, 'SUPER_ADMIN');
    const support = await member(tenant, 'SUPPORT');

    const invite = await call('POST', '/api/users/invitations', admin, { email: `sa-${randomUUID()}@example.test`, name: 'SA', role: 'SUPER_ADMIN' });
    expect(invite.statusCode).toBe(403);
    expect(invite.json().detail).toBe('You cannot grant a role above your own');

    const promote = await call('PATCH', `/api/users/${support.id}`, admin, { role: 'SUPER_ADMIN' });
    expect(promote.statusCode).toBe(403);
    expect(promote.json().detail).toBe('You cannot grant a role above your own');
    expect((await storedUser(support))?.role).toBe('SUPPORT');

    const before = await storedUser(superAdmin);
    expect((await call('PATCH', `/api/users/${superAdmin.id}`, admin, { name: 'Hijacked' })).statusCode).toBe(403);
    expect((await call('PATCH', `/api/users/${superAdmin.id}`, admin, { isActive: false })).statusCode).toBe(403);
    expect((await call('DELETE', `/api/users/${superAdmin.id}`, admin)).statusCode).toBe(403);
    expect(await storedUser(superAdmin)).toEqual(before);
  });

  it('a SUPER_ADMIN may grant SUPER_ADMIN', async () => {
    const { tenant } = await tenantWithAdmin();
    const superAdmin = await member(tenant, 'SUPER_ADMIN');
    const res = await call('POST', '/api/users', superAdmin, { email: `sa-${randomUUID()}@example.test`, name: 'SA 2', role: 'SUPER_ADMIN', password: STRONG_PASSWORD });
    expect(res.statusCode).toBe(201);
  });

  it('a role change takes effect on the next request', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const other = await member(tenant, 'ADMIN');
    expect((await call('GET', '/api/users', other)).statusCode).toBe(200);
    expect((await call('PATCH', `/api/users/${other.id}`, admin, { role: 'SUPPORT' })).statusCode).toBe(200);
    // The same token (it still says ADMIN): the role is read per request.
    expect((await call('GET', '/api/users', other)).statusCode).toBe(403);
  });

  it.each(['BILLING', 'SUPPORT', 'READ_ONLY'] as const)('%s gets 403 on every users route', async (role) => {
    const { tenant } = await tenantWithAdmin();
    const caller = await member(tenant, role);
    const target = await member(tenant, 'READ_ONLY');
    const before = await storedUser(target);
    const responses = [
      await call('GET', '/api/users', caller),
      await call('POST', '/api/users', caller, { email: `x-${randomUUID()}@example.test`, name: 'X', role: 'READ_ONLY', password: STRONG_PASSWORD }),
      await call('POST', '/api/users/invitations', caller, { email: `x-${randomUUID()}@example.test`, name: 'X', role: 'READ_ONLY' }),
      await call('GET', '/api/users/invitations', caller),
      await call('GET', `/api/users/${target.id}`, caller),
      await call('PATCH', `/api/users/${target.id}`, caller, { name: 'Changed' }),
      await call('DELETE', `/api/users/${target.id}`, caller),
    ];
    expect(responses.map((res) => res.statusCode)).toEqual([403, 403, 403, 403, 403, 403, 403]);
    expect(await storedUser(target)).toEqual(before);
  });
});

describe('last active ADMIN and self-protection', () => {
  it('refuses to disable, demote or delete the last active ADMIN (409); allows it when another remains', async () => {
    const tenant = await buildTenant(db());
    const superAdmin = await member(tenant, 'SUPER_ADMIN');
    const onlyAdmin = await member(tenant, 'ADMIN');
    await member(tenant, 'ADMIN', { isActive: false }); // a disabled admin does not count

    for (const [method, payload] of [['PATCH', { isActive: false }], ['PATCH', { role: 'SUPPORT' }], ['DELETE', undefined]] as const) {
      const res = await call(method, `/api/users/${onlyAdmin.id}`, superAdmin, payload);
      expect(res.statusCode, `${method} ${JSON.stringify(payload)}`).toBe(409);
      expect(res.json().detail).toMatch(/last active ADMIN/);
    }
    expect(await storedUser(onlyAdmin)).toMatchObject({ role: 'ADMIN', isActive: true, deletedAt: null });
    // Other changes to the last admin are fine.
    expect((await call('PATCH', `/api/users/${onlyAdmin.id}`, superAdmin, { name: 'Still admin' })).statusCode).toBe(200);

    await member(tenant, 'ADMIN');
    expect((await call('PATCH', `/api/users/${onlyAdmin.id}`, superAdmin, { role: 'SUPPORT' })).statusCode).toBe(200);
  });

  it('lets exactly one of two concurrent demotions of the last two ADMINs through', async () => {
    for (let round = 0; round < 5; round++) {
      const tenant = await buildTenant(db());
      const superAdmin = await member(tenant, 'SUPER_ADMIN');
      const first = await member(tenant, 'ADMIN');
      const second = await member(tenant, 'ADMIN');
      const responses = await Promise.all([
        call('PATCH', `/api/users/${first.id}`, superAdmin, { role: 'SUPPORT' }),
        call('PATCH', `/api/users/${second.id}`, superAdmin, { isActive: false }),
      ]);
      expect(responses.map((res) => res.statusCode).sort()).toEqual([200, 409]);
      const remaining = [await storedUser(first), await storedUser(second)].filter((user) => user?.role === 'ADMIN' && user.isActive);
      expect(remaining).toHaveLength(1);
    }
  });

  it('a user cannot delete or disable themselves (409)', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    await member(tenant, 'ADMIN'); // so the last-admin rule is not what refuses
    const del = await call('DELETE', `/api/users/${admin.id}`, admin);
    expect(del.statusCode).toBe(409);
    expect(del.json().detail).toBe('You cannot delete yourself');
    const disable = await call('PATCH', `/api/users/${admin.id}`, admin, { isActive: false });
    expect(disable.statusCode).toBe(409);
    expect(disable.json().detail).toBe('You cannot disable yourself');
    expect(await storedUser(admin)).toMatchObject({ isActive: true, deletedAt: null });
  });
});

describe('sessions', () => {
  it('disabling a user revokes their refresh tokens and their access token stops working', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const target = await member(tenant, 'ADMIN');
    const bystander = await member(tenant, 'SUPPORT');
    const token = await insertRefreshToken(target);
    const untouched = await insertRefreshToken(bystander);

    expect((await call('PATCH', `/api/users/${target.id}`, admin, { isActive: false })).statusCode).toBe(200);
    expect(await refreshTokenRevokedAt(tenant.id, token)).toBeInstanceOf(Date);
    expect(await refreshTokenRevokedAt(tenant.id, untouched)).toBeNull();
    expect((await call('GET', '/api/users', target)).statusCode).toBe(401);
  });

  it('a password change and a delete revoke refresh tokens; a rename does not', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const target = await member(tenant, 'SUPPORT');
    const renamedToken = await insertRefreshToken(target);
    expect((await call('PATCH', `/api/users/${target.id}`, admin, { name: 'Renamed' })).statusCode).toBe(200);
    expect(await refreshTokenRevokedAt(tenant.id, renamedToken)).toBeNull();

    expect((await call('PATCH', `/api/users/${target.id}`, admin, { password: 'another-long-password' })).statusCode).toBe(200);
    expect(await refreshTokenRevokedAt(tenant.id, renamedToken)).toBeInstanceOf(Date);
    const [audit] = (await auditRows(tenant.id, target.id)).slice(-1);
    expect(audit).toMatchObject({ action: 'user.updated', metadata: { passwordChanged: true } });

    const laterToken = await insertRefreshToken(target);
    expect((await call('DELETE', `/api/users/${target.id}`, admin)).statusCode).toBe(204);
    expect(await refreshTokenRevokedAt(tenant.id, laterToken)).toBeInstanceOf(Date);
  });
});

describe('tenant isolation', () => {
  it("tenant B's ADMIN gets 404 on tenant A's user for GET, PATCH and DELETE, and the row is unchanged", async () => {
    const a = await tenantWithAdmin();
    const victim = await member(a.tenant, 'SUPPORT');
    const b = await tenantWithAdmin();
    const before = await storedUser(victim);

    expect((await call('GET', `/api/users/${victim.id}`, b.admin)).statusCode).toBe(404);
    expect((await call('PATCH', `/api/users/${victim.id}`, b.admin, { name: 'Stolen', isActive: false })).statusCode).toBe(404);
    expect((await call('DELETE', `/api/users/${victim.id}`, b.admin)).statusCode).toBe(404);
    expect((await call('GET', '/api/users', b.admin)).json().items.map((u: { id: string }) => u.id)).toEqual([b.admin.id]);
    expect(await storedUser(victim)).toEqual(before);
    expect(await auditRows(a.tenant.id, victim.id)).toEqual([]);
  });
});
