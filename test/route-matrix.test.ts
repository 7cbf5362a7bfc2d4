import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import type { UserRole } from '../src/db/schema/index.js';
import { isPermission, permissionMatrix, roleHas } from '../src/modules/auth/permissions.js';
import { buildTenant, buildUser } from './factories.js';
import { authHeader } from './helpers/auth.js';
import { createTestAppWithRoutes, expectProblem, fillPath, hasBody, type ApiRoute } from './helpers/routes.js';

/**
 * Role × route matrix, generated from the routes the app actually registers: adding a route adds
 * its rows here without anyone editing this file. The authenticate hook runs in onRequest, before
 * body or params validation, so a random id and an empty body are enough to see allow / deny: a
 * denied role gets 403 whatever it sends; an allowed one gets past the hook (typically 400 or 404).
 */
const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

// Top-level await: the route table must exist while Vitest collects the tests it names.
const { t, routes } = await createTestAppWithRoutes();
afterAll(async () => {
  await t.close();
});

const db = t.container.database.db;
const tenant = await buildTenant(db);
const tokens = new Map<UserRole, Record<string, string>>();
for (const role of ROLES) {
  const { user } = await buildUser(db, tenant, { role });
  tokens.set(role, await authHeader(t.env, user));
}
const tokenOf = (role: UserRole): Record<string, string> => {
  const headers = tokens.get(role);
  if (!headers) throw new Error(`no token for ${role}`);
  return headers;
};

const call = (route: ApiRoute, headers: Record<string, string>): Promise<LightMyRequestResponse> =>
  t.app.inject({
    method: route.method,
    url: fillPath(route, {}, () => randomUUID()),
    headers,
    ...(hasBody(route.method) ? { payload: {} } : {}),
  });

/**
 * /api routes registered outside the /api plugin, so without its authenticate hook and without
 * access config (the plugin refuses a route that declares none). They are public by placement;
 * any other undeclared /api route fails the table test below.
 */
const OUTSIDE_THE_API_PLUGIN: readonly { prefix: string; reason: string }[] = [
  { prefix: '/api/docs', reason: "swagger-ui's page, assets and document copies (docs.router.ts): the public API docs" },
];
const undeclared = routes.filter((route) => !route.public && route.permission === undefined && route.portal === undefined);
const publicByPlacement = (route: ApiRoute): boolean =>
  OUTSIDE_THE_API_PLUGIN.some(({ prefix }) => route.url === prefix || route.url.startsWith(`${prefix}/`));

/** Routes that need a token, each with the permission it names. */
const protectedRoutes = routes.flatMap((route) => (route.permission && !route.public ? [{ ...route, permission: route.permission }] : []));
const publicRoutes = [...routes.filter((route) => route.public), ...undeclared.filter(publicByPlacement)];

describe('the permission matrix and the route table', () => {
  it('READ_ONLY holds only *:read permissions and its own session', () => {
    const held = Object.keys(permissionMatrix).filter(isPermission).filter((permission) => roleHas('READ_ONLY', permission));
    expect(held.length).toBeGreaterThan(0);
    for (const permission of held) expect(permission === 'session:self' || permission.endsWith(':read'), permission).toBe(true);
  });

  it('the app registers /api routes, each declaring exactly one of config.public and config.permission', () => {
    expect(protectedRoutes.length).toBeGreaterThan(0);
    expect(publicRoutes.length).toBeGreaterThan(0);
    expect(routes.filter((route) => route.public && route.permission !== undefined).map((route) => route.key)).toEqual([]);
    expect(undeclared.filter((route) => !publicByPlacement(route)).map((route) => route.key)).toEqual([]);
  });

  it('no route that changes state is open to READ_ONLY, except its own session (logout)', () => {
    const writable = protectedRoutes
      .filter((route) => route.method !== 'GET' && route.method !== 'HEAD' && route.permission !== 'session:self' && roleHas('READ_ONLY', route.permission))
      .map((route) => `${route.key} (${route.permission})`);
    expect(writable).toEqual([]);
  });
});

describe.each(protectedRoutes)('$key needs $permission', (route) => {
  it('without a token → 401 problem+json', async () => {
    expectProblem(await call(route, {}), 401, 'UNAUTHENTICATED');
  });

  const cases = ROLES.map((role) => ({ role, allowed: roleHas(role, route.permission) }));
  it.each(cases.filter((c) => !c.allowed))('as $role → 403 problem+json', async ({ role }) => {
    expectProblem(await call(route, tokenOf(role)), 403, 'FORBIDDEN');
  });
  it.each(cases.filter((c) => c.allowed))('as $role → past the permission check (neither 401 nor 403, no 5xx)', async ({ role }) => {
    const res = await call(route, tokenOf(role));
    expect([401, 403], `${res.statusCode} ${res.body}`).not.toContain(res.statusCode);
    expect(res.statusCode, res.body).toBeLessThan(500);
  });
});

describe.each(publicRoutes)('$key is public', (route) => {
  // A public route with its own scheme (a signed webhook) may refuse an unsigned call with 401;
  // what no public route may do is depend on the bearer token.
  it(route.ownSecurity ? 'answers the same with or without a bearer token' : 'never answers 401 or 403 without a token, nor differently with one', async () => {
    const anonymous = await call(route, {});
    if (!route.ownSecurity) expect([401, 403], `${anonymous.statusCode} ${anonymous.body}`).not.toContain(anonymous.statusCode);
    expect(anonymous.statusCode, anonymous.body).toBeLessThan(500);
    for (const role of ROLES) {
      const withToken = await call(route, tokenOf(role));
      expect(withToken.statusCode, `${role}: ${withToken.body}`).toBe(anonymous.statusCode);
    }
  });
});
