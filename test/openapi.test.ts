import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintOpenapiDocument } from '../scripts/openapi-lint.js';
import { buildApp, type App } from '../src/app.js';
import { loadEnv } from '../src/config/env.js';
import { createContainer, type Container } from '../src/container.js';
import { DOCS_PREFIX, localOnlyCsp } from '../src/modules/docs/docs.router.js';
import { BEARER_SCHEME, operationIdFor, PROBLEM_MEDIA_TYPE, transformDocument } from '../src/modules/docs/openapi.js';

/** A route as Fastify registered it, copied when the onRoute hook saw it. */
interface RegisteredRoute {
  method: string;
  url: string;
  public: boolean;
  permission: string | undefined;
  portal?: string | undefined;
}

/** The parts of the document these tests read. */
interface MediaTypeObject {
  schema?: { $ref?: string };
}
interface OperationObject {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { $ref?: string; in?: string; name?: string }[];
  requestBody?: unknown;
  responses?: Record<string, { description?: string; content?: Record<string, MediaTypeObject> }>;
}
interface OpenapiDocument {
  openapi: string;
  info: { title: string };
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Partial<Record<string, OperationObject>>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

function* operations(document: OpenapiDocument): Generator<{ path: string; method: string; operation: OperationObject }> {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) if (operation && HTTP_METHODS.has(method)) yield { path, method, operation };
  }
}

const PROBLEM_REF = '#/components/schemas/Problem';
const ACTING_TENANT_REF = '#/components/parameters/ActingTenant';

/** Fastify's `/users/:id` is OpenAPI's `/users/{id}`. */
const openapiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');
const keyOf = (method: string, path: string): string => `${method.toUpperCase()} ${path}`;

const registered: RegisteredRoute[] = [];
let app: App;
let container: Container;
let documentText: string;
let document: OpenapiDocument;

beforeAll(async () => {
  container = createContainer(loadEnv(process.env), 'api');
  app = await buildApp({
    ...container,
    onRoute: (route: RouteOptions) => {
      const config: { public?: boolean; permission?: string; portal?: string } = route.config ?? {};
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
        // The staff console's files and its index.html fallback are pages, not operations (hidden).
        if (route.schema?.hide === true && !route.url.startsWith('/api')) continue;
        registered.push({ method, url: route.url, public: config.public === true, permission: config.permission, portal: config.portal });
      }
    },
  });
  await app.ready();
  const response = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  expect(response.statusCode).toBe(200);
  documentText = response.body;
  document = response.json();
});
afterAll(async () => {
  await app.close();
  await container.close();
});

/**
 * The routes the document must describe: every registered one except the HEAD twins Fastify adds
 * to GET routes (the same operation) and swagger-ui's own page, assets and copy of the document.
 */
function documentedRoutes(): RegisteredRoute[] {
  return registered.filter((route) => route.method !== 'HEAD' && route.url !== DOCS_PREFIX && !route.url.startsWith(`${DOCS_PREFIX}/`));
}

