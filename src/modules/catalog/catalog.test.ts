import { randomBytes } from 'node:crypto';
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, customers, prices, products, subscriptions, type Price, type Product, type Tenant, type User, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildPrice, buildProduct, buildTenant, buildUser } from '../../../test/factories.js';
import { findOrderablePrice } from './prices.service.js';
import { parseFeatures, type ProductResponse } from './catalog.types.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

async function tenantWith(role: UserRole = 'ADMIN'): Promise<{ tenant: Tenant; user: User; headers: Record<string, string> }> {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role });
  return { tenant, user, headers: await authHeader(t.env, user) };
}

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) {
  return payload === undefined
    ? t.app.inject({ method, url, headers })
    : t.app.inject({ method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
}

const hosting = (overrides: Record<string, unknown> = {}) => ({
  name: `Starter ${randomBytes(3).toString('hex')}`,
  type: 'SHARED_HOSTING',
  features: { diskQuotaMb: 10_240, mailboxes: 5, sslIncluded: true },
  ...overrides,
});

const fieldsOf = (body: { errors?: { field: string; message: string }[] }) => (body.errors ?? []).map((error) => error.field).sort();

async function productCount(tenantId: string): Promise<number> {
  const [row] = await withTenant(db(), tenantId, (tx) => tx.select({ n: count() }).from(products));
  return row?.n ?? Number.NaN;
}

async function auditRows(tenantId: string, action: string) {
  return withTenant(db(), tenantId, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenantId), eq(auditLogs.action, action))).orderBy(auditLogs.seq));
}

/** A customer and a subscription on `price`, inserted directly (the orders flow is not under test here). */
async function subscribe(tenant: Tenant, product: Product, price: Price) {
  return withTenant(db(), tenant.id, async (tx) => {
    const [customer] = await tx
      .insert(customers)
      .values({ tenantId: tenant.id, email: `c-${randomBytes(4).toString('hex')}@example.test`, name: 'A Customer' })
      .returning();
    const [subscription] = await tx
      .insert(subscriptions)
      .values({ tenantId: tenant.id, customerId: customer!.id, productId: product.id, priceId: price.id, status: 'ACTIVE' })
      .returning();
    return subscription!;
  });
}

