import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Tenant, User } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { sealTenantAudit } from './audit-seal.js';
import { appendToChain, type ChainEntry } from './audit.service.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

type Row = Omit<ChainEntry, 'tenantId' | 'actor'> & { actor?: ChainEntry['actor']; at?: string };

/** Appends rows to the tenant's log one by one (`at` pins the row's created_at), then seals them as the worker would. */
async function write(tenant: Pick<Tenant, 'id'>, rows: Row[]): Promise<void> {
  for (const { at, actor, ...entry } of rows) {
    if (at) {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date(at));
    }
    try {
      await withTenant(db(), tenant.id, (tx) => appendToChain(tx, { tenantId: tenant.id, actor: actor ?? { type: 'SYSTEM' }, ...entry }));
    } finally {
      vi.useRealTimers();
    }
  }
  await sealTenantAudit(db(), tenant.id);
}

async function list(user: User, query: Record<string, string> = {}, actingTenantId?: string) {
  const qs = new URLSearchParams(query).toString();
  return t.app.inject({ method: 'GET', url: `/api/audit-logs${qs ? `?${qs}` : ''}`, headers: await authHeader(t.env, user, actingTenantId) });
}

async function actions(user: User, query: Record<string, string> = {}): Promise<string[]> {
  const res = await list(user, query);
  expect(res.statusCode, res.body).toBe(200);
  const body: { items: { action: string }[] } = res.json();
  return body.items.map((item) => item.action);
}

async function adminOfNewTenant() {
  const tenant = await buildTenant(db());
  const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
  return { tenant, admin };
}

describe('GET /api/audit-logs filters', () => {
  let admin: User;
  let other: User;
  beforeAll(async () => {
    const built = await adminOfNewTenant();
    admin = built.admin;
    other = (await buildUser(db(), built.tenant, { role: 'SUPPORT' })).user;
    const byAdmin = { type: 'USER' as const, userId: admin.id, ip: '127.0.0.9' };
    await write(built.tenant, [
      { action: 'user.created', actor: byAdmin, targetType: 'user', targetId: 'u1', at: '2025-01-01T10:00:00.000Z' },
      { action: 'user.updated', actor: byAdmin, targetType: 'user', targetId: 'u1', at: '2025-01-01T10:01:00.000Z' },
      { action: 'auth.login', actor: { type: 'USER', userId: other.id }, targetType: 'user', targetId: other.id, at: '2025-01-01T10:02:00.000Z' },
      { action: 'userX.created', targetType: 'user', targetId: 'u2', at: '2025-01-01T10:02:30.000Z' },
      { action: 'tenant.updated', targetType: 'tenant', targetId: built.tenant.id, at: '2025-01-01T10:03:00.000Z' },
      { action: 'order.created', actor: { type: 'CLI' }, targetType: 'order', targetId: 'o1', at: '2025-01-01T10:04:00.000Z' },
    ]);
  });

  it('lists everything newest first without filters', async () => {
    expect(await actions(admin)).toEqual(['order.created', 'tenant.updated', 'userX.created', 'auth.login', 'user.updated', 'user.created']);
  });

  it('by actor', async () => {
    expect(await actions(admin, { actorUserId: admin.id })).toEqual(['user.updated', 'user.created']);
    expect(await actions(admin, { actorUserId: other.id })).toEqual(['auth.login']);
  });

  it('by action, exact or prefix with a trailing *', async () => {
    expect(await actions(admin, { action: 'user.created' })).toEqual(['user.created']);
    expect(await actions(admin, { action: 'user.' })).toEqual([]);
    expect(await actions(admin, { action: 'user.*' })).toEqual(['user.updated', 'user.created']);
    expect(await actions(admin, { action: 'user*' })).toEqual(['userX.created', 'user.updated', 'user.created']);
    // `_` is not a wildcard in a prefix.
    expect(await actions(admin, { action: 'user_*' })).toEqual([]);
  });

  it('by target', async () => {
    expect(await actions(admin, { targetType: 'user', targetId: 'u1' })).toEqual(['user.updated', 'user.created']);
    expect(await actions(admin, { targetType: 'tenant' })).toEqual(['tenant.updated']);
    expect(await actions(admin, { targetId: 'o1' })).toEqual(['order.created']);
  });

  it('by time range: from inclusive, to exclusive, any UTC offset', async () => {
    expect(await actions(admin, { from: '2025-01-01T10:01:00Z', to: '2025-01-01T10:03:00Z' })).toEqual(['userX.created', 'auth.login', 'user.updated']);
    expect(await actions(admin, { to: '2025-01-01T11:01:00+01:00' })).toEqual(['user.created']);
    expect(await actions(admin, { from: '2025-01-01T10:04:00.000Z' })).toEqual(['order.created']);
    expect(await actions(admin, { from: '2025-01-01T10:02:00Z', to: '2025-01-01T10:02:00Z' })).toEqual([]);
  });

  it('combines filters with AND', async () => {
    expect(await actions(admin, { actorUserId: admin.id, action: 'user.*', from: '2025-01-01T10:00:30Z' })).toEqual(['user.updated']);
  });

  it('rejects bad filters with a 400 naming the field', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ from: '2025-01-01T10:03:00Z', to: '2025-01-01T10:01:00Z' }, 'querystring/from'],
      [{ from: '2025-01-01 10:00' }, 'querystring/from'],
      [{ action: 'user.*.created' }, 'querystring/action'],
      [{ actorUserId: 'not-a-uuid' }, 'querystring/actorUserId'],
      [{ cursor: 'bm90LWEtY3Vyc29y' }, 'querystring/cursor'],
      [{ limit: '0' }, 'querystring/limit'],
    ];
    for (const [query, field] of cases) {
      const res = await list(admin, query);
      expect(res.statusCode, JSON.stringify(query)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().errors.map((error: { field: string }) => error.field)).toContain(field);
    }
    expect((await list(admin, { tenantId: admin.tenantId })).statusCode).toBe(400);
  });
});

