import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, type User, type UserRole } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { roleHas } from '../src/modules/auth/permissions.js';
import type { CrossTenantContext, CrossTenantFixture } from './cross-tenant/fixture.js';
import { buildTenant, buildUser } from './factories.js';
import { authHeader } from './helpers/auth.js';
import { bodyOf, createTestAppWithRoutes, expectProblem, fillPath, hasBody, type ApiRoute } from './helpers/routes.js';

/**
 * Tenant isolation, route by route: for EVERY registered route that takes a path parameter, an
 * object made in tenant A (test/cross-tenant/<module>.fixture.ts, see fixture.ts) is out of reach
 * of tenant B's users: 404, never 403 or its data, and nothing changes.
 *
 * The database layer is tested on its own in src/db/migrate.test.ts ("row-level security"): with
 * one row in every tenant-owned table for two tenants, a raw query as the app role (and as the
 * owner) with no tenant set sees zero rows in each, the tables being discovered from the catalog
 * (RLS-forced tables, checked equal to the tables with `tenant_id NOT NULL`). It is not repeated here.
 */

declare global {
  interface ImportMeta {
    // Vite's import.meta.glob, which Vitest expands when it loads this file. Vite's own typings
    // are not hoisted into node_modules, so this declares the one form used; the modules'
    // shapes are checked at run time below.
    glob(pattern: string, options: { eager: true }): Record<string, unknown>;
  }
}

/**
 * Routes with a path parameter that are cross-tenant by design, with the reason. Each must name
 * a permission only SUPER_ADMIN holds (checked below).
 */
const EXCLUDED: Readonly<Record<string, string>> = {
  'GET /api/tenants/:id': 'SUPER_ADMIN only; the :id is a tenant, and reading any tenant is what the route is for',
  'PATCH /api/tenants/:id': 'SUPER_ADMIN only; the :id is a tenant, and managing any tenant is what the route is for',
  'PATCH /api/servers/:id': "SUPER_ADMIN only: servers are the platform's, and its operator manages them in any tenant (src/modules/servers/servers.test.ts)",
};

/**
 * Routes whose path parameter names an entry of a catalogue every tenant has its own copy of (an
 * event type), not an object of one tenant: each tenant's call acts on its own row. Tested in
 * their module (src/modules/events/notifications.test.ts: tenant B's override leaves A's alone).
 */
const OWN_COPY: Readonly<Record<string, string>> = {
  'GET /api/notification-templates/:event': 'the :event is an event type; each tenant reads its own template',
  'PUT /api/notification-templates/:event': 'the :event is an event type; each tenant overrides its own template',
  'DELETE /api/notification-templates/:event': 'the :event is an event type; each tenant resets its own template',
  'POST /api/notification-templates/:event/preview': 'the :event is an event type; each tenant previews its own template',
};

function isFixture(value: unknown): value is CrossTenantFixture {
  return (
    typeof value === 'object' &&
    value !== null &&
    'route' in value &&
    typeof value.route === 'string' &&
    'create' in value &&
    typeof value.create === 'function' &&
    'snapshot' in value &&
    typeof value.snapshot === 'function'
  );
}

function fixturesOf(file: string, module: unknown): { file: string; fixture: CrossTenantFixture }[] {
  const list = typeof module === 'object' && module !== null && 'fixtures' in module ? module.fixtures : undefined;
  if (!Array.isArray(list)) throw new Error(`${file} must export \`fixtures: CrossTenantFixture[]\``);
  return list.map((fixture: unknown, index) => {
    if (!isFixture(fixture)) throw new Error(`${file}: fixtures[${index}] is not a CrossTenantFixture`);
    return { file, fixture };
  });
}

const loaded = Object.entries(import.meta.glob('./cross-tenant/*.fixture.ts', { eager: true })).flatMap(([file, module]) =>
  fixturesOf(file, module),
);

// Top-level await: the route table must exist while Vitest collects the tests it names.
const { t, routes } = await createTestAppWithRoutes();
afterAll(async () => {
  await t.close();
});
const db = t.container.database.db;

const byKey = new Map(routes.map((route) => [route.key, route]));
/** Routes a tenant's token can call with an id: the ones this suite is about. */
const idRoutes = routes.filter((route) => route.params.length > 0 && route.permission !== undefined && !route.public);
const covered = loaded.flatMap(({ file, fixture }) => {
  const route = byKey.get(fixture.route);
  return route ? [{ key: fixture.route, file, fixture, route }] : [];
});

const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

// Tenant B, with one user per role: the intruders.
const tenantB = await buildTenant(db);
const usersOfB = new Map<UserRole, User>();
for (const role of ROLES) usersOfB.set(role, (await buildUser(db, tenantB, { role })).user);