describe('POST /api/products', () => {
  it('creates a product with its prices (201), audited with the prices', async () => {
    const { tenant, headers } = await tenantWith();
    const payload = hosting({
      description: 'For small sites',
      prices: [
        { amount: 9_900, currency: 'USD', interval: 'YEAR' },
        { amount: 999, currency: 'USD', interval: 'MONTH', isActive: false },
      ],
    });
    const res = await call('POST', '/api/products', headers, payload);
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      name: payload.name,
      description: 'For small sites',
      type: 'SHARED_HOSTING',
      features: { diskQuotaMb: 10_240, mailboxes: 5, sslIncluded: true },
      isActive: true,
      isPublic: true,
      deletedAt: null,
    });
    expect(body.prices.map((p: Price) => [p.amount, p.interval, p.isActive])).toEqual([
      [999, 'MONTH', false],
      [9_900, 'YEAR', true],
    ]);
    expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);

    const [audit] = await auditRows(tenant.id, 'product.created');
    expect(audit?.targetId).toBe(body.id);
    expect(audit?.after).toMatchObject({ name: payload.name, type: 'SHARED_HOSTING', prices: [{ amount: 999 }, { amount: 9_900 }] });

    const read = await call('GET', `/api/products/${body.id}`, headers);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(body);
  });

  it('accepts every product type with its own features, and ONE_TIME only for domains', async () => {
    const { headers } = await tenantWith();
    const cases = [
      { type: 'VPS', features: { vcpus: 2, memoryMb: 2048, diskGb: 40 } },
      { type: 'EMAIL', features: { mailboxes: 10, mailboxQuotaMb: 1024 } },
      { type: 'DNS', features: { zones: 3 } },
      { type: 'DOMAIN', features: { tld: 'co-uk', registrationYears: 2 }, prices: [{ amount: 1_200, currency: 'EUR', interval: 'ONE_TIME' }] },
      { type: 'SHARED_HOSTING', features: { diskQuotaMb: 1, mailboxes: 0, sslIncluded: false, bandwidthGb: 0, databases: 3 } },
    ];
    for (const product of cases) {
      const res = await call('POST', '/api/products', headers, { name: `A ${product.type}`, ...product });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().features).toEqual(product.features);
    }
  });

  describe('400 naming each bad field, and nothing is written', () => {
    const cases: { name: string; payload: () => Record<string, unknown>; fields: string[]; message?: RegExp }[] = [
      { name: 'negative amount', payload: () => hosting({ prices: [{ amount: -1, currency: 'USD', interval: 'MONTH' }] }), fields: ['body/prices/0/amount'] },
      { name: 'fractional amount', payload: () => hosting({ prices: [{ amount: 9.99, currency: 'USD', interval: 'MONTH' }] }), fields: ['body/prices/0/amount'] },
      { name: 'amount too large', payload: () => hosting({ prices: [{ amount: 100_000_001, currency: 'USD', interval: 'MONTH' }] }), fields: ['body/prices/0/amount'] },
      { name: 'unknown currency', payload: () => hosting({ prices: [{ amount: 100, currency: 'XYZ', interval: 'MONTH' }] }), fields: ['body/prices/0/currency'], message: /unknown currency/ },
      { name: 'lower-case currency', payload: () => hosting({ prices: [{ amount: 100, currency: 'usd', interval: 'MONTH' }] }), fields: ['body/prices/0/currency'], message: /ISO 4217/ },
      { name: 'unknown feature key', payload: () => hosting({ features: { diskQuotaMb: 1, mailboxes: 1, sslIncluded: true, colour: 'blue' } }), fields: ['body/features/colour'], message: /not a feature/ },
      { name: 'feature out of range', payload: () => hosting({ features: { diskQuotaMb: 0, mailboxes: 1, sslIncluded: true } }), fields: ['body/features/diskQuotaMb'] },
      { name: "another type's features", payload: () => hosting({ features: { vcpus: 2, memoryMb: 2048, diskGb: 40 } }), fields: ['body/features/diskGb', 'body/features/diskQuotaMb', 'body/features/mailboxes', 'body/features/memoryMb', 'body/features/sslIncluded', 'body/features/vcpus'] },
      { name: 'bad tld', payload: () => ({ name: 'Dot com', type: 'DOMAIN', features: { tld: '.COM' } }), fields: ['body/features/tld'] },
      { name: 'name of 121 characters', payload: () => hosting({ name: 'n'.repeat(121) }), fields: ['body/name'] },
      { name: 'blank name', payload: () => hosting({ name: '   ' }), fields: ['body/name'] },
      { name: 'unknown type', payload: () => hosting({ type: 'GAME_SERVER' }), fields: ['body/type'] },
      { name: 'ONE_TIME on a hosting product', payload: () => hosting({ prices: [{ amount: 100, currency: 'USD', interval: 'ONE_TIME' }] }), fields: ['body/prices/0/interval'], message: /ONE_TIME is not allowed/ },
      { name: 'unknown top-level key', payload: () => hosting({ tenantId: '00000000-0000-0000-0000-000000000000' }), fields: ['body'], message: /tenantId/ },
    ];
    for (const { name, payload, fields, message } of cases) {
      it(name, async () => {
        const { tenant, headers } = await tenantWith();
        const res = await call('POST', '/api/products', headers, payload());
        expect(res.statusCode, res.body).toBe(400);
        expect(res.headers['content-type']).toContain('application/problem+json');
        const body = res.json();
        expect(body.code).toBe('VALIDATION_FAILED');
        expect(fieldsOf(body)).toEqual(fields);
        if (message) expect(body.errors[0].message).toMatch(message);
        expect(await productCount(tenant.id)).toBe(0);
      });
    }
  });

  it('accepts a name of exactly 120 characters', async () => {
    const { headers } = await tenantWith();
    expect((await call('POST', '/api/products', headers, hosting({ name: 'n'.repeat(120) }))).statusCode).toBe(201);
  });

  it('refuses a second product with the same name, ignoring case (409 on body/name)', async () => {
    const { headers } = await tenantWith();
    expect((await call('POST', '/api/products', headers, hosting({ name: 'Business' }))).statusCode).toBe(201);
    const res = await call('POST', '/api/products', headers, hosting({ name: 'BUSINESS' }));
    expect(res.statusCode).toBe(409);
    expect(fieldsOf(res.json())).toEqual(['body/name']);
    // Another tenant may use the same name.
    expect((await call('POST', '/api/products', (await tenantWith()).headers, hosting({ name: 'Business' }))).statusCode).toBe(201);
  });
});

