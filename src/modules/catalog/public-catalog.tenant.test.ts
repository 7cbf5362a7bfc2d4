import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../config/database.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildPrice, buildProduct, buildTenant } from '../../../test/factories.js';

/**
 * Which tenant a public request reads when `?tenant=` is omitted depends on how many tenants are
 * active in the whole database, so these tests live in their own file (their own database) and
 * run in order. The slug lookup is remembered for a few seconds per app, so each step that
 * changes the set of tenants asks a fresh app.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = (): Database => t.container.database.db;

async function withFreshApp<T>(fn: (app: TestApp) => Promise<T>): Promise<T> {
  const app = await createTestApp();
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

const get = (app: TestApp, url: string) => app.app.inject({ method: 'GET', url });

describe('tenant selection for the public catalog', () => {
  it('with no active tenant, omitting ?tenant= answers 400 naming querystring/tenant', async () => {
    await buildTenant(db(), { slug: 'dormant', isActive: false });
    const res = await get(t, '/api/public/plans');
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'querystring/tenant', message: expect.any(String) }]);
  });

  it('with exactly one active tenant (inactive ones do not count), ?tenant= may be omitted', async () => {
    const only = await buildTenant(db(), { slug: 'solo' });
    const product = await buildProduct(db(), only, { name: 'Solo plan' });
    const price = await buildPrice(db(), only, product);
    await withFreshApp(async (app) => {
      for (const path of ['/api/public/plans', '/api/public/plans?tenant=solo']) {
        const res = await get(app, path);
        expect(res.statusCode, path).toBe(200);
        expect(res.json().plans.map((plan: { planId: string }) => plan.planId)).toEqual([price.id]);
      }
      expect((await get(app, '/api/public/products')).json().products[0].name).toBe('Solo plan');
      expect((await get(app, '/api/public/plans?tenant=dormant')).statusCode).toBe(404);
      expect((await get(app, '/api/public/plans?tenant=nobody')).statusCode).toBe(404);
    });
  });

  it('with two active tenants, omitting ?tenant= answers 400; naming one works', async () => {
    const second = await buildTenant(db(), { slug: 'second' });
    await buildPrice(db(), second, await buildProduct(db(), second, { name: 'Second plan' }));
    await withFreshApp(async (app) => {
      const res = await get(app, '/api/public/products');
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().errors).toEqual([{ field: 'querystring/tenant', message: expect.stringMatching(/more than one active tenant/) }]);
      expect((await get(app, '/api/public/products?tenant=second')).json().products.map((p: { name: string }) => p.name)).toEqual(['Second plan']);
      expect((await get(app, '/api/public/products?tenant=solo')).json().products.map((p: { name: string }) => p.name)).toEqual(['Solo plan']);
    });
  });
});
