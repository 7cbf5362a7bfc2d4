import type { InjectOptions, LightMyRequestResponse, RouteOptions } from 'fastify';
import { expect } from 'vitest';
import { createContainer } from '../../src/container.js';
import { isPermission, type Permission } from '../../src/modules/auth/permissions.js';
import { isPortalPermission, type PortalPermission } from '../../src/modules/customer-auth/portal-permissions.js';
import { PROBLEM_CONTENT_TYPE } from '../../src/shared/http/problem.js';
import { createTestApp, type TestApp } from './app.js';

/** One method + URL of the API, as registered, with the access it declares. */
export interface ApiRoute {
  /** 'PATCH /api/users/:id': the name tests report and fixtures refer to. */
  readonly key: string;
  readonly method: Method;
  /** The URL template as registered, with the /api prefix. */
  readonly url: string;
  readonly permission: Permission | undefined;
  /** A client portal route (/api/portal): the portal permission a customer login's role must hold. */
  readonly portal: PortalPermission | undefined;
  readonly public: boolean;
  /** Path parameter names (`:id` → 'id'), in order. */
  readonly params: readonly string[];
  /** A public route that authenticates by its own scheme (schema.security, e.g. a signed webhook). */
  readonly ownSecurity: boolean;
}

const PARAM = /:([A-Za-z0-9_]+)/g;

/** The methods app.inject() can send. */
type Method = NonNullable<InjectOptions['method']>;
const METHODS: readonly Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const isMethod = (value: string): value is Method => METHODS.some((method) => method === value);

/**
 * Records the /api routes seen by the app's onRoute hook (AppDeps.onRoute). Values are copied at
 * once: Fastify reuses and mutates the options object between its calls for one route.
 */
export function routeCollector(): { onRoute: (route: RouteOptions) => void; routes: () => ApiRoute[] } {
  const seen: ApiRoute[] = [];
  const onRoute = (route: RouteOptions): void => {
    if (route.url !== '/api' && !route.url.startsWith('/api/')) return;
    const config: { public?: boolean; permission?: string; portal?: string } = route.config ?? {};
    const { permission, portal } = config;
    if (permission !== undefined && !isPermission(permission)) throw new Error(`${route.url}: unknown permission ${permission}`);
    if (portal !== undefined && !isPortalPermission(portal)) throw new Error(`${route.url}: unknown portal permission ${portal}`);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!isMethod(method)) throw new Error(`${route.url}: method ${method} is not covered by the route suites`);
      seen.push({
        key: `${method} ${route.url}`,
        method,
        url: route.url,
        permission,
        portal,
        public: config.public === true,
        params: [...route.url.matchAll(PARAM)].map((match) => match[1] ?? ''),
        ownSecurity: Array.isArray(route.schema?.security) && route.schema.security.length > 0,
      });
    }
  };
  // HEAD twins of GET routes (exposeHeadRoutes) run the same hooks and handler: test the GET once.
  const routes = () => {
    const gets = new Set(seen.filter((r) => r.method === 'GET').map((r) => r.url));
    const unique = new Map(seen.filter((r) => !(r.method === 'HEAD' && gets.has(r.url))).map((r) => [r.key, r]));
    return [...unique.values()].sort((a, b) => a.url.localeCompare(b.url) || a.method.localeCompare(b.method));
  };
  return { onRoute, routes };
}

/** A test app (see helpers/app.ts) plus the table of its /api routes. */
export async function createTestAppWithRoutes(): Promise<{ t: TestApp; routes: ApiRoute[] }> {
  const collector = routeCollector();
  // buildApp takes the container as its AppDeps; the optional onRoute rides along on it.
  const t = await createTestApp({ container: (env) => Object.assign(createContainer(env, 'api'), { onRoute: collector.onRoute }) });
  return { t, routes: collector.routes() };
}

/** The route's URL with each `:param` replaced by `params[name]`, or by `fallback(name)` when absent. */
export function fillPath(route: Pick<ApiRoute, 'url'>, params: Readonly<Record<string, string>>, fallback?: (name: string) => string): string {
  return route.url.replace(PARAM, (_whole, name: string) => {
    const value = params[name] ?? fallback?.(name);
    if (value === undefined) throw new Error(`${route.url}: no value for :${name}`);
    return encodeURIComponent(value);
  });
}

/** Methods whose requests carry a JSON body. */
export const hasBody = (method: string): boolean => method === 'POST' || method === 'PUT' || method === 'PATCH';

/** The response is an RFC 9457 problem document with this status and code. */
export function expectProblem(res: LightMyRequestResponse, status: number, code: string): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toBe(PROBLEM_CONTENT_TYPE);
  expect(res.json()).toMatchObject({ status, code });
}

/** A fixture's body: as given, or made from the params its `create` returned (a function). */
export function bodyOf(body: unknown, params: Readonly<Record<string, string>>): unknown {
  // A fixture's function body is typed where the fixture is written; here it is only called.
  if (typeof body === 'function') return (body as (params: Readonly<Record<string, string>>) => unknown)(params);
  return body ?? {};
}