describe('GET /api/products', () => {
  it('filters by type, isActive, isPublic and name, pages with a cursor, and includes prices', async () => {
    const { tenant, headers } = await tenantWith('READ_ONLY');
    const basic = await buildProduct(db(), tenant, { name: 'Basic 100%' });
    await buildPrice(db(), tenant, basic, { amount: 500 });
    await buildProduct(db(), tenant, { name: 'Hidden', isPublic: false });
    await buildProduct(db(), tenant, { name: 'Retired', isActive: false });
    await buildProduct(db(), tenant, { name: 'Big VPS', type: 'VPS' });
    const list = async (query: string) => {
      const res = await call('GET', `/api/products${query}`, headers);
      expect(res.statusCode, res.body).toBe(200);
      const page: { items: ProductResponse[]; nextCursor: string | null } = res.json();
      return page;
    };

    const all = await list('');
    expect(all.items.map((p) => p.name)).toEqual(['Big VPS', 'Retired', 'Hidden', 'Basic 100%']);
    expect(all.nextCursor).toBeNull();
    expect(all.items.at(-1)?.prices).toMatchObject([{ amount: 500, currency: 'USD', interval: 'MONTH', isActive: true }]);

    expect((await list('?type=VPS')).items.map((p) => p.name)).toEqual(['Big VPS']);
    expect((await list('?isActive=false')).items.map((p) => p.name)).toEqual(['Retired']);
    expect((await list('?isPublic=false')).items.map((p) => p.name)).toEqual(['Hidden']);
    expect((await list('?isActive=true&isPublic=true&type=SHARED_HOSTING')).items.map((p) => p.name)).toEqual(['Basic 100%']);
    expect((await list('?q=basic')).items.map((p) => p.name)).toEqual(['Basic 100%']);
    // % and _ are literal characters in q, not patterns.
    expect((await list(`?q=${encodeURIComponent('100%')}`)).items).toHaveLength(1);
    expect((await list(`?q=${encodeURIComponent('%')}`)).items).toHaveLength(1);
    expect((await list('?q=_')).items).toHaveLength(0);

    const first = await list('?limit=3');
    expect(first.items).toHaveLength(3);
    const second = await list(`?limit=3&cursor=${first.nextCursor}`);
    expect(second.items.map((p) => p.name)).toEqual(['Basic 100%']);
    expect(second.nextCursor).toBeNull();
  });

  it('rejects a bad filter value with the field', async () => {
    const { headers } = await tenantWith();
    const res = await call('GET', '/api/products?isActive=yes&type=BOAT', headers);
    expect(res.statusCode).toBe(400);
    expect(fieldsOf(res.json())).toEqual(['querystring/isActive', 'querystring/type']);
  });

  it('GET /api/products/:id answers 404 for an unknown id', async () => {
    const { headers } = await tenantWith();
    const res = await call('GET', '/api/products/00000000-0000-4000-8000-000000000000', headers);
    expect(res.statusCode).toBe(404);
  });
});

