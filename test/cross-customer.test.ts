import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, type CustomerLogin } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './cross-customer/fixture.js';
import { buildOrder, buildTenant } from './factories.js';
import { takeMailStackTurn } from './helpers/mail.js';
import { buildCustomerLogin, customerAuthHeader } from './helpers/portal.js';
import { createTestAppWithRoutes, expectProblem, fillPath, hasBody } from './helpers/routes.js';

/**
 * Customer isolation, route by route: for EVERY portal route with a path parameter, an object of
 * customer A is out of reach of customer B of the same tenant and of customer C of another
 * tenant: 404, nothing changed, no audit row. The database layer (the customer RLS policy) is
 * tested on its own in src/db/migrate.test.ts.
 */
declare global {
  interface ImportMeta {
    glob(pattern: string, options: { eager: true }): Record<string, unknown>;
  }
}

function isFixture(value: unknown): value is CrossCustomerFixture {
  return typeof value === 'object' && value !== null && 'route' in value && 'create' in value && typeof value.create === 'function' && 'snapshot' in value;
}

const loaded = Object.entries(import.meta.glob('./cross-customer/*.fixture.ts', { eager: true })).flatMap(([file, module]) => {
  const list = typeof module === 'object' && module !== null && 'fixtures' in module ? module.fixtures : undefined;
  if (!Array.isArray(list)) throw new Error(`${file} must export \`fixtures: CrossCustomerFixture[]\``);
  return list.map((fixture: unknown) => {
    if (!isFixture(fixture)) throw new Error(`${file}: not a CrossCustomerFixture`);
    return fixture;
  });
});

// The portal mail fixtures change the real mail stack: this file takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

const { t, routes } = await createTestAppWithRoutes();
afterAll(() => t.close());
const db = t.container.database.db;
const tenant = await buildTenant(db);
const context: CrossCustomerContext = { db, env: t.env, tenant };

// The intruders: another customer of the same tenant, and a customer of another tenant (owners: every portal permission).
const sameTenant = await buildCustomerLogin(db, tenant, (await buildOrder(db, tenant)).customer);
const otherTenant = await buildTenant(db);
const otherTenantCustomer = await buildCustomerLogin(db, otherTenant, (await buildOrder(db, otherTenant)).customer);

const byKey = new Map(routes.map((route) => [route.key, route]));
const idRoutes = routes.filter((route) => route.portal !== undefined && route.params.length > 0);

const auditRows = async (): Promise<number> => {
  const [row] = await withTenant(db, tenant.id, (tx) => tx.select({ n: count() }).from(auditLogs));
  return row?.n ?? Number.NaN;
};

describe('coverage', () => {
  it('every portal route with a path parameter has a fixture', () => {
    expect(idRoutes.length).toBeGreaterThan(0);
    const missing = idRoutes.filter((route) => !loaded.some((fixture) => fixture.route === route.key)).map((route) => route.key);
    expect(missing, 'add a fixture in test/cross-customer/<module>.fixture.ts').toEqual([]);
    expect(loaded.filter((fixture) => !byKey.has(fixture.route)).map((fixture) => fixture.route)).toEqual([]);
  });
});

describe.each(loaded.filter((fixture) => byKey.has(fixture.route)))('$route', (fixture) => {
  const route = byKey.get(fixture.route)!;
  let params: Record<string, string>;
  let owner: CustomerLogin;
  let before: unknown;
  const request = async (login: CustomerLogin) => {
    const headers = await customerAuthHeader(t.env, db, login);
    return t.app.inject(
      hasBody(route.method)
        ? { method: route.method, url: fillPath(route, params), headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(fixture.body ?? {}) }
        : { method: route.method, url: fillPath(route, params), headers },
    );
  };

  beforeAll(async () => {
    ({ params, owner } = await fixture.create(context));
    before = await fixture.snapshot(context, params);
  });

  it('the snapshot sees the object', () => {
    expect(JSON.stringify(before)).not.toMatch(/^(\[\]|\{\}|null)$/);
  });

  for (const [label, intruder] of [
    ['another customer of the same tenant', sameTenant],
    ['a customer of another tenant', otherTenantCustomer],
  ] as const) {
    it(`as ${label} → 404, nothing changed`, async () => {
      const audit = await auditRows();
      expectProblem(await request(intruder), 404, 'NOT_FOUND');
      expect(await fixture.snapshot(context, params)).toEqual(before);
      expect(await auditRows()).toBe(audit);
    });
  }

  it('control: the owner of the object succeeds' + (route.method === 'GET' ? '' : ' and the snapshot shows it'), async () => {
    const res = await request(owner);
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(200);
    expect(res.statusCode, res.body).toBeLessThan(300);
    if (route.method !== 'GET') expect(await fixture.snapshot(context, params)).not.toEqual(before);
  });
});
