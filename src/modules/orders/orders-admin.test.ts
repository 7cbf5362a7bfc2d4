import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tenant, UserRole } from '../../db/schema/index.js';
import { buildOrder, buildTenant, buildUser, type BuiltOrder } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';

const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

let t: TestApp;
let tenant: Tenant;
const headers = new Map<UserRole, Record<string, string>>();
/** Newest first, as the API lists them. */
let built: BuiltOrder[];

const db = () => t.container.database.db;
const get = (url: string, role: UserRole = 'ADMIN') => t.app.inject({ method: 'GET', url, headers: headers.get(role)! });
const newestFirst = <Row extends { order: { id: string; createdAt: Date } }>(rows: Row[]) =>
  [...rows].sort((a, b) => b.order.createdAt.getTime() - a.order.createdAt.getTime() || (b.order.id > a.order.id ? 1 : -1));

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  for (const role of ROLES) headers.set(role, await authHeader(t.env, (await buildUser(db(), tenant, { role })).user));
  const first = await buildOrder(db(), tenant);
  const repeat = await buildOrder(db(), tenant, { customer: first.customer, orderStatus: 'FULFILLED', subscriptionStatus: 'ACTIVE' });
  const other = await buildOrder(db(), tenant);
  built = newestFirst([first, repeat, other]);
  // Another tenant's order never shows.
  await buildOrder(db(), await buildTenant(db()));
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/orders', () => {
  it("lists the tenant's orders newest first, money in minor units, no internal hash", async () => {
    const res = await get('/api/orders');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.items.map((item: { id: string }) => item.id)).toEqual(built.map((b) => b.order.id));
    expect(body.nextCursor).toBeNull();
    const first = built[0]!.order;
    expect(body.items[0]).toEqual({
      id: first.id,
      status: first.status,
      customerId: first.customerId,
      priceId: first.priceId,
      paymentProvider: 'stripe',
      paymentReference: first.paymentReference,
      amount: 999,
      currency: 'USD',
      domainName: first.domainName,
      stripeCustomerId: null,
      stripeSubscriptionId: null,
      metadata: null,
      fulfilledAt: null,
      createdAt: first.createdAt.toISOString(),
      updatedAt: first.updatedAt.toISOString(),
    });
    expect(res.body).not.toContain('requestHash');
  });

  it('filters by status and by customer', async () => {
    const fulfilled = await get('/api/orders?status=FULFILLED');
    expect(fulfilled.json().items.map((item: { status: string }) => item.status)).toEqual(['FULFILLED']);

    const customerId = built.find((b) => b.order.status === 'FULFILLED')!.customer.id;
    const ofCustomer = await get(`/api/orders?customerId=${customerId}`);
    const expected = built.filter((b) => b.customer.id === customerId).map((b) => b.order.id);
    expect(expected).toHaveLength(2);
    expect(ofCustomer.json().items.map((item: { id: string }) => item.id)).toEqual(expected);

    const both = await get(`/api/orders?customerId=${customerId}&status=PAID`);
    expect(both.json().items).toHaveLength(1);
  });

  it('pages with a cursor: consecutive pages are disjoint and cover every order', async () => {
    const first = (await get('/api/orders?limit=2')).json();
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = (await get(`/api/orders?limit=2&cursor=${first.nextCursor}`)).json();
    expect(second.nextCursor).toBeNull();
    expect([...first.items, ...second.items].map((item: { id: string }) => item.id)).toEqual(built.map((b) => b.order.id));
  });

  it('rejects unknown filters, a bad status and a forged cursor with 400', async () => {
    for (const query of ['status=SHIPPED', 'customerId=nope', 'tenantId=x', 'cursor=not-a-cursor', 'limit=0']) {
      const res = await get(`/api/orders?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('every role can read; no token is 401', async () => {
    for (const role of ROLES) expect((await get('/api/orders', role)).statusCode, role).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/orders' })).statusCode).toBe(401);
  });
});

describe('GET /api/orders/:id', () => {
  it('shows an order made by the marketing site with its customer, subscription and jobs in step order', async () => {
    const { price } = await buildOffer(db(), tenant);
    const raw = JSON.stringify(orderPayload(tenant, price, { mailboxes: [{ localPart: 'info' }] }));
    const placed = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
    expect(placed.statusCode, placed.body).toBe(201);
    const accepted = placed.json();
    const sent = JSON.parse(raw);

    const res = await get(`/api/orders/${accepted.orderId}`, 'READ_ONLY');
    expect(res.statusCode, res.body).toBe(200);
    const order = res.json();
    expect(order).toMatchObject({
      id: accepted.orderId,
      status: 'PAID',
      paymentReference: sent.payment.reference,
      amount: price.amount,
      currency: price.currency,
      domainName: sent.domain,
      metadata: { mailboxes: ['info'] },
      customer: { email: sent.customer.email, name: sent.customer.name, company: null },
      subscription: { id: accepted.subscriptionId, status: 'PENDING', priceId: price.id, orderId: accepted.orderId },
    });
    expect(order.customerId).toBe(order.customer.id);
    expect(order.jobs.map((job: { id: string; type: string }) => [job.id, job.type])).toEqual(
      accepted.jobs.map((job: { id: string; type: string }) => [job.id, job.type]),
    );
    expect(order.jobs.map((job: { type: string }) => job.type)).toEqual(['PROVISION_DNS', 'PROVISION_HOSTING', 'PROVISION_MAIL', 'VERIFY_AND_ACTIVATE']);
    // Handed to the queue at intake: the first step is QUEUED, the others wait for it.
    expect(order.jobs.map((job: { status: string }) => job.status)).toEqual(['QUEUED', 'PENDING', 'PENDING', 'PENDING']);
    expect(order.jobs[0]).not.toHaveProperty('payload');
  });

  it('404 problem for an unknown id, 400 for a malformed one', async () => {
    const missing = await get('/api/orders/00000000-0000-4000-8000-000000000000');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('NOT_FOUND');
    expect((await get('/api/orders/123')).statusCode).toBe(400);
  });
});