describe('GET /api/audit-logs pagination', () => {
  it('pages over seq newest first: 7 rows at 3 per page give 3 + 3 + 1, complete, no duplicates, stable under inserts', async () => {
    const { tenant, admin } = await adminOfNewTenant();
    await write(tenant, Array.from({ length: 7 }, (_, i) => ({ action: `test.row${i + 1}` })));

    const pages: { seq: number; action: string }[][] = [];
    let cursor: string | undefined;
    do {
      const res = await list(admin, { limit: '3', ...(cursor ? { cursor } : {}) });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      pages.push(body.items);
      cursor = body.nextCursor ?? undefined;
      // A row written while a client pages lands before its first page, never inside the walk.
      if (pages.length === 1) await write(tenant, [{ action: 'test.late' }]);
    } while (cursor && pages.length < 10);

    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    const all = pages.flat();
    expect(all.map((item) => item.action)).toEqual(['test.row7', 'test.row6', 'test.row5', 'test.row4', 'test.row3', 'test.row2', 'test.row1']);
    const seqs = all.map((item) => item.seq);
    expect(new Set(seqs).size).toBe(7);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));

    expect(await actions(admin, { limit: '1' })).toEqual(['test.late']);
    // Exactly a page's worth left: no empty trailing page.
    const exact = await list(admin, { limit: '8' });
    expect(exact.json().items).toHaveLength(8);
    expect(exact.json().nextCursor).toBeNull();
  });

  it('pages through a filtered list too', async () => {
    const { tenant, admin } = await adminOfNewTenant();
    await write(tenant, ['a.1', 'b.1', 'a.2', 'b.2', 'a.3'].map((action) => ({ action })));
    const first = (await list(admin, { action: 'a.*', limit: '2' })).json();
    expect(first.items.map((item: { action: string }) => item.action)).toEqual(['a.3', 'a.2']);
    const second = (await list(admin, { action: 'a.*', limit: '2', cursor: first.nextCursor })).json();
    expect(second.items.map((item: { action: string }) => item.action)).toEqual(['a.1']);
    expect(second.nextCursor).toBeNull();
  });
});

