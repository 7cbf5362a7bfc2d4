import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerLogins, customers, twoFactorFactors, type Customer, type Tenant, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildOrder, buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildCustomerLogin } from '../../../test/helpers/portal.js';

const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

let t: TestApp;
let tenant: Tenant;
const headers = new Map<UserRole, Record<string, string>>();
const db = () => t.container.database.db;
const get = (url: string, role: UserRole = 'ADMIN') => t.app.inject({ method: 'GET', url, headers: headers.get(role)! });
const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);

// Explicit, distinct creation times: the listing order must not depend on two inserts' clock ticks.
let created = Date.now() - 60_000;
async function addCustomer(values: { email: string; name: string; company?: string; deletedAt?: Date }): Promise<Customer> {
  created += 1000;
  const [row] = await withTenant(db(), tenant.id, (tx) =>
    tx
      .insert(customers)
      .values({ tenantId: tenant.id, createdAt: new Date(created), ...values })
      .returning(),
  );
  return row!;
}

let ada: Customer;
let bob: Customer;
let percent: Customer;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  for (const role of ROLES) headers.set(role, await authHeader(t.env, (await buildUser(db(), tenant, { role })).user));
  ada = await addCustomer({ email: 'ada@lovelace.example', name: 'Ada Lovelace', company: 'Analytical Engines' });
  bob = await addCustomer({ email: 'bob@builder.example', name: 'Bob Builder' });
  percent = await addCustomer({ email: 'sale@shop.example', name: '50% Off Shop' });
  await addCustomer({ email: 'gone@deleted.example', name: 'Ada Deleted', deletedAt: new Date() });
  const elsewhere = await buildTenant(db());
  await withTenant(db(), elsewhere.id, (tx) => tx.insert(customers).values({ tenantId: elsewhere.id, email: 'ada@other.example', name: 'Ada Elsewhere' }));
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/customers', () => {
  it("lists the tenant's live customers newest first", async () => {
    const res = await get('/api/customers');
    expect(res.statusCode, res.body).toBe(200);
    expect(ids(res.json())).toEqual([percent.id, bob.id, ada.id]);
    expect(res.json().items[2]).toEqual({
      id: ada.id,
      email: 'ada@lovelace.example',
      name: 'Ada Lovelace',
      company: 'Analytical Engines',
      phone: null,
      stripeCustomerId: null,
      locale: null,
      createdAt: ada.createdAt.toISOString(),
      updatedAt: ada.updatedAt.toISOString(),
    });
  });

  it('q matches a substring of the email or the name, case-insensitively, with LIKE wildcards taken literally', async () => {
    expect(ids((await get('/api/customers?q=ADA')).json())).toEqual([ada.id]);
    expect(ids((await get('/api/customers?q=builder.example')).json())).toEqual([bob.id]);
    expect(ids((await get('/api/customers?q=50%25')).json())).toEqual([percent.id]);
    // `_` would match any one character in LIKE; here it matches nothing.
    expect(ids((await get('/api/customers?q=_')).json())).toEqual([]);
  });

  it('pages with a cursor', async () => {
    const first = (await get('/api/customers?limit=2')).json();
    expect(ids(first)).toEqual([percent.id, bob.id]);
    const second = (await get(`/api/customers?limit=2&cursor=${first.nextCursor}`)).json();
    expect(ids(second)).toEqual([ada.id]);
    expect(second.nextCursor).toBeNull();
  });

  it('every role can read; a bad query is 400', async () => {
    for (const role of ROLES) expect((await get('/api/customers', role)).statusCode, role).toBe(200);
    expect((await get('/api/customers?q=')).statusCode).toBe(400);
    expect((await get('/api/customers?email=x')).statusCode).toBe(400);
  });
});

