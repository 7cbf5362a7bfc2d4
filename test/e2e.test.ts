import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadEnv } from '../src/config/env.js';
import { createDatabase, type DatabaseHandle } from '../src/config/database.js';
import { signMarketingPayload } from '../src/modules/orders/marketing-signature.js';
import { buildTenant, buildUser } from './factories.js';
import { eventually } from './helpers/orders.js';
import { spawnTs, type Spawned } from './helpers/process.js';

/**
 * The seed's MVP, end to end, through real processes: `mpanel api` and `mpanel worker` as child
 * processes on this file's database, PowerDNS and nginx on loopback. Marketing → signed order →
 * queue → worker → DNS + hosting → subscription ACTIVE → the website answers; then suspend,
 * unsuspend and terminate.
 */
const env = loadEnv();
const processEnv = {
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  WORKER_METRICS_PORT: '0',
  JOB_BACKOFF_BASE_MS: '200',
  OUTBOX_SWEEP_INTERVAL_MS: '500',
  DNS_ZONE_RETENTION: '0',
  DNS_RETENTION_SWEEP_INTERVAL_MS: '300',
};
const domain = `e2e-${randomBytes(4).toString('hex')}.example.test`;
const resolver = new Resolver();
resolver.setServers([env.DNS_RESOLVER]);

let database: DatabaseHandle;
let api: Spawned | undefined;
let worker: Spawned | undefined;
let base = '';
let auth: Record<string, string> = {};
let operatorAuth: Record<string, string> = {};
const state: { tenant?: string } = {};

beforeAll(async () => {
  database = createDatabase(env.DATABASE_URL, { max: 2 });
  const tenant = await buildTenant(database.db, { slug: `e2e-${randomBytes(3).toString('hex')}` });
  const admin = await buildUser(database.db, tenant, { role: 'ADMIN' });
  const platformOperator = await buildUser(database.db, tenant, { role: 'SUPER_ADMIN' });

  api = spawnTs('bin/mpanel.js', ['api'], processEnv);
  [, base = ''] = await api.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
  const login = await call('POST', '/api/auth/login', { email: admin.user.email, password: admin.password });
  auth = { authorization: `Bearer ${(login.body as { token: string }).token}` };
  const operatorLogin = await call('POST', '/api/auth/login', { email: platformOperator.user.email, password: platformOperator.password });
  operatorAuth = { authorization: `Bearer ${(operatorLogin.body as { token: string }).token}` };
  Object.assign(state, { tenant: tenant.slug });
});

afterAll(async () => {
  api?.child.kill('SIGTERM');
  worker?.child.kill('SIGTERM');
  await Promise.all([api?.exited, worker?.exited]);
  await fetch(`${env.POWERDNS_API_URL}/servers/${env.POWERDNS_SERVER_ID}/zones/${domain}.`, { method: 'DELETE', headers: { 'X-API-Key': env.POWERDNS_API_KEY } });
  await database.pool.end();
});


async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...auth, ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
}