const auditRowsOf = async (tenantId: string): Promise<number> => {
  const [row] = await withTenant(db, tenantId, (tx) => tx.select({ n: count() }).from(auditLogs));
  return row?.n ?? Number.NaN;
};

/** A snapshot that shows nothing (e.g. read without the tenant set) would make "unchanged" vacuous. */
const isEmpty = (value: unknown): boolean =>
  value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && Object.keys(value).length === 0);

describe('coverage', () => {
  it('every registered route with a path parameter has a fixture or a documented exclusion', () => {
    expect(idRoutes.length).toBeGreaterThan(0);
    const missing = idRoutes.filter((route) => !covered.some((c) => c.key === route.key) && !(route.key in EXCLUDED) && !(route.key in OWN_COPY)).map((route) => route.key);
    expect(missing, 'add a fixture in test/cross-tenant/<module>.fixture.ts').toEqual([]);
  });

  it('no route has two fixtures, and no route is both covered and excluded', () => {
    const keys = loaded.map(({ fixture }) => fixture.route);
    expect(keys.filter((key, index) => keys.indexOf(key) !== index)).toEqual([]);
    expect(keys.filter((key) => key in EXCLUDED)).toEqual([]);
  });

  it('excluded routes are SUPER_ADMIN-only', () => {
    const wrong = Object.keys(EXCLUDED)
      .map((key) => byKey.get(key))
      .filter((route): route is ApiRoute => route !== undefined)
      .filter((route) => !route.permission || ROLES.some((role) => role !== 'SUPER_ADMIN' && roleHas(role, route.permission!)))
      .map((route) => `${route.key} (${route.permission ?? 'public'})`);
    expect(wrong).toEqual([]);
  });

  // A fixture written before its route is registered waits here, visibly, instead of failing.
  for (const { file, fixture } of loaded.filter(({ fixture }) => !byKey.has(fixture.route))) {
    it.todo(`${fixture.route} (${file}): the route is not registered`);
  }
});

describe.each(covered)('$key', ({ fixture, route }) => {
  const permission = route.permission;
  if (!permission) throw new Error(`${route.key} is public: a cross-tenant fixture needs a route that takes a token`);

  let context: CrossTenantContext;
  let params: Record<string, string>;
  let before: unknown;
  const request = async (headers: Record<string, string>) =>
    t.app.inject(
      hasBody(route.method)
        ? { method: route.method, url: fillPath(route, params), headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(bodyOf(fixture.body, params)) }
        : { method: route.method, url: fillPath(route, params), headers },
    );

  beforeAll(async () => {
    const tenant = await buildTenant(db);
    const { user: admin } = await buildUser(db, tenant, { role: 'ADMIN' });
    context = { db, tenant, admin };
    params = await fixture.create(context);
    before = await fixture.snapshot(context, params);
  });

  it("the snapshot sees tenant A's object", () => {
    expect(isEmpty(before), 'snapshot returned nothing: read as tenant A (withTenant)').toBe(false);
  });

  const intruders = ROLES.filter((role) => roleHas(role, permission)).flatMap((role) => [
    { label: role, role, namingTenantA: false },
    // Naming another tenant is the SUPER_ADMIN's audited path; for anyone else it must change nothing.
    ...(role === 'SUPER_ADMIN' ? [] : [{ label: `${role} naming tenant A in X-Mpanel-Tenant`, role, namingTenantA: true }]),
  ]);
  for (const { label, role, namingTenantA } of intruders) {
    it(`as tenant B's ${label} → 404 problem+json, nothing changed in A`, async () => {
      const user = usersOfB.get(role);
      if (!user) throw new Error(`no ${role} in tenant B`);
      const auditBefore = await auditRowsOf(context.tenant.id);
      const res = await request(await authHeader(t.env, user, namingTenantA ? context.tenant.id : undefined));
      expectProblem(res, 404, 'NOT_FOUND');
      expect(await fixture.snapshot(context, params)).toEqual(before);
      expect(await auditRowsOf(context.tenant.id)).toBe(auditBefore);
    });
  }

  // Runs last (tests in a describe run in order): it may change or delete the object.
  it("control: the same call as tenant A's ADMIN succeeds" + (route.method === 'GET' ? '' : ' and shows in the snapshot'), async () => {
    expect(roleHas('ADMIN', permission), `${route.key}: ADMIN lacks ${permission}; exclude the route or extend the suite`).toBe(true);
    const res = await request(await authHeader(t.env, context.admin));
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(200);
    expect(res.statusCode, res.body).toBeLessThan(300);
    if (fixture.readOnly) expect(await fixture.snapshot(context, params), `read-only: ${fixture.readOnly}`).toEqual(before);
    else if (route.method !== 'GET') {
      expect(await fixture.snapshot(context, params), 'the snapshot does not show what the route changes').not.toEqual(before);
    }
  });
});