describe('GET /api/audit-logs/:id', () => {
  it('returns every field of the entry, the same as in the list', async () => {
    const { tenant, admin } = await adminOfNewTenant();
    await write(tenant, [
      { action: 'user.created', targetType: 'user', targetId: admin.id, after: { role: 'ADMIN' } },
      {
        action: 'user.updated',
        actor: { type: 'USER', userId: admin.id, ip: '127.0.0.5', userAgent: 'vitest', requestId: 'req-1' },
        targetType: 'user',
        targetId: admin.id,
        before: { role: 'ADMIN' },
        after: { role: 'SUPPORT', nested: { b: 2, a: 1 } },
        metadata: { reason: 'test' },
      },
    ]);
    const items = (await list(admin)).json().items;
    const [second, first] = items;
    const res = await t.app.inject({ method: 'GET', url: `/api/audit-logs/${second.id}`, headers: await authHeader(t.env, admin) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(second);
    expect(second).toEqual({
      id: expect.any(String),
      seq: first.seq + 1,
      action: 'user.updated',
      actorType: 'USER',
      actorUserId: admin.id,
      targetType: 'user',
      targetId: admin.id,
      ip: '127.0.0.5',
      userAgent: 'vitest',
      requestId: 'req-1',
      before: { role: 'ADMIN' },
      after: { role: 'SUPPORT', nested: { a: 1, b: 2 } },
      metadata: { reason: 'test' },
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      chainSeq: first.chainSeq + 1,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      prevHash: first.hash,
    });
    expect(first.prevHash).toBeNull();
    expect(first.actorType).toBe('SYSTEM');
  });

  it('answers 404 for an unknown id', async () => {
    const { admin } = await adminOfNewTenant();
    const res = await t.app.inject({ method: 'GET', url: '/api/audit-logs/00000000-0000-4000-8000-000000000000', headers: await authHeader(t.env, admin) });
    expect(res.statusCode).toBe(404);
  });
});

describe('audit log access', () => {
  it('is ADMIN+ only: READ_ONLY, SUPPORT and BILLING get 403', async () => {
    const { tenant, admin } = await adminOfNewTenant();
    await write(tenant, [{ action: 'test.secret' }]);
    const [entry] = (await list(admin)).json().items;
    for (const role of ['READ_ONLY', 'SUPPORT', 'BILLING'] as const) {
      const { user } = await buildUser(db(), tenant, { role });
      const headers = await authHeader(t.env, user);
      const listed = await t.app.inject({ method: 'GET', url: '/api/audit-logs', headers });
      expect(listed.statusCode, role).toBe(403);
      expect(listed.body).not.toContain('test.secret');
      const one = await t.app.inject({ method: 'GET', url: `/api/audit-logs/${entry.id}`, headers });
      expect(one.statusCode, role).toBe(403);
    }
    const { user: superAdmin } = await buildUser(db(), tenant, { role: 'SUPER_ADMIN' });
    expect(await actions(superAdmin)).toEqual(['test.secret']);
  });

  it("is per tenant: tenant B sees none of tenant A's rows and gets 404 for A's entry", async () => {
    const a = await adminOfNewTenant();
    const b = await adminOfNewTenant();
    await write(a.tenant, [{ action: 'test.a1' }, { action: 'test.a2' }]);
    const [entry] = (await list(a.admin)).json().items;

    const listed = await list(b.admin);
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual({ items: [], nextCursor: null });
    expect((await list(b.admin, { action: 'test.*' })).json().items).toEqual([]);

    const one = await t.app.inject({ method: 'GET', url: `/api/audit-logs/${entry.id}`, headers: await authHeader(t.env, b.admin) });
    expect(one.statusCode).toBe(404);
    expect(one.body).not.toContain('test.a2');
  });

  it("lets a SUPER_ADMIN read another tenant's log only through X-Mpanel-Tenant, which is itself recorded", async () => {
    const a = await adminOfNewTenant();
    const b = await adminOfNewTenant();
    await write(a.tenant, [{ action: 'test.a1' }]);
    const { user: superAdmin } = await buildUser(db(), b.tenant, { role: 'SUPER_ADMIN' });
    expect(await actions(superAdmin)).toEqual([]);
    const res = await list(superAdmin, {}, a.tenant.id);
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((item: { action: string }) => item.action)).toEqual(['superadmin.cross_tenant_access', 'test.a1']);
    expect(res.json().items[0].actorUserId).toBe(superAdmin.id);
  });
});
