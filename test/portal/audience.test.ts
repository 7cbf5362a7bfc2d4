import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { customerRoles, userRoles, type CustomerRole, type UserRole } from '../../src/db/schema/index.js';
import { customerRoleHas } from '../../src/modules/customer-auth/portal-permissions.js';
import { buildOrder, buildTenant, buildUser } from '../factories.js';
import { authHeader } from '../helpers/auth.js';
import { buildCustomerLogin, customerAuthHeader } from '../helpers/portal.js';
import { createTestAppWithRoutes, expectProblem, fillPath, hasBody, type ApiRoute } from '../helpers/routes.js';

/**
 * Two principals, two doors, over the WHOLE route table: a customer token (portal audience) is
 * 401 on every staff route, a staff token 401 on every portal route, and portal roles follow the
 * portal matrix (customer-auth/portal-permissions.ts). A new route joins these rows by itself.
 */
const { t, routes } = await createTestAppWithRoutes();
afterAll(() => t.close());
const db = t.container.database.db;
const tenant = await buildTenant(db);
const { customer } = await buildOrder(db, tenant);

const staffTokens = new Map<UserRole, Record<string, string>>();
for (const role of userRoles) staffTokens.set(role, await authHeader(t.env, (await buildUser(db, tenant, { role })).user));
const customerTokens = new Map<CustomerRole, Record<string, string>>();
for (const role of customerRoles) customerTokens.set(role, await customerAuthHeader(t.env, db, await buildCustomerLogin(db, tenant, customer, { role })));

const call = (route: ApiRoute, headers: Record<string, string>): Promise<LightMyRequestResponse> =>
  t.app.inject({ method: route.method, url: fillPath(route, {}, () => randomUUID()), headers, ...(hasBody(route.method) ? { payload: {} } : {}) });

const staffRoutes = routes.filter((route) => route.permission !== undefined);
const portalRoutes = routes.filter((route) => route.portal !== undefined);

describe('the route table', () => {
  it('portal routes live under /api/portal and name a portal permission; staff routes are elsewhere', () => {
    expect(portalRoutes.length).toBeGreaterThan(0);
    expect(portalRoutes.filter((r) => !r.url.startsWith('/api/portal/')).map((r) => r.key)).toEqual([]);
    expect(staffRoutes.filter((r) => r.url.startsWith('/api/portal')).map((r) => r.key)).toEqual([]);
    expect(routes.filter((r) => r.url.startsWith('/api/portal/') && !r.public && r.portal === undefined).map((r) => r.key)).toEqual([]);
  });
});

describe.each(staffRoutes)('staff route $key', (route) => {
  it.each([...customerRoles])('a customer token (%s) → 401', async (role) => {
    expectProblem(await call(route, customerTokens.get(role)!), 401, 'UNAUTHENTICATED');
  });
});

describe.each(portalRoutes)('portal route $key ($portal)', (route) => {
  it('without a token → 401', async () => {
    expectProblem(await call(route, {}), 401, 'UNAUTHENTICATED');
  });
  it.each([...userRoles])('a staff token (%s) → 401', async (role) => {
    expectProblem(await call(route, staffTokens.get(role)!), 401, 'UNAUTHENTICATED');
  });
  const cases = customerRoles.map((role) => ({ role, allowed: customerRoleHas(role, route.portal!) }));
  it.each(cases.filter((c) => !c.allowed))('as customer $role → 403', async ({ role }) => {
    expectProblem(await call(route, customerTokens.get(role)!), 403, 'FORBIDDEN');
  });
  it.each(cases.filter((c) => c.allowed))('as customer $role → past the permission check, no 5xx', async ({ role }) => {
    const res = await call(route, customerTokens.get(role)!);
    expect([401, 403], `${res.statusCode} ${res.body}`).not.toContain(res.statusCode);
    expect(res.statusCode, res.body).toBeLessThan(500);
  });
});