describe('PATCH /api/products/:id', () => {
  it('changes the given fields, audited with before and after', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant, { name: 'Old name' });
    const res = await call('PATCH', `/api/products/${product.id}`, headers, {
      name: 'New name',
      description: 'Now with more disk',
      isPublic: false,
      features: { diskQuotaMb: 20_480, mailboxes: 10, sslIncluded: true, databases: 2 },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ name: 'New name', description: 'Now with more disk', isPublic: false, isActive: true, features: { diskQuotaMb: 20_480, databases: 2 } });
    const [audit] = await auditRows(tenant.id, 'product.updated');
    expect(audit?.before).toMatchObject({ name: 'Old name', isPublic: true, features: { diskQuotaMb: 10_240 } });
    expect(audit?.after).toMatchObject({ name: 'New name', isPublic: false, features: { diskQuotaMb: 20_480 } });
  });

  it("validates features against the product's stored type", async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant, { type: 'EMAIL' });
    const res = await call('PATCH', `/api/products/${product.id}`, headers, { features: { mailboxes: 5, mailboxQuotaMb: 100, sslIncluded: true } });
    expect(res.statusCode).toBe(400);
    expect(fieldsOf(res.json())).toEqual(['body/features/sslIncluded']);
    const missing = await call('PATCH', `/api/products/${product.id}`, headers, { features: { mailboxes: 5 } });
    expect(fieldsOf(missing.json())).toEqual(['body/features/mailboxQuotaMb']);
    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(products).where(eq(products.id, product.id)));
    expect(row?.features).toEqual(product.features);
  });

  it('refuses to change the type, and an empty patch changes nothing', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const res = await call('PATCH', `/api/products/${product.id}`, headers, { type: 'VPS' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].message).toMatch(/type/);
    const empty = await call('PATCH', `/api/products/${product.id}`, headers, {});
    expect(empty.statusCode).toBe(200);
    expect(empty.json().updatedAt).toBe(product.updatedAt.toISOString());
    expect(await auditRows(tenant.id, 'product.updated')).toHaveLength(0);
  });

  it('rejects a name of 121 characters and a name already taken', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    await buildProduct(db(), tenant, { name: 'Taken' });
    const long = await call('PATCH', `/api/products/${product.id}`, headers, { name: 'x'.repeat(121) });
    expect(fieldsOf(long.json())).toEqual(['body/name']);
    const taken = await call('PATCH', `/api/products/${product.id}`, headers, { name: 'taken' });
    expect(taken.statusCode).toBe(409);
    expect(fieldsOf(taken.json())).toEqual(['body/name']);
  });
});

describe('DELETE /api/products/:id (soft delete)', () => {
  it('hides the product from the default list, keeps it for GET by id and includeDeleted, leaves subscriptions alone', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant, { name: 'Legacy' });
    const price = await buildPrice(db(), tenant, product);
    const subscription = await subscribe(tenant, product, price);

    const res = await call('DELETE', `/api/products/${product.id}`, headers);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');

    expect((await call('GET', '/api/products', headers)).json().items).toEqual([]);
    const withDeleted = (await call('GET', '/api/products?includeDeleted=true', headers)).json();
    expect(withDeleted.items.map((p: Product) => p.id)).toEqual([product.id]);
    const byId = await call('GET', `/api/products/${product.id}`, headers);
    expect(byId.statusCode).toBe(200);
    expect(byId.json().deletedAt).not.toBeNull();
    expect(byId.json().prices).toHaveLength(1);

    const [after] = await withTenant(db(), tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, subscription.id)));
    expect(after).toEqual(subscription);
    const [priceAfter] = await withTenant(db(), tenant.id, (tx) => tx.select().from(prices).where(eq(prices.id, price.id)));
    expect(priceAfter).toEqual(price);

    const [audit] = await auditRows(tenant.id, 'product.deleted');
    expect(audit?.before).toMatchObject({ deletedAt: null });
    expect(audit?.after).toMatchObject({ deletedAt: expect.any(String) });

    // Read-only from now on.
    expect((await call('DELETE', `/api/products/${product.id}`, headers)).statusCode).toBe(409);
    expect((await call('PATCH', `/api/products/${product.id}`, headers, { isActive: false })).statusCode).toBe(409);
    expect((await call('POST', `/api/products/${product.id}/prices`, headers, { amount: 1, currency: 'USD', interval: 'MONTH' })).statusCode).toBe(409);
    expect((await call('PATCH', `/api/prices/${price.id}`, headers, { isActive: false })).statusCode).toBe(409);

    // The name is free again.
    expect((await call('POST', '/api/products', headers, hosting({ name: 'Legacy' }))).statusCode).toBe(201);
  });

  it('takes the product out of new orders', async () => {
    const { tenant } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const price = await buildPrice(db(), tenant, product);
    const inactivePrice = await buildPrice(db(), tenant, product, { isActive: false });
    const privateProduct = await buildProduct(db(), tenant, { isPublic: false });
    const privatePrice = await buildPrice(db(), tenant, privateProduct);
    const orderable = (id: string) => withTenant(db(), tenant.id, (tx) => findOrderablePrice(tx, tenant.id, id));

    expect((await orderable(price.id))?.product.id).toBe(product.id);
    expect(await orderable(inactivePrice.id)).toBeUndefined();
    expect((await orderable(privatePrice.id))?.price.id).toBe(privatePrice.id);
    await withTenant(db(), tenant.id, (tx) => tx.update(products).set({ deletedAt: new Date() }).where(eq(products.id, product.id)));
    expect(await orderable(price.id)).toBeUndefined();
  });
});

