import { count } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { auditLogs, type CustomerLogin } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import type * as TenantTx from '../src/db/tenant-tx.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './cross-customer/fixture.js';
import { buildOrder, buildTenant } from './factories.js';
import { isSchema } from './helpers/hostile.js';
import { takeMailStackTurn } from './helpers/mail.js';
import { buildCustomerLogin, customerAuthHeader } from './helpers/portal.js';
import { bodyOf, createTestAppWithRoutes, expectProblem, fillPath, hasBody } from './helpers/routes.js';

/**
 * Customer isolation, route by route: for EVERY portal route that names an object (a path
 * parameter, or an id in its body), an object of customer A is out of reach of customer B of the
 * same tenant and of customer C of another tenant: 404, nothing changed, no audit row. Every
 * portal read without a parameter (the lists, the account) is called as B and C after all of A's
 * objects exist, and shows none of them. The remaining portal routes act on the caller's own
 * account and name no object (SELF_ROUTES, each with its reason): a new portal route that is in
 * none of these fails the suite. The database layer (the customer RLS policy) is tested on its
 * own in src/db/migrate.test.ts.
 */
/**
 * A portal route runs its queries in withCustomer (tenant AND customer set, so the customer policy
 * applies), never in withTenant alone: every call of withTenant made while a portal request runs
 * is recorded (the module's export, wrapped) and must be one of the two that come after the
 * customer's own transaction and read nothing of another customer: the outbox marking the jobs
 * that transaction wrote as queued, and the invitation mailer reading the tenant's branding.
 */
const tenantOnly = vi.hoisted(() => ({ recording: false, stacks: new Array<string>() }));
vi.mock('../src/db/tenant-tx.js', async (importOriginal) => {
  const original = await importOriginal<typeof TenantTx>();
  return {
    ...original,
    withTenant: (...args: Parameters<typeof original.withTenant>) => {
      if (tenantOnly.recording) tenantOnly.stacks.push(new Error('withTenant during a portal request').stack ?? '');
      return original.withTenant(...args);
    },
  };
});
const TENANT_ONLY_ALLOWED = [/src\/jobs\/outbox\.ts/, /src\/modules\/customer-auth\/customer-link-mailer\.ts/];

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
const portalRoutes = routes.filter((route) => route.portal !== undefined);

/** Portal routes whose JSON body names an object by id (`mailDomainId`), from the OpenAPI document. */
const bodyIdRoutes = await (async () => {
  const document: unknown = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  const at = (node: unknown, key: string): unknown => (isSchema(node) ? node[key] : undefined);
  const resolve = (node: unknown): unknown => {
    const ref = at(node, '$ref');
    return typeof ref === 'string' ? ref.slice(2).split('/').reduce(at, document) : node;
  };
  const keys = new Set<string>();
  for (const [path, item] of Object.entries(at(document, 'paths') ?? {})) {
    for (const [method, operation] of Object.entries(item ?? {})) {
      const schema = resolve(at(at(at(resolve(at(operation, 'requestBody')), 'content'), 'application/json'), 'schema'));
      const properties = Object.entries(at(schema, 'properties') ?? {});
      if (properties.some(([name, property]) => /Id$/.test(name) && at(resolve(property), 'format') === 'uuid')) keys.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
    }
  }
  return keys;
})();
/** The routes that need a fixture: an object named in the path or in the body (the catalog's priceId of a plan change rides on its :id route). */
const idRoutes = portalRoutes.filter((route) => route.params.length > 0 || bodyIdRoutes.has(route.key));
/** Reads without a parameter: checked all at once, as the intruders, once every fixture's object exists. */
const readRoutes = portalRoutes.filter((route) => route.method === 'GET' && route.params.length === 0);

/** Portal routes that change only the caller's own account or login, and take no object id. */
const SELF_ROUTES: Readonly<Record<string, string>> = {
  'PATCH /api/portal/profile': "the caller's customer record (customerOf(request))",
  'PUT /api/portal/billing-address': "the caller's customer record",
  'PUT /api/portal/tax-id': "the caller's customer record",
  'POST /api/portal/contacts': "a new login of the caller's customer",
  'POST /api/portal/password': "the caller's own login",
  'POST /api/portal/auth/logout': "the caller's own session",
  'POST /api/portal/auth/browser/logout': "the caller's own session (and its cookie)",
  'POST /api/portal/auth/2fa/enrol': "the caller's own login's second factor",
  'POST /api/portal/auth/2fa/confirm': "the caller's own login's second factor",
  'POST /api/portal/auth/2fa/disable': "the caller's own login's second factor",
};

/** app.inject for a portal request, failing the test when the route ran a query in withTenant alone. */
async function injectPortal(options: InjectOptions & { url: string }) {
  tenantOnly.recording = true;
  tenantOnly.stacks = [];
  try {
    return await t.app.inject(options);
  } finally {
    tenantOnly.recording = false;
    const stray = tenantOnly.stacks.filter((stack) => !TENANT_ONLY_ALLOWED.some((allowed) => allowed.test(stack)));
    expect(stray, `${options.method ?? 'GET'} ${options.url} ran a query in withTenant, not withCustomer`).toEqual([]);
  }
}

