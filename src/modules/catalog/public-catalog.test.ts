import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../config/redis.js';
import { prices, products, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, createTestAppWithoutRedis, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildPrice, buildProduct, buildTenant, buildUser } from '../../../test/factories.js';
import { publicPlansResponse, publicProductsResponse } from './catalog.types.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

const publicGet = (app: TestApp, path: 'products' | 'plans', tenant: Pick<Tenant, 'slug'>, headers: Record<string, string> = {}) =>
  app.app.inject({ method: 'GET', url: `/api/public/${path}?tenant=${tenant.slug}`, headers });

async function adminOf(tenant: Tenant): Promise<Record<string, string>> {
  const { user } = await buildUser(db(), tenant, { role: 'ADMIN' });
  return authHeader(t.env, user);
}

async function adminCall(app: TestApp, headers: Record<string, string>, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) {
  const res = await app.app.inject(
    payload === undefined ? { method, url, headers } : { method, url, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(payload) },
  );
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res;
}

const namesIn = (body: string): string[] => (JSON.parse(body) as { products: { name: string }[] }).products.map((product) => product.name);

describe('what the public sees', () => {
  it('only active, public, non-deleted products with their active prices, sorted by name then amount', async () => {
    const tenant = await buildTenant(db());
    const pro = await buildProduct(db(), tenant, { name: 'pro', description: 'For agencies' });
    const proYear = await buildPrice(db(), tenant, pro, { amount: 19_900, interval: 'YEAR' });
    const proMonth = await buildPrice(db(), tenant, pro, { amount: 1_999 });
    await buildPrice(db(), tenant, pro, { amount: 999, isActive: false });
    const domain = await buildProduct(db(), tenant, { name: 'Domain .com', type: 'DOMAIN', features: { tld: 'com' } });
    const domainPrice = await buildPrice(db(), tenant, domain, { amount: 1_200, currency: 'EUR', interval: 'ONE_TIME' });
    const noPrice = await buildProduct(db(), tenant, { name: 'Coming soon', type: 'DNS', features: { zones: 1 } });
    await buildPrice(db(), tenant, noPrice, { isActive: false });
    const inactive = await buildProduct(db(), tenant, { name: 'Inactive', isActive: false });
    await buildPrice(db(), tenant, inactive);
    const hidden = await buildProduct(db(), tenant, { name: 'Private', isPublic: false });
    await buildPrice(db(), tenant, hidden);
    const deleted = await buildProduct(db(), tenant, { name: 'Deleted', deletedAt: new Date() });
    await buildPrice(db(), tenant, deleted);
    // Another tenant's catalog never shows.
    const other = await buildTenant(db());
    await buildPrice(db(), other, await buildProduct(db(), other, { name: 'Other tenant' }));

    const res = await publicGet(t, 'products', tenant);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = publicProductsResponse.parse(res.json());
    expect(body).toEqual({
      products: [
        { id: noPrice.id, name: 'Coming soon', description: null, type: 'DNS', features: { zones: 1 }, prices: [] },
        { id: domain.id, name: 'Domain .com', description: null, type: 'DOMAIN', features: { tld: 'com' }, prices: [{ id: domainPrice.id, amount: 1_200, currency: 'EUR', interval: 'ONE_TIME' }] },
        {
          id: pro.id,
          name: 'pro',
          description: 'For agencies',
          type: 'SHARED_HOSTING',
          features: pro.features,
          prices: [
            { id: proMonth.id, amount: 1_999, currency: 'USD', interval: 'MONTH' },
            { id: proYear.id, amount: 19_900, currency: 'USD', interval: 'YEAR' },
          ],
        },
      ],
    });

    const plans = await publicGet(t, 'plans', tenant);
    expect(plans.statusCode).toBe(200);
    expect(publicPlansResponse.parse(plans.json())).toEqual({
      plans: [
        { planId: domainPrice.id, productId: domain.id, productName: 'Domain .com', type: 'DOMAIN', interval: 'ONE_TIME', amount: 1_200, currency: 'EUR', features: { tld: 'com' } },
        { planId: proMonth.id, productId: pro.id, productName: 'pro', type: 'SHARED_HOSTING', interval: 'MONTH', amount: 1_999, currency: 'USD', features: pro.features },
        { planId: proYear.id, productId: pro.id, productName: 'pro', type: 'SHARED_HOSTING', interval: 'YEAR', amount: 19_900, currency: 'USD', features: pro.features },
      ],
    });
  });

  it('answers without a token, and an empty catalog is an empty list', async () => {
    const tenant = await buildTenant(db());
    const res = await publicGet(t, 'plans', tenant);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ plans: [] });
  });

  it('400 for a malformed slug or an unknown parameter, 404 for an unknown or inactive tenant', async () => {
    const bad = await t.app.inject({ method: 'GET', url: '/api/public/plans?tenant=Not_A_Slug' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toBe('querystring/tenant');
    const extra = await t.app.inject({ method: 'GET', url: '/api/public/plans?tenant=x1&page=2' });
    expect(extra.statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/api/public/plans?tenant=no-such-tenant' })).statusCode).toBe(404);
    const inactive = await buildTenant(db(), { isActive: false });
    const res = await publicGet(t, 'products', inactive);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });
});

describe('ETag and 304', () => {
  it('sends a strong ETag of the body and Cache-Control; If-None-Match with it answers 304 without a body', async () => {
    const tenant = await buildTenant(db());
    await buildPrice(db(), tenant, await buildProduct(db(), tenant));
    const res = await publicGet(t, 'plans', tenant);
    const etag = res.headers.etag;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(etag).toBe(`"${createHash('sha256').update(res.body).digest('base64url').slice(0, 27)}"`);
    expect(res.headers['cache-control']).toBe('public, max-age=60');

    const again = await publicGet(t, 'plans', tenant);
    expect(again.body).toBe(res.body);
    expect(again.headers.etag).toBe(etag);

    for (const ifNoneMatch of [etag!, `W/${etag!}`, `"something-else", ${etag!}`, '*']) {
      const notModified = await publicGet(t, 'plans', tenant, { 'if-none-match': ifNoneMatch });
      expect(notModified.statusCode, ifNoneMatch).toBe(304);
      expect(notModified.body).toBe('');
      expect(notModified.headers.etag).toBe(etag);
    }
    const stale = await publicGet(t, 'plans', tenant, { 'if-none-match': '"an-old-etag"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.body).toBe(res.body);

    // The two endpoints are cached separately: different bodies, different ETags.
    expect((await publicGet(t, 'products', tenant)).headers.etag).not.toBe(etag);
  });
});

describe('cache invalidation', () => {
  it('serves from memory: a change made behind the API is not seen until an invalidation is published', async () => {
    const tenant = await buildTenant(db());
    const product = await buildProduct(db(), tenant, { name: 'Cached name' });
    expect(namesIn((await publicGet(t, 'products', tenant)).body)).toEqual(['Cached name']);

    await withTenant(db(), tenant.id, (tx) => tx.update(products).set({ name: 'Changed behind the API' }).where(eq(products.id, product.id)));
    expect(namesIn((await publicGet(t, 'products', tenant)).body)).toEqual(['Cached name']);

    // What another process's write does: bump the version and publish the tenant id.
    const redis = createRedis(t.env.REDIS_URL, 'worker');
    try {
      await redis.incr(`${t.env.REDIS_KEY_PREFIX}:catalog:version:${tenant.id}`);
      await redis.publish(`${t.env.REDIS_KEY_PREFIX}:catalog:invalidate`, tenant.id);
    } finally {
      redis.disconnect();
    }
    await expect.poll(async () => namesIn((await publicGet(t, 'products', tenant)).body), { timeout: 1_000, interval: 20 }).toEqual(['Changed behind the API']);
  });

  it('every admin write shows in the public catalog at once', async () => {
    const tenant = await buildTenant(db());
    const headers = await adminOf(tenant);
    const plans = async () => (await publicGet(t, 'plans', tenant)).json().plans as { productName: string; amount: number; planId: string }[];

    const created = await adminCall(t, headers, 'POST', '/api/products', {
      name: 'Starter',
      type: 'SHARED_HOSTING',
      features: { diskQuotaMb: 1_000, mailboxes: 1, sslIncluded: true },
      prices: [{ amount: 500, currency: 'USD', interval: 'MONTH' }],
    });
    const productId: string = created.json().id;
    const first = await publicGet(t, 'plans', tenant);
    expect(first.json().plans.map((plan: { productName: string; amount: number }) => [plan.productName, plan.amount])).toEqual([['Starter', 500]]);

    await adminCall(t, headers, 'PATCH', `/api/products/${productId}`, { name: 'Starter Plus' });
    const renamed = await publicGet(t, 'plans', tenant, { 'if-none-match': first.headers.etag! });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.headers.etag).not.toBe(first.headers.etag);
    expect(renamed.json().plans[0].productName).toBe('Starter Plus');

    const added = await adminCall(t, headers, 'POST', `/api/products/${productId}/prices`, { amount: 5_000, currency: 'USD', interval: 'YEAR' });
    expect((await plans()).map((plan) => plan.amount)).toEqual([500, 5_000]);

    await adminCall(t, headers, 'PATCH', `/api/prices/${added.json().id}`, { amount: 4_500 });
    expect((await plans()).map((plan) => plan.amount)).toEqual([500, 4_500]);

    await adminCall(t, headers, 'PATCH', `/api/prices/${added.json().id}`, { isActive: false });
    expect((await plans()).map((plan) => plan.amount)).toEqual([500]);

    await adminCall(t, headers, 'PATCH', `/api/products/${productId}`, { isPublic: false });
    expect(await plans()).toEqual([]);
    await adminCall(t, headers, 'PATCH', `/api/products/${productId}`, { isPublic: true });
    expect(await plans()).toHaveLength(1);

    await adminCall(t, headers, 'DELETE', `/api/products/${productId}`);
    expect(await plans()).toEqual([]);
    expect((await publicGet(t, 'products', tenant)).json()).toEqual({ products: [] });
  });

  it("a write through one app instance shows in another instance's cache (shared Redis)", async () => {
    const second = await createTestApp();
    try {
      const tenant = await buildTenant(db());
      const headers = await adminOf(tenant);
      const product = await buildProduct(db(), tenant, { name: 'Before' });
      await buildPrice(db(), tenant, product);
      const fromSecond = async () => namesIn((await publicGet(second, 'products', tenant)).body);
      expect(await fromSecond()).toEqual(['Before']);
      expect(await fromSecond()).toEqual(['Before']);

      await adminCall(t, headers, 'PATCH', `/api/products/${product.id}`, { name: 'After' });
      await expect.poll(fromSecond, { timeout: 1_000, interval: 20 }).toEqual(['After']);
    } finally {
      await second.close();
    }
  });
});

describe('when Redis is down', () => {
  it('serves the public catalog from the database (uncached) and admin writes still succeed', async () => {
    const down = await createTestAppWithoutRedis();
    try {
      const tenant = await buildTenant(db());
      const product = await buildProduct(db(), tenant, { name: 'Live' });
      await buildPrice(db(), tenant, product);
      const names = async () => namesIn((await publicGet(down, 'products', tenant)).body);
      expect(await names()).toEqual(['Live']);

      // Nothing is cached: a change behind the API shows at once.
      await withTenant(db(), tenant.id, (tx) => tx.update(products).set({ name: 'Live 2' }).where(eq(products.id, product.id)));
      expect(await names()).toEqual(['Live 2']);

      const headers = await adminOf(tenant);
      await adminCall(down, headers, 'PATCH', `/api/products/${product.id}`, { name: 'Live 3' });
      expect(await names()).toEqual(['Live 3']);
      const res = await publicGet(down, 'products', tenant);
      expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
      expect((await publicGet(down, 'products', tenant, { 'if-none-match': res.headers.etag! })).statusCode).toBe(304);
      const [price] = await withTenant(db(), tenant.id, (tx) => tx.select().from(prices).where(eq(prices.productId, product.id)));
      expect(price?.isActive).toBe(true);
    } finally {
      await down.close();
    }
  });
});