describe('prices', () => {
  it('POST /api/products/:id/prices adds a price (201), audited; interval rules per type', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const res = await call('POST', `/api/products/${product.id}/prices`, headers, { amount: 0, currency: 'JPY', interval: 'YEAR' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ productId: product.id, amount: 0, currency: 'JPY', interval: 'YEAR', isActive: true });
    const [audit] = await auditRows(tenant.id, 'price.created');
    expect(audit?.after).toMatchObject({ id: res.json().id, amount: 0, currency: 'JPY' });

    const oneTime = await call('POST', `/api/products/${product.id}/prices`, headers, { amount: 100, currency: 'USD', interval: 'ONE_TIME' });
    expect(oneTime.statusCode).toBe(400);
    expect(fieldsOf(oneTime.json())).toEqual(['body/interval']);

    const domain = await buildProduct(db(), tenant, { type: 'DOMAIN' });
    expect((await call('POST', `/api/products/${domain.id}/prices`, headers, { amount: 1_500, currency: 'GBP', interval: 'ONE_TIME' })).statusCode).toBe(201);
  });

  it('POST prices: 400 for each bad field, 404 for an unknown product', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const bad = await call('POST', `/api/products/${product.id}/prices`, headers, { amount: -5, currency: 'XYZ', interval: 'WEEK' });
    expect(bad.statusCode).toBe(400);
    expect(fieldsOf(bad.json())).toEqual(['body/amount', 'body/currency', 'body/interval']);
    expect(bad.json().errors.find((e: { field: string }) => e.field === 'body/currency').message).toBe('unknown currency');
    const unknown = await call('POST', '/api/products/00000000-0000-4000-8000-000000000000/prices', headers, { amount: 5, currency: 'USD', interval: 'MONTH' });
    expect(unknown.statusCode).toBe(404);
  });

  it('PATCH /api/prices/:id changes amount and currency while nobody subscribes, audited', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const price = await buildPrice(db(), tenant, product, { amount: 1_000 });
    const res = await call('PATCH', `/api/prices/${price.id}`, headers, { amount: 1_200, currency: 'EUR' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ amount: 1_200, currency: 'EUR', interval: 'MONTH' });
    const [audit] = await auditRows(tenant.id, 'price.updated');
    expect(audit?.before).toMatchObject({ amount: 1_000, currency: 'USD' });
    expect(audit?.after).toMatchObject({ amount: 1_200, currency: 'EUR' });
  });

  it('PATCH /api/prices/:id refuses an interval and bad values', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const price = await buildPrice(db(), tenant, product);
    const interval = await call('PATCH', `/api/prices/${price.id}`, headers, { interval: 'YEAR' });
    expect(interval.statusCode).toBe(400);
    expect(interval.json().errors[0].message).toMatch(/interval/);
    const bad = await call('PATCH', `/api/prices/${price.id}`, headers, { amount: -1, currency: 'XYZ' });
    expect(fieldsOf(bad.json())).toEqual(['body/amount', 'body/currency']);
  });

  it('a price with subscriptions keeps its amount and currency (409: create a new price), but can be deactivated', async () => {
    const { tenant, headers } = await tenantWith();
    const product = await buildProduct(db(), tenant);
    const price = await buildPrice(db(), tenant, product, { amount: 1_000, currency: 'USD' });
    await subscribe(tenant, product, price);

    for (const [change, fields] of [
      [{ amount: 1_100 }, ['body/amount']],
      [{ currency: 'EUR' }, ['body/currency']],
      [{ amount: 1_100, currency: 'EUR', isActive: false }, ['body/amount', 'body/currency']],
    ] as const) {
      const res = await call('PATCH', `/api/prices/${price.id}`, headers, change);
      expect(res.statusCode).toBe(409);
      expect(res.json().detail).toMatch(/create a new price/i);
      expect(fieldsOf(res.json())).toEqual(fields);
    }
    // Restating the current amount is not a change.
    expect((await call('PATCH', `/api/prices/${price.id}`, headers, { amount: 1_000, currency: 'USD' })).statusCode).toBe(200);

    const off = await call('PATCH', `/api/prices/${price.id}`, headers, { isActive: false });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ isActive: false, amount: 1_000, currency: 'USD' });
    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(prices).where(eq(prices.id, price.id)));
    expect(row).toMatchObject({ amount: 1_000, currency: 'USD', isActive: false });
    expect(await auditRows(tenant.id, 'price.updated')).toHaveLength(1);
  });
});

