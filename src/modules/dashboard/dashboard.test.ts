import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingRuns, orders, sslCertificates, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildOrder, buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

let t: TestApp;
let tenantA: Tenant;
let tenantB: Tenant;
let headersA: Record<string, string>;
let headersB: Record<string, string>;
const db = () => t.container.database.db;
const get = (url: string, headers: Record<string, string>) => t.app.inject({ method: 'GET', url, headers });

/** An order of the tenant that went live `liveAgoMs` ago, `tookSeconds` after it was placed. */
async function liveOrder(tenant: Tenant, liveAgoMs: number, tookSeconds: number) {
  const built = await buildOrder(db(), tenant, { orderStatus: 'FULFILLED', subscriptionStatus: 'ACTIVE' });
  const fulfilledAt = new Date(Date.now() - liveAgoMs);
  await withTenant(db(), tenant.id, (tx) =>
    tx
      .update(orders)
      .set({ createdAt: new Date(fulfilledAt.getTime() - tookSeconds * 1000), fulfilledAt })
      .where(eq(orders.id, built.order.id)),
  );
  return built;
}

async function certificate(tenant: Tenant, values: Partial<typeof sslCertificates.$inferInsert>) {
  const { domain } = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
  const [row] = await withTenant(db(), tenant.id, (tx) =>
    tx
      .insert(sslCertificates)
      .values({ tenantId: tenant.id, domainId: domain.id, commonName: domain.name, altNames: [domain.name], status: 'ISSUED', ...values })
      .returning(),
  );
  return row!;
}

beforeAll(async () => {
  t = await createTestApp();
  tenantA = await buildTenant(db());
  tenantB = await buildTenant(db());
  headersA = await authHeader(t.env, (await buildUser(db(), tenantA, { role: 'READ_ONLY' })).user);
  headersB = await authHeader(t.env, (await buildUser(db(), tenantB, { role: 'ADMIN' })).user);
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/dashboard', () => {
  it('with nothing yet: no percentiles, no certificates, no billing run', async () => {
    const res = await get('/api/dashboard', headersB);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.orderToLive).toMatchObject({ count: 0, p50Seconds: null, p95Seconds: null, hours: [] });
    expect(body.certificates).toEqual({ expiringWithinDays: 30, expiringCount: 0, failedCount: 0, expiring: [] });
    expect(body.lastBillingRun).toBeNull();
  });

  it("order-to-live p50/p95 over the last day, per hour and in total, from the tenant's own orders only", async () => {
    // Two hours ago: 60 s and 120 s; thirty minutes ago: 30 s. Older than a day and not yet live: left out.
    await liveOrder(tenantA, 2 * HOUR + 60_000, 60);
    await liveOrder(tenantA, 2 * HOUR + 60_000, 120);
    await liveOrder(tenantA, 30 * 60_000, 30);
    await liveOrder(tenantA, DAY + HOUR, 5);
    await buildOrder(db(), tenantA);
    await liveOrder(tenantB, HOUR, 999);

    const body = (await get('/api/dashboard', headersA)).json();
    expect(body.orderToLive.count).toBe(3);
    // percentile_cont interpolates: the median of 30, 60, 120 is 60; the 95th 114.
    expect(body.orderToLive.p50Seconds).toBe(60);
    expect(body.orderToLive.p95Seconds).toBe(114);
    expect(body.orderToLive.hours.map((hour: { count: number; p50Seconds: number }) => [hour.count, hour.p50Seconds])).toEqual([
      [2, 90],
      [1, 30],
    ]);
    const [first, second] = body.orderToLive.hours as { hour: string }[];
    expect(new Date(first!.hour).getTime()).toBeLessThan(new Date(second!.hour).getTime());
    expect(new Date(first!.hour).getUTCMinutes()).toBe(0);
  });

  it('certificates expiring within the window, soonest first, and the FAILED count; not another tenant’s', async () => {
    const soon = await certificate(tenantA, { notAfter: new Date(Date.now() + 3 * DAY) });
    const later = await certificate(tenantA, { notAfter: new Date(Date.now() + 20 * DAY) });
    await certificate(tenantA, { notAfter: new Date(Date.now() + 80 * DAY) });
    await certificate(tenantA, { status: 'FAILED', lastError: 'simulated CA outage' });
    await certificate(tenantB, { notAfter: new Date(Date.now() + DAY) });

    const body = (await get('/api/dashboard', headersA)).json();
    expect(body.certificates).toMatchObject({ expiringWithinDays: 30, expiringCount: 2, failedCount: 1 });
    expect(body.certificates.expiring.map((row: { id: string }) => row.id)).toEqual([soon.id, later.id]);

    const narrow = (await get('/api/dashboard?expiringWithinDays=7', headersA)).json();
    expect(narrow.certificates.expiring.map((row: { id: string }) => row.id)).toEqual([soon.id]);
    expect((await get('/api/dashboard?expiringWithinDays=90', headersA)).json().certificates.expiringCount).toBe(3);
  });

  it('the last finished, not dry, billing run over all tenants or this one; never another tenant’s CLI run', async () => {
    const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * HOUR);
    const [global] = await db()
      .insert(billingRuns)
      .values({ trigger: 'scheduler', asOf: at(5), status: 'SUCCEEDED', counts: { invoiced: 3 }, startedAt: at(5), finishedAt: at(5) })
      .returning();
    await db().insert(billingRuns).values({ trigger: 'cli', asOf: at(4), status: 'SUCCEEDED', dryRun: true, startedAt: at(4), finishedAt: at(4) });
    await db().insert(billingRuns).values({ trigger: 'cli', asOf: at(3), tenantId: tenantB.id, status: 'FAILED', error: 'boom', startedAt: at(3), finishedAt: at(3) });
    await db().insert(billingRuns).values({ trigger: 'scheduler', asOf: at(0), status: 'RUNNING', startedAt: at(0) });

    const body = (await get('/api/dashboard', headersA)).json();
    expect(body.lastBillingRun).toMatchObject({ id: global!.id, trigger: 'scheduler', status: 'SUCCEEDED', counts: { invoiced: 3 }, error: null });
    expect((await get('/api/dashboard', headersB)).json().lastBillingRun).toMatchObject({ status: 'FAILED', error: 'boom' });
  });

  it('refuses an unknown query field or an out-of-range window, naming it', async () => {
    for (const url of ['/api/dashboard?expiringWithinDays=0', '/api/dashboard?expiringWithinDays=91', '/api/dashboard?expiringWithinDays=soon', '/api/dashboard?tenantId=x']) {
      const res = await get(url, headersA);
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect((await get('/api/dashboard?expiringWithinDays=0', headersA)).json().errors[0].field).toContain('expiringWithinDays');
  });

  it('needs a token', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/dashboard' })).statusCode).toBe(401);
  });
});