describe('GET /api/openapi.json', () => {
  it('is an OpenAPI 3.1 document served without a token', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toBe('mPanel API');
    expect(document.servers).toEqual([expect.objectContaining({ url: loadEnv(process.env).APP_URL.replace(/\/+$/, '') })]);
    expect(document.components.securitySchemes[BEARER_SCHEME]).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('describes every registered route, with the same method and path', () => {
    const routes = documentedRoutes();
    // The probes, this document and an /api module route must be among them; metrics are on a port of their own.
    expect(routes.map((r) => keyOf(r.method, r.url))).toEqual(expect.arrayContaining(['GET /health', 'GET /ready', 'GET /api/openapi.json', 'POST /api/auth/login']));
    expect(routes.map((r) => keyOf(r.method, r.url))).not.toContain('GET /metrics');
    const missing = routes.filter((route) => !document.paths[openapiPath(route.url)]?.[route.method.toLowerCase()]).map((r) => keyOf(r.method, r.url));
    expect(missing, 'registered routes missing from the OpenAPI document').toEqual([]);
  });

  it('describes no route that is not registered', () => {
    const known = new Set(documentedRoutes().map((r) => keyOf(r.method, openapiPath(r.url))));
    const stale = [...operations(document)].map(({ path, method }) => keyOf(method, path)).filter((key) => !known.has(key));
    expect(stale, 'operations in the document without a registered route').toEqual([]);
  });

  it('gives every operation an id, a summary, a described tag, a 2xx response and the security its route declares', () => {
    const routes = new Map(documentedRoutes().map((route) => [keyOf(route.method, openapiPath(route.url)), route]));
    const tagDescriptions = new Map((document.tags ?? []).map((tag) => [tag.name, tag.description ?? '']));
    const operationIds = new Map<string, string>();
    const problems: string[] = [];

    for (const { path, method, operation } of operations(document)) {
      const key = keyOf(method, path);
      const fail = (what: string) => problems.push(`${key}: ${what}`);
      const route = routes.get(key);
      const responses = operation.responses ?? {};
      const parameters = operation.parameters ?? [];
      const security = operation.security;

      const id = operation.operationId;
      if (typeof id !== 'string' || id === '') fail('no operationId');
      else if (operationIds.has(id)) fail(`operationId ${id} is also used by ${operationIds.get(id)}`);
      else operationIds.set(id, key);
      if (typeof operation.summary !== 'string' || operation.summary.trim() === '') fail('no summary');
      const tags = operation.tags ?? [];
      if (tags.length === 0) fail('no tag');
      for (const tag of tags) {
        if (!tagDescriptions.get(tag)) fail(`tag "${tag}" has no description (add it to TAGS in src/modules/docs/openapi.ts)`);
      }
      if (!Object.keys(responses).some((status) => /^2\d\d$/.test(status))) fail('no 2xx response');

      // Error responses that use the Problem schema are problem+json, as the error handler sends them.
      for (const [status, response] of Object.entries(responses)) {
        const content = response.content ?? {};
        const problemTypes = Object.entries(content).filter(([, media]) => media.schema?.$ref === PROBLEM_REF).map(([type]) => type);
        if (problemTypes.some((type) => type !== PROBLEM_MEDIA_TYPE)) fail(`${status} sends Problem as ${problemTypes.join(', ')}, not ${PROBLEM_MEDIA_TYPE}`);
      }
      const isProblem = (status: string) => responses[status]?.content?.[PROBLEM_MEDIA_TYPE]?.schema?.$ref === PROBLEM_REF;

      // Redocly's operation-4xx-response is off (redocly.yaml): this is its route-aware form.
      const hasInput = operation.requestBody !== undefined || parameters.some((p) => p.$ref !== ACTING_TENANT_REF);
      if (hasInput && !isProblem('400')) fail('takes input but has no 400 problem response');

      if (!route) continue; // reported by the test above
      const bearer = security?.some((requirement) => BEARER_SCHEME in requirement) ?? false;
      if (route.permission) {
        if (!bearer) fail(`declares permission ${route.permission} but the document has no ${BEARER_SCHEME} security`);
        for (const status of ['401', '403']) if (!isProblem(status)) fail(`declares permission ${route.permission} but has no ${status} problem response`);
        if (!parameters.some((p) => p.$ref === ACTING_TENANT_REF)) fail('token route without the X-Mpanel-Tenant header parameter');
      } else if (route.portal) {
        const customerBearer = security?.some((requirement) => 'customerBearerAuth' in requirement) ?? false;
        if (!customerBearer || bearer) fail(`portal route (${route.portal}) must ask for customerBearerAuth only`);
        for (const status of ['401', '403']) if (!isProblem(status)) fail(`portal route without a ${status} problem response`);
      } else if (route.public) {
        if (security === undefined) fail('public route without a security entry (an empty list means no token)');
        if (bearer) fail(`is public but the document asks for ${BEARER_SCHEME}`);
      } else {
        fail('declares neither config.public nor config.permission');
      }
    }
    expect(problems, 'operations that break the document rules').toEqual([]);
    expect(operationIds.size).toBeGreaterThan(0);
  });

  it('lists only the component schemas the operations use', () => {
    const used = new Set([...documentText.matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]));
    expect(Object.keys(document.components.schemas).filter((name) => !used.has(name))).toEqual([]);
    expect(document.components.schemas.Problem).toBeDefined();
  });

  it('passes the Redocly linter (redocly.yaml: recommended rules, warnings as errors)', async () => {
    const result = await lintOpenapiDocument(documentText);
    expect(result.status, result.output).toBe(0);
  });
});