describe('roles', () => {
  it('every role reads; only ADMIN and SUPER_ADMIN write', async () => {
    const tenant = await buildTenant(db());
    const product = await buildProduct(db(), tenant);
    const price = await buildPrice(db(), tenant, product);
    const headersOf = async (role: UserRole) => authHeader(t.env, (await buildUser(db(), tenant, { role })).user);

    for (const role of ['READ_ONLY', 'SUPPORT', 'BILLING', 'ADMIN', 'SUPER_ADMIN'] as const) {
      const headers = await headersOf(role);
      expect((await call('GET', '/api/products', headers)).statusCode).toBe(200);
      expect((await call('GET', `/api/products/${product.id}`, headers)).statusCode).toBe(200);
    }
    for (const role of ['READ_ONLY', 'SUPPORT', 'BILLING'] as const) {
      const headers = await headersOf(role);
      const writes = [
        await call('POST', '/api/products', headers, hosting()),
        await call('PATCH', `/api/products/${product.id}`, headers, { name: 'x' }),
        await call('DELETE', `/api/products/${product.id}`, headers),
        await call('POST', `/api/products/${product.id}/prices`, headers, { amount: 1, currency: 'USD', interval: 'MONTH' }),
        await call('PATCH', `/api/prices/${price.id}`, headers, { isActive: false }),
      ];
      expect(writes.map((res) => res.statusCode), role).toEqual([403, 403, 403, 403, 403]);
    }
    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(products).where(eq(products.id, product.id)));
    expect(row).toEqual(product);
    expect(await productCount(tenant.id)).toBe(1);

    for (const role of ['ADMIN', 'SUPER_ADMIN'] as const) {
      const res = await call('POST', '/api/products', await headersOf(role), hosting());
      expect(res.statusCode, role).toBe(201);
    }
  });

  it('no token → 401', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/products' })).statusCode).toBe(401);
  });
});

describe('tenant isolation', () => {
  it("tenant B gets 404 on tenant A's product and price routes, and A's rows stay as they were", async () => {
    const a = await tenantWith();
    const b = await tenantWith();
    const product = await buildProduct(db(), a.tenant);
    const price = await buildPrice(db(), a.tenant, product);
    const attempts = [
      await call('GET', `/api/products/${product.id}`, b.headers),
      await call('PATCH', `/api/products/${product.id}`, b.headers, { name: 'Mine now' }),
      await call('DELETE', `/api/products/${product.id}`, b.headers),
      await call('POST', `/api/products/${product.id}/prices`, b.headers, { amount: 1, currency: 'USD', interval: 'MONTH' }),
      await call('PATCH', `/api/prices/${price.id}`, b.headers, { amount: 1 }),
    ];
    expect(attempts.map((res) => res.statusCode)).toEqual([404, 404, 404, 404, 404]);
    expect((await call('GET', '/api/products', b.headers)).json().items).toEqual([]);

    const rows = await withTenant(db(), a.tenant.id, async (tx) => ({
      product: await tx.select().from(products).where(eq(products.id, product.id)),
      prices: await tx.select().from(prices).where(eq(prices.productId, product.id)),
    }));
    expect(rows).toEqual({ product: [product], prices: [price] });
    expect(await auditRows(a.tenant.id, 'product.updated')).toHaveLength(0);
  });
});

describe('parseFeatures', () => {
  it('returns typed features or throws naming the fields under the given prefix', () => {
    expect(parseFeatures('VPS', { vcpus: 4, memoryMb: 8192, diskGb: 160 }).vcpus).toBe(4);
    expect(() => parseFeatures('DNS', { zones: 0, extra: true }, 'features')).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', fields: [expect.objectContaining({ field: 'features/zones' }), expect.objectContaining({ field: 'features/extra' })] }),
    );
  });
});
