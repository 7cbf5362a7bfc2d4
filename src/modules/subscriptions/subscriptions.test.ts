import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tenant, UserRole } from '../../db/schema/index.js';
import { buildOrder, buildTenant, buildUser, type BuiltOrder } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';

const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

let t: TestApp;
let tenant: Tenant;
const headers = new Map<UserRole, Record<string, string>>();
/** Newest subscription first, as the API lists them. */
let built: BuiltOrder[];

const db = () => t.container.database.db;
const get = (url: string, role: UserRole = 'ADMIN') => t.app.inject({ method: 'GET', url, headers: headers.get(role)! });
const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  for (const role of ROLES) headers.set(role, await authHeader(t.env, (await buildUser(db(), tenant, { role })).user));
  const pending = await buildOrder(db(), tenant);
  const failed = await buildOrder(db(), tenant, {
    customer: pending.customer,
    subscriptionStatus: 'FAILED',
    jobStatuses: { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'FAILED' },
  });
  const active = await buildOrder(db(), tenant, {
    subscriptionStatus: 'ACTIVE',
    jobStatuses: { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'SUCCEEDED', VERIFY_AND_ACTIVATE: 'SUCCEEDED' },
  });
  built = [pending, failed, active].sort(
    (a, b) => b.subscription.createdAt.getTime() - a.subscription.createdAt.getTime() || (b.subscription.id > a.subscription.id ? 1 : -1),
  );
  await buildOrder(db(), await buildTenant(db()));
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/subscriptions', () => {
  it("lists the tenant's subscriptions newest first", async () => {
    const res = await get('/api/subscriptions');
    expect(res.statusCode, res.body).toBe(200);
    expect(ids(res.json())).toEqual(built.map((b) => b.subscription.id));
    const { subscription } = built[0]!;
    expect(res.json().items[0]).toEqual({
      id: subscription.id,
      status: subscription.status,
      statusReason: null,
      customerId: subscription.customerId,
      productId: subscription.productId,
      priceId: subscription.priceId,
      orderId: subscription.orderId,
      currentPeriodStart: subscription.currentPeriodStart.toISOString(),
      currentPeriodEnd: null,
      stripeSubscriptionId: null,
      billingMode: 'MPANEL',
      paidThrough: null,
      suspensionReason: null,
      billingHoldUntil: null,
      suspendedAt: null,
      terminatedAt: null,
      createdAt: subscription.createdAt.toISOString(),
      updatedAt: subscription.updatedAt.toISOString(),
    });
  });

  it('filters by status and by customer', async () => {
    const failed = built.find((b) => b.subscription.status === 'FAILED')!;
    expect(ids((await get('/api/subscriptions?status=FAILED')).json())).toEqual([failed.subscription.id]);
    const ofCustomer = built.filter((b) => b.customer.id === failed.customer.id).map((b) => b.subscription.id);
    expect(ofCustomer).toHaveLength(2);
    expect(ids((await get(`/api/subscriptions?customerId=${failed.customer.id}`)).json())).toEqual(ofCustomer);
    expect(ids((await get(`/api/subscriptions?customerId=${failed.customer.id}&status=ACTIVE`)).json())).toEqual([]);
  });

  it('pages with a cursor', async () => {
    const first = (await get('/api/subscriptions?limit=1')).json();
    const second = (await get(`/api/subscriptions?limit=1&cursor=${first.nextCursor}`)).json();
    const third = (await get(`/api/subscriptions?limit=1&cursor=${second.nextCursor}`)).json();
    expect([...ids(first), ...ids(second), ...ids(third)]).toEqual(built.map((b) => b.subscription.id));
    expect(third.nextCursor).toBeNull();
  });

  it('every role can read; a bad status is 400', async () => {
    for (const role of ROLES) expect((await get('/api/subscriptions', role)).statusCode, role).toBe(200);
    expect((await get('/api/subscriptions?status=LAPSED')).statusCode).toBe(400);
  });
});

describe('GET /api/subscriptions/:id', () => {
  it('shows status, customer, product and price, domain, and the jobs in step order with their history', async () => {
    const failed = built.find((b) => b.subscription.status === 'FAILED')!;
    const res = await get(`/api/subscriptions/${failed.subscription.id}`, 'READ_ONLY');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({
      id: failed.subscription.id,
      status: 'FAILED',
      customer: { id: failed.customer.id, email: failed.customer.email, name: failed.customer.name },
      product: { id: failed.subscription.productId, type: 'SHARED_HOSTING', name: expect.any(String) },
      price: { id: failed.subscription.priceId, amount: 999, currency: 'USD', interval: 'MONTH' },
      domains: [{ id: failed.domain.id, name: failed.domain.name, status: 'PENDING' }],
    });
    expect(body.jobs.map((job: { type: string; status: string }) => [job.type, job.status])).toEqual([
      ['PROVISION_DNS', 'SUCCEEDED'],
      ['PROVISION_HOSTING', 'FAILED'],
      ['VERIFY_AND_ACTIVATE', 'PENDING'],
    ]);
    const hosting = body.jobs[1];
    expect(hosting).toMatchObject({ lastError: 'simulated PROVISION_HOSTING failure', attempts: 5, maxAttempts: 5, dependsOn: [failed.jobs[0]!.id] });
    expect(hosting.history).toEqual([
      { status: 'PENDING', at: expect.any(String) },
      { status: 'FAILED', at: expect.any(String), attempt: 5, error: 'simulated PROVISION_HOSTING failure' },
    ]);
  });

  it('404 for an unknown id', async () => {
    const res = await get('/api/subscriptions/00000000-0000-4000-8000-000000000000');
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('NOT_FOUND');
  });
});
