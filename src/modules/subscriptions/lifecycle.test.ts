import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, jobs, websites } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { serverQueue } from '../../jobs/queue.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildOrder, buildServer, buildTenant, buildUser } from '../../../test/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

async function setup(status: 'ACTIVE' | 'SUSPENDED' | 'PENDING', role: 'ADMIN' | 'SUPPORT' = 'ADMIN') {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role });
  const server = await buildServer(db(), tenant);
  const built = await buildOrder(db(), tenant, { subscriptionStatus: status });
  const [website] = await withTenant(db(), tenant.id, (tx) =>
    tx
      .insert(websites)
      .values({ tenantId: tenant.id, subscriptionId: built.subscription.id, domainId: built.domain.id, serverId: server.id, docroot: '/srv/x', status: status === 'SUSPENDED' ? 'SUSPENDED' : 'ACTIVE' })
      .returning(),
  );
  return { tenant, server, website: website!, subscription: built.subscription, headers: await authHeader(t.env, user) };
}

const post = (path: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method: 'POST', url: path, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });

describe('POST /api/subscriptions/:id/{suspend,unsuspend,terminate}', () => {
  it('suspend: a job on the site server\'s queue, audited with the reason; a second request while it runs is 409', async () => {
    const s = await setup('ACTIVE', 'SUPPORT');
    const res = await post(`/api/subscriptions/${s.subscription.id}/suspend`, s.headers, { reason: 'unpaid invoice 42' });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ subscriptionId: s.subscription.id, status: 'ACTIVE', job: { type: 'SUSPEND_SITE' } });
    await withTenant(db(), s.tenant.id, async (tx) => {
      const [job] = await tx.select().from(jobs).where(eq(jobs.id, body.job.id));
      expect(job).toMatchObject({ queue: serverQueue(s.server.id), payload: { subscriptionId: s.subscription.id, websiteId: s.website.id } });
      const [audit] = await tx.select().from(auditLogs).where(eq(auditLogs.action, 'subscription.suspend_requested'));
      expect(audit?.metadata).toMatchObject({ reason: 'unpaid invoice 42', jobId: body.job.id });
    });
    const again = await post(`/api/subscriptions/${s.subscription.id}/terminate`, s.headers);
    expect(again.statusCode).toBe(403); // SUPPORT may suspend, not terminate
    const admin = await buildUser(db(), s.tenant, { role: 'ADMIN' });
    const busy = await post(`/api/subscriptions/${s.subscription.id}/terminate`, await authHeader(t.env, admin.user));
    expect(busy.statusCode).toBe(409);
    expect(busy.json().detail).toMatch(/SUSPEND_SITE .* still in progress/);
  });

  it('asking for the state it is already in is a no-op (200, no job); a state the action does not apply to is 409', async () => {
    const active = await setup('ACTIVE');
    const noop = await post(`/api/subscriptions/${active.subscription.id}/unsuspend`, active.headers);
    expect(noop.statusCode).toBe(200);
    expect(noop.json()).toEqual({ subscriptionId: active.subscription.id, status: 'ACTIVE', job: null });

    const pending = await setup('PENDING');
    const refused = await post(`/api/subscriptions/${pending.subscription.id}/suspend`, pending.headers);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toMatch(/PENDING subscription cannot be suspended/);
    const count = await withTenant(db(), pending.tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.type, 'SUSPEND_SITE')));
    expect(count).toHaveLength(0);
  });

  it('unknown or another tenant\'s subscription is 404; a body with unknown keys is 400', async () => {
    const s = await setup('SUSPENDED');
    expect((await post(`/api/subscriptions/${crypto.randomUUID()}/unsuspend`, s.headers)).statusCode).toBe(404);
    expect((await post(`/api/subscriptions/${s.subscription.id}/unsuspend`, s.headers, { reason: 'x', force: true })).statusCode).toBe(400);
    const ok = await post(`/api/subscriptions/${s.subscription.id}/unsuspend`, s.headers);
    expect(ok.statusCode).toBe(202);
    expect(ok.json().job.type).toBe('UNSUSPEND_SITE');
  });
});