describe('GET /api/customers/:id', () => {
  it('shows the customer with their subscriptions, newest first', async () => {
    const first = await buildOrder(db(), tenant);
    const second = await buildOrder(db(), tenant, { customer: first.customer, subscriptionStatus: 'ACTIVE' });
    const res = await get(`/api/customers/${first.customer.id}`, 'READ_ONLY');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id: first.customer.id, email: first.customer.email, name: first.customer.name });
    const newestFirst = [first, second].sort(
      (a, b) => b.subscription.createdAt.getTime() - a.subscription.createdAt.getTime() || (b.subscription.id > a.subscription.id ? 1 : -1),
    );
    expect(body.subscriptions.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual(
      newestFirst.map((b) => [b.subscription.id, b.subscription.status]),
    );
    expect(body.subscriptions.find((s: { id: string }) => s.id === second.subscription.id)).toMatchObject({
      status: 'ACTIVE',
      customerId: first.customer.id,
      orderId: second.order.id,
      priceId: second.order.priceId,
    });
  });

  it('404 for a deleted customer and for an unknown id', async () => {
    const [deleted] = await withTenant(db(), tenant.id, (tx) => tx.select().from(customers).where(eq(customers.email, 'gone@deleted.example')));
    expect((await get(`/api/customers/${deleted!.id}`)).statusCode).toBe(404);
    expect((await get('/api/customers/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
  });
});

describe('GET /api/customers/:id/contacts', () => {
  it("lists the customer's portal logins with the state of their access, oldest first, and no secret", async () => {
    const { customer } = await buildOrder(db(), tenant);
    const lastLoginAt = new Date('2026-11-02T09:30:00.000Z');
    const owner = await buildCustomerLogin(db(), tenant, customer, { email: 'owner@contacts.example' });
    const billing = await buildCustomerLogin(db(), tenant, customer, { role: 'BILLING', email: 'billing@contacts.example' });
    const removed = await buildCustomerLogin(db(), tenant, customer, { role: 'TECHNICAL', email: 'removed@contacts.example' });
    await withTenant(db(), tenant.id, async (tx) => {
      await tx.update(customerLogins).set({ lastLoginAt, createdAt: new Date(Date.now() - 2000) }).where(eq(customerLogins.id, owner.id));
      // Invited, not accepted yet; a factor begun but never confirmed does not count as on.
      await tx.update(customerLogins).set({ passwordHash: null, createdAt: new Date(Date.now() - 1000) }).where(eq(customerLogins.id, billing.id));
      await tx.update(customerLogins).set({ deletedAt: new Date(), isActive: false }).where(eq(customerLogins.id, removed.id));
      await tx.insert(twoFactorFactors).values([
        { tenantId: tenant.id, customerId: customer.id, customerLoginId: owner.id, secretSealed: 'sealed-owner-secret', confirmedAt: new Date() },
        { tenantId: tenant.id, customerId: customer.id, customerLoginId: billing.id, secretSealed: 'sealed-billing-secret' },
      ]);
    });

    const res = await get(`/api/customers/${customer.id}/contacts`, 'READ_ONLY');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      items: [
        { id: owner.id, name: 'Portal User', email: 'owner@contacts.example', role: 'OWNER', invitation: 'ACCEPTED', active: true, twoFactorEnabled: true, lastLoginAt: lastLoginAt.toISOString(), createdAt: expect.any(String) },
        { id: billing.id, name: 'Portal User', email: 'billing@contacts.example', role: 'BILLING', invitation: 'PENDING', active: true, twoFactorEnabled: false, lastLoginAt: null, createdAt: expect.any(String) },
      ],
    });
    expect(res.body).not.toMatch(/sealed-|\$2[aby]\$|passwordHash|secret/);
    for (const role of ROLES) expect((await get(`/api/customers/${customer.id}/contacts`, role)).statusCode, role).toBe(200);
  });

  it('an empty list for a customer with no portal login; 404 for a deleted, unknown or other tenant’s customer', async () => {
    const { customer } = await buildOrder(db(), tenant);
    const res = await get(`/api/customers/${customer.id}/contacts`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ items: [] });

    const [deleted] = await withTenant(db(), tenant.id, (tx) => tx.select().from(customers).where(eq(customers.email, 'gone@deleted.example')));
    expect((await get(`/api/customers/${deleted!.id}/contacts`)).statusCode).toBe(404);
    expect((await get('/api/customers/00000000-0000-4000-8000-000000000000/contacts')).statusCode).toBe(404);
    expect((await get('/api/customers/not-a-uuid/contacts')).statusCode).toBe(400);

    // Staff of another tenant: the customer (with a login) does not exist for them.
    await buildCustomerLogin(db(), tenant, customer);
    const other = await buildTenant(db());
    const outsider = await authHeader(t.env, (await buildUser(db(), other, { role: 'ADMIN' })).user);
    const denied = await t.app.inject({ method: 'GET', url: `/api/customers/${customer.id}/contacts`, headers: outsider });
    expect(denied.statusCode).toBe(404);
    expect(denied.body).not.toContain(customer.email);
  });
});
