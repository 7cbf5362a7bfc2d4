import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, tenants, type User } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildTenant, buildUser } from '../../../test/factories.js';

let t: TestApp;
let root: User;
beforeAll(async () => {
  t = await createTestApp();
  const home = await buildTenant(db());
  root = (await buildUser(db(), home, { role: 'SUPER_ADMIN' })).user;
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;
const slug = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function call(method: 'GET' | 'POST' | 'PATCH', url: string, caller: Pick<User, 'id' | 'tenantId' | 'role'>, payload?: unknown) {
  const headers = await authHeader(t.env, caller);
  return t.app.inject({
    method,
    url,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}

async function tenantAudit(tenantId: string) {
  return withTenant(db(), tenantId, (tx) =>
    tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenantId), eq(auditLogs.targetType, 'tenant'))).orderBy(auditLogs.seq),
  );
}

describe('tenants', () => {
  it('a SUPER_ADMIN creates, reads, renames and lists tenants; writes are audited in that tenant\'s chain', async () => {
    const newSlug = slug('acme');
    const created = await call('POST', '/api/tenants', root, { slug: newSlug, name: 'Acme Hosting' });
    expect(created.statusCode).toBe(201);
    const tenant = created.json();
    expect(tenant).toMatchObject({ slug: newSlug, name: 'Acme Hosting', isActive: true });
    expect(Object.keys(tenant).sort()).toEqual(['createdAt', 'id', 'isActive', 'name', 'slug', 'updatedAt']);

    expect((await call('GET', `/api/tenants/${tenant.id}`, root)).json()).toEqual(tenant);
    expect((await call('GET', `/api/tenants/${randomUUID()}`, root)).statusCode).toBe(404);

    const renamed = await call('PATCH', `/api/tenants/${tenant.id}`, root, { name: 'Acme Web' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ id: tenant.id, slug: newSlug, name: 'Acme Web', isActive: true });
    expect((await call('PATCH', `/api/tenants/${randomUUID()}`, root, { name: 'Nobody' })).statusCode).toBe(404);

    const audit = await tenantAudit(tenant.id);
    expect(audit.map((row) => row.action)).toEqual(['tenant.created', 'tenant.updated']);
    expect(audit[1]).toMatchObject({
      actorUserId: root.id,
      targetId: tenant.id,
      before: { name: 'Acme Hosting', isActive: true },
      after: { name: 'Acme Web', isActive: true },
    });

    const duplicate = await call('POST', '/api/tenants', root, { slug: newSlug, name: 'Again' });
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().errors).toEqual([{ field: 'body/slug', message: 'is already taken' }]);
  });

  it('lists with filters and a cursor', async () => {
    const marker = randomBytes(3).toString('hex');
    const active = await buildTenant(db(), { slug: slug(`list-${marker}`) });
    const inactive = await buildTenant(db(), { slug: slug(`list-${marker}`), isActive: false });
    await buildTenant(db(), { slug: slug('other'), name: `Named ${marker}_x` });

    const ids = async (query: string) => {
      const res = await call('GET', `/api/tenants?${query}`, root);
      expect(res.statusCode).toBe(200);
      const page: { items: { id: string }[] } = res.json();
      return page.items.map((item) => item.id);
    };
    expect((await ids(`q=list-${marker}`)).sort()).toEqual([active.id, inactive.id].sort());
    expect(await ids(`q=list-${marker}&isActive=false`)).toEqual([inactive.id]);
    expect(await ids(`q=${marker}_x`)).toHaveLength(1);
    expect(await ids(`q=${marker}%25x`)).toEqual([]); // '%' is literal, not a wildcard

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call('GET', `/api/tenants?limit=1${cursor ? `&cursor=${cursor}` : ''}`, root);
      const page: { items: { id: string }[]; nextCursor: string | null } = res.json();
      expect(page.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor);
    const all = await db().select({ id: tenants.id }).from(tenants);
    expect(seen).toHaveLength(all.length);
    expect(new Set(seen)).toEqual(new Set(all.map((row) => row.id)));
  });

  it('names the offending field of a bad request', async () => {
    const target = await buildTenant(db());
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/tenants', { slug: 'Not A Slug', name: 'x' }, 'body/slug'],
      ['POST', '/api/tenants', { slug: slug('ok'), name: '' }, 'body/name'],
      ['POST', '/api/tenants', { slug: slug('ok'), name: 'x', isActive: false }, 'body'],
      ['PATCH', `/api/tenants/${target.id}`, {}, 'body'],
      ['PATCH', `/api/tenants/${target.id}`, { slug: 'renamed' }, 'body'],
      ['PATCH', `/api/tenants/${target.id}`, { isActive: 'no' }, 'body/isActive'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await call(method === 'POST' ? 'POST' : 'PATCH', url, root, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      // An unknown key in an otherwise empty PATCH also fails "at least one field": both name `body`.
      expect(new Set(res.json().errors.map((e: { field: string }) => e.field))).toEqual(new Set([field]));
    }
  });

  it('is for SUPER_ADMIN only: an ADMIN gets 403 on every tenants route', async () => {
    const tenant = await buildTenant(db());
    const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const responses = [
      await call('GET', '/api/tenants', admin),
      await call('POST', '/api/tenants', admin, { slug: slug('nope'), name: 'Nope' }),
      await call('GET', `/api/tenants/${tenant.id}`, admin),
      await call('PATCH', `/api/tenants/${tenant.id}`, admin, { name: 'Mine now' }),
    ];
    expect(responses.map((res) => res.statusCode)).toEqual([403, 403, 403, 403]);
    const [row] = await db().select().from(tenants).where(eq(tenants.id, tenant.id));
    expect(row?.name).toBe(tenant.name);
  });

  it("a deactivated tenant's tokens stop working at once, and work again once it is reactivated", async () => {
    const tenant = await buildTenant(db());
    const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const headers = await authHeader(t.env, admin);
    const listUsers = () => t.app.inject({ method: 'GET', url: '/api/users', headers });

    expect((await listUsers()).statusCode).toBe(200);
    const off = await call('PATCH', `/api/tenants/${tenant.id}`, root, { isActive: false });
    expect(off.statusCode).toBe(200);
    expect(off.json().isActive).toBe(false);

    const refused = await listUsers();
    expect(refused.statusCode).toBe(401);
    expect(refused.json().detail).toBe('This tenant is deactivated');

    expect((await call('PATCH', `/api/tenants/${tenant.id}`, root, { isActive: true })).statusCode).toBe(200);
    expect((await listUsers()).statusCode).toBe(200);
    const audit = await tenantAudit(tenant.id);
    expect(audit.map((row) => [row.action, row.before?.isActive, row.after?.isActive])).toEqual([
      ['tenant.updated', true, false],
      ['tenant.updated', false, true],
    ]);
  });

  it('a SUPER_ADMIN cannot deactivate their own tenant (409)', async () => {
    const res = await call('PATCH', `/api/tenants/${root.tenantId}`, root, { isActive: false });
    expect(res.statusCode).toBe(409);
    const [row] = await db().select().from(tenants).where(eq(tenants.id, root.tenantId));
    expect(row?.isActive).toBe(true);
  });
});