describe('operation ids', () => {
  it('derives a camel-case id from the method and the path, without the /api prefix', () => {
    expect(operationIdFor('GET', '/api/users/:id')).toBe('getUsersById');
    expect(operationIdFor('POST', '/api/products/:id/prices')).toBe('postProductsByIdPrices');
    expect(operationIdFor('GET', '/api/audit-logs')).toBe('getAuditLogs');
    expect(operationIdFor('GET', '/health')).toBe('getHealth');
    expect(operationIdFor('GET', '/api/openapi.json')).toBe('getOpenapiJson');
    expect(operationIdFor('PATCH', '/api/prices/{id}')).toBe('patchPricesById');
  });

  it('gives each method of a multi-method route its own id, and keeps an id the route chose', () => {
    const shared = { summary: 'One route, two methods', responses: { 200: { description: 'OK' } } };
    const chosen = { operationId: 'chosenId', summary: 'Named', responses: { 200: { description: 'OK' } } };
    const result = transformDocument({
      openapiObject: { openapi: '3.1.0', info: { title: 't', version: '1' }, paths: { '/api/things/{id}': { get: shared, post: shared }, '/other': { get: chosen } } },
    });
    expect(result).toMatchObject({
      paths: {
        '/api/things/{id}': { get: { operationId: 'getThingsById', summary: shared.summary }, post: { operationId: 'postThingsById', summary: shared.summary } },
        '/other': { get: { operationId: 'chosenId' } },
      },
    });
  });
});

describe('GET /api/docs', () => {
  const references = (html: string): string[] => [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1] ?? '');

  for (const page of [DOCS_PREFIX, `${DOCS_PREFIX}/`]) {
    it(`${page} is an HTML page whose scripts and styles come from this server`, async () => {
      const res = await app.inject({ method: 'GET', url: page });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      const refs = references(res.body);
      expect(refs.filter((ref) => ref.endsWith('.js'))).toHaveLength(3);
      expect(refs.filter((ref) => ref.endsWith('.css')).length).toBeGreaterThan(0);
      expect(refs.filter((ref) => /^([a-z][a-z0-9+.-]*:|\/\/)/i.test(ref)), 'absolute URLs in the docs page').toEqual([]);
      expect(res.body).not.toMatch(/https?:\/\//);

      for (const ref of refs) {
        const url = new URL(ref, `http://mpanel.test${page}`);
        const asset = await app.inject({ method: 'GET', url: url.pathname });
        expect(asset.statusCode, `${url.pathname} (from ${page})`).toBe(200);
        expect(asset.rawPayload.length).toBeGreaterThan(0);
        if (ref.endsWith('.js')) expect(asset.headers['content-type']).toContain('javascript');
        if (ref.endsWith('.css')) expect(asset.headers['content-type']).toContain('text/css');
      }
    });
  }

  it('loads the same document the API serves, with no validator or CDN', async () => {
    const init = await app.inject({ method: 'GET', url: `${DOCS_PREFIX}/static/swagger-initializer.js` });
    expect(init.statusCode).toBe(200);
    expect(init.body).toContain("resolveUrl('./json')");
    expect(init.body).toContain('validatorUrl: null');
    const spec = await app.inject({ method: 'GET', url: `${DOCS_PREFIX}/json` });
    expect(spec.statusCode).toBe(200);
    expect(spec.json()).toEqual(document);
  });

  it('sends a Content-Security-Policy that allows this origin only', async () => {
    const res = await app.inject({ method: 'GET', url: DOCS_PREFIX });
    const csp = String(res.headers['content-security-policy'] ?? '');
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    const sources = csp.split(';').flatMap((directive) => directive.trim().split(/\s+/).slice(1));
    expect(sources.filter((source) => !/^'[a-z0-9+/=-]+'$|^data:$/i.test(source))).toEqual([]);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('localOnlyCsp', () => {
  it('drops off-machine sources and the https upgrade from swagger-ui\'s policy', () => {
    expect(localOnlyCsp("default-src 'self'; img-src 'self' data: validator.swagger.io; style-src 'self' https: 'sha256-x'; upgrade-insecure-requests;")).toBe(
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'sha256-x'",
    );
  });
});