/** GET / from nginx with the site's Host header, resolving through PowerDNS (fresh connection). */
function fetchSite(host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Node asks for every address (`all`) when it may try several (autoSelectFamily).
    const lookup: LookupFunction = (hostname, options, callback) => {
      resolver.resolve4(hostname).then(
        (addresses) => (options.all ? callback(null, addresses.map((address) => ({ address, family: 4 }))) : callback(null, addresses[0] ?? '', 4)),
        (error: NodeJS.ErrnoException) => callback(error, ''),
      );
    };
    http
      .get(`http://${host}:${env.NGINX_HTTP_PORT}/`, { lookup, agent: false, timeout: 3_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function subscriptionStatus(id: string): Promise<string> {
  const { body } = await call('GET', `/api/subscriptions/${id}`);
  return (body as { status: string }).status;
}

it('signed order → DNS + hosting → ACTIVE → the site answers; suspend, unsuspend, terminate', { timeout: 120_000 }, async () => {
  // The platform operator (SUPER_ADMIN) registers the web server (the loopback nginx), then starts a worker on it.
  const server = await call('POST', '/api/servers', { hostname: 'web1.e2e.test', role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.1', httpPort: env.NGINX_HTTP_PORT }, operatorAuth);
  expect(server.status).toBe(201);
  worker = spawnTs('bin/mpanel.js', ['worker'], processEnv);
  await worker.waitFor(/worker consuming provisioning, server-/, 20_000);

  // The catalog, through the API.
  const product = await call('POST', '/api/products', {
    name: 'E2E Web',
    type: 'SHARED_HOSTING',
    features: { diskQuotaMb: 1024, mailboxes: 0, sslIncluded: false },
    prices: [{ amount: 799, currency: 'EUR', interval: 'MONTH' }],
  });
  expect(product.status).toBe(201);
  const plans = await call('GET', `/api/public/plans?tenant=${state.tenant}`, undefined, { authorization: '' });
  const plan = (plans.body as { plans: { planId: string; productName: string; amount: number; currency: string }[] }).plans.find((p) => p.productName === 'E2E Web');
  expect(plan).toBeDefined();

  // The marketing site sends the paid order, signed.
  const order = JSON.stringify({
    tenant: state.tenant,
    customer: { email: 'e2e-customer@example.test', name: 'E2E Customer' },
    priceId: plan!.planId,
    domain,
    payment: { provider: 'stripe', reference: `cs_e2e_${randomBytes(4).toString('hex')}`, amount: plan!.amount, currency: plan!.currency },
  });
  const accepted = await fetch(`${base}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mpanel-signature': signMarketingPayload(env.MARKETING_WEBHOOK_SECRET, order) },
    body: order,
  });
  expect(accepted.status).toBe(201);
  const { subscriptionId } = (await accepted.json()) as { subscriptionId: string };

  await eventually(async () => (await subscriptionStatus(subscriptionId)) === 'ACTIVE', 60_000, 'subscription ACTIVE');

  // DNS answers the web server's address for the domain and www; nginx serves the placeholder.
  expect(await resolver.resolve4(domain)).toEqual(['127.0.0.1']);
  expect(await resolver.resolve4(`www.${domain}`)).toEqual(['127.0.0.1']);
  for (const host of [domain, `www.${domain}`]) {
    const site = await fetchSite(host);
    expect(site.status).toBe(200);
    expect(site.body).toContain(domain);
  }

  // Suspend: the site answers the suspended page; unsuspend: the site again.
  const suspend = await call('POST', `/api/subscriptions/${subscriptionId}/suspend`, { reason: 'unpaid invoice' });
  expect(suspend.status, JSON.stringify(suspend.body)).toBe(202);
  await eventually(async () => (await subscriptionStatus(subscriptionId)) === 'SUSPENDED', 30_000, 'SUSPENDED');
  const suspended = await eventually(async () => {
    const site = await fetchSite(domain);
    return site.status === 503 ? site : undefined;
  }, 10_000, 'the suspended page');
  expect(suspended.body).toMatch(/suspended/i);

  const unsuspend = await call('POST', `/api/subscriptions/${subscriptionId}/unsuspend`);
  expect(unsuspend.status, JSON.stringify(unsuspend.body)).toBe(202);
  await eventually(async () => (await subscriptionStatus(subscriptionId)) === 'ACTIVE', 30_000, 'ACTIVE again');
  await eventually(async () => (await fetchSite(domain)).status === 200, 10_000, 'the site again');

  // Terminate: nginx no longer serves it and, after the (zero) retention, the zone is gone.
  expect((await call('POST', `/api/subscriptions/${subscriptionId}/terminate`)).status).toBe(202);
  await eventually(async () => (await subscriptionStatus(subscriptionId)) === 'TERMINATED', 30_000, 'TERMINATED');
  const gone = await new Promise<{ status: number }>((resolve, reject) => {
    http.get(`http://127.0.0.1:${env.NGINX_HTTP_PORT}/`, { headers: { host: domain }, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    }).on('error', reject);
  });
  expect(gone.status).toBe(404); // nothing serves this name any more (no index link, no vhost)
  await eventually(
    async () => {
      try {
        await resolver.resolve4(domain);
        return false;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EREFUSED';
      }
    },
    15_000,
    'the zone to be deleted (REFUSED)',
  );
});

it('the API process serves its Prometheus metrics on a loopback port of its own, never on the API port', async () => {
  const [, metricsUrl = ''] = await api!.waitFor(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
  expect(new URL(metricsUrl).port).not.toBe(new URL(base).port);
  const scraped = await fetch(metricsUrl);
  expect(scraped.status).toBe(200);
  expect(scraped.headers.get('content-type')).toContain('text/plain');
  // The login of beforeAll, counted by the API process itself.
  expect(await scraped.text()).toMatch(/mpanel_http_request_duration_seconds_count\{method="POST",route="\/api\/auth\/login",status_code="200"\} [1-9]/);

  const onApiPort = await fetch(`${base}/metrics`);
  expect(onApiPort.status).toBe(404);
  expect(onApiPort.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
});