const auditRows = async (): Promise<number> => {
  const [row] = await withTenant(db, tenant.id, (tx) => tx.select({ n: count() }).from(auditLogs));
  return row?.n ?? Number.NaN;
};

describe('coverage', () => {
  it('control: withTenant is recorded while a portal request runs', async () => {
    tenantOnly.recording = true;
    tenantOnly.stacks = [];
    await withTenant(db, tenant.id, async () => undefined);
    tenantOnly.recording = false;
    expect(tenantOnly.stacks).toHaveLength(1);
    expect(TENANT_ONLY_ALLOWED.some((allowed) => allowed.test(tenantOnly.stacks[0] ?? ''))).toBe(false);
  });

  it('every portal route that names an object (path parameter or body id) has a fixture', () => {
    expect(idRoutes.length).toBeGreaterThan(0);
    expect([...bodyIdRoutes].filter((key) => key.startsWith('POST /api/portal/'))).toEqual(expect.arrayContaining(['POST /api/portal/mailboxes', 'POST /api/portal/mail-aliases']));
    const missing = idRoutes.filter((route) => !loaded.some((fixture) => fixture.route === route.key)).map((route) => route.key);
    expect(missing, 'add a fixture in test/cross-customer/<module>.fixture.ts').toEqual([]);
    expect(loaded.filter((fixture) => !byKey.has(fixture.route)).map((fixture) => fixture.route)).toEqual([]);
  });

  it('every other portal route is a read without parameter (checked below) or acts on the caller\'s own account (SELF_ROUTES)', () => {
    const ids = new Set(idRoutes.map((route) => route.key));
    const reads = new Set(readRoutes.map((route) => route.key));
    const unclassified = portalRoutes.filter((route) => !ids.has(route.key) && !reads.has(route.key) && !(route.key in SELF_ROUTES)).map((route) => route.key);
    expect(unclassified, 'a fixture in test/cross-customer/, or SELF_ROUTES with the reason it names no object').toEqual([]);
    expect(Object.keys(SELF_ROUTES).filter((key) => !byKey.has(key) || ids.has(key))).toEqual([]);
  });
});

/** What each fixture made: its owner and the ids it returned (the list check below looks for them). */
const made: { owner: CustomerLogin; ids: string[] }[] = [];

describe.each(loaded.filter((fixture) => byKey.has(fixture.route)))('$route', (fixture) => {
  const route = byKey.get(fixture.route)!;
  let params: Record<string, string>;
  let owner: CustomerLogin;
  let before: unknown;
  const request = async (login: CustomerLogin) => {
    const headers = await customerAuthHeader(t.env, db, login);
    return injectPortal(
      hasBody(route.method)
        ? { method: route.method, url: fillPath(route, params), headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(bodyOf(fixture.body, params)) }
        : { method: route.method, url: fillPath(route, params), headers },
    );
  };

  beforeAll(async () => {
    ({ params, owner } = await fixture.create(context));
    made.push({ owner, ids: Object.values(params) });
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
    if (fixture.readOnly) expect(await fixture.snapshot(context, params), `read-only: ${fixture.readOnly}`).toEqual(before);
    else if (route.method !== 'GET') expect(await fixture.snapshot(context, params)).not.toEqual(before);
  });
});

describe('reads without a parameter (lists, the account)', () => {
  const read = async (route: (typeof readRoutes)[number], headers: Record<string, string>): Promise<string> => {
    const res = await injectPortal({ method: 'GET', url: route.url, headers });
    expect(res.statusCode, `${route.key}: ${res.body}`).toBe(200);
    return res.body;
  };

  it('show the intruders none of the objects the fixtures made for another customer', async () => {
    expect(readRoutes.length).toBeGreaterThan(5);
    expect(made.length).toBe(loaded.filter((fixture) => byKey.has(fixture.route)).length);
    const ids = made.flatMap((entry) => entry.ids);
    for (const [label, intruder] of [
      ['another customer of the same tenant', sameTenant],
      ['a customer of another tenant', otherTenantCustomer],
    ] as const) {
      const headers = await customerAuthHeader(t.env, db, intruder);
      for (const route of readRoutes) {
        const body = await read(route, headers);
        expect(ids.filter((id) => body.includes(id)), `${route.key} as ${label}`).toEqual([]);
      }
    }
  });

  it('control: the same reads show each owner their own objects', async () => {
    const shown = new Set<string>();
    for (const { owner, ids } of made) {
      const headers = await customerAuthHeader(t.env, db, owner);
      for (const route of readRoutes) {
        const body = await read(route, headers);
        if (ids.some((id) => body.includes(id))) shown.add(route.key);
      }
    }
    expect([...shown].sort()).toEqual(
      expect.arrayContaining(['GET /api/portal/dns/zones', 'GET /api/portal/invoices', 'GET /api/portal/mail-aliases', 'GET /api/portal/mail-domains', 'GET /api/portal/mailboxes', 'GET /api/portal/services']),
    );
  });
});
