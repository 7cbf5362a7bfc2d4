import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createContainer, type Container } from '../src/container.js';
import { auditLogs, jobs, orders, subscriptions, websites, type Price, type Server, type Tenant } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { PROVISIONING_QUEUE, serverQueue } from '../src/jobs/queue.js';
import { createRegistry } from '../src/jobs/registry.js';
import { defineStep } from '../src/modules/step-services.js';
import { provisionHosting } from '../src/modules/hosting/steps/provision-hosting.js';
import { suspendSite, unsuspendSite } from '../src/modules/hosting/steps/site-lifecycle.js';
import { createResolver, fetchFrom } from '../src/modules/provisioning/site-check.js';
import { verifyAndActivate } from '../src/modules/provisioning/steps/verify-and-activate.js';
import { renderPlaceholder } from '../src/providers/nginx/vhost.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildServer, buildTenant, buildUser } from './factories.js';
import { authHeader } from './helpers/auth.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { waitForAnswer } from './helpers/nginx.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './helpers/orders.js';

/**
 * PROVISION_HOSTING and VERIFY_AND_ACTIVATE through the real pipeline (BullMQ on Redis, the job
 * rows, the shared nginx on :NGINX_HTTP_PORT, PowerDNS). DNS is a TEST-ONLY step here that writes
 * the zone straight to the PowerDNS API — @ and www pointing at 127.0.0.1, or at 127.0.0.2 for
 * domains starting with "foreign-" — so VERIFY can be shown a zone that points elsewhere.
 */
Object.assign(process.env, {
  JOB_MAX_ATTEMPTS: '2',
  JOB_BACKOFF_BASE_MS: '50',
  OUTBOX_SWEEP_INTERVAL_MS: '200',
  OUTBOX_PENDING_AFTER_MS: '300',
  WORKER_METRICS_PORT: '0',
  SITE_CHECK_TIMEOUT_MS: '3000',
});

let t: TestApp;
let tenant: Tenant;
let price: Price;
let server: Server;
let workerContainer: Container;
let workers: RunningWorkers;
const run = randomBytes(3).toString('hex');
const zones = new Set<string>();
const sites = new Set<string>();

async function powerDns(method: string, resource: string, body?: unknown): Promise<Response> {
  return fetch(`${t.env.POWERDNS_API_URL}/servers/${t.env.POWERDNS_SERVER_ID}${resource}`, {
    method,
    headers: { 'x-api-key': t.env.POWERDNS_API_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** TEST-ONLY PROVISION_DNS: the zone with A records for @ and www, created or replaced. */
const testDns = defineStep({
  type: 'PROVISION_DNS',
  payload: z.looseObject({ domain: z.string() }),
  async handle({ domain }) {
    const address = domain.startsWith('foreign-') ? '127.0.0.2' : '127.0.0.1';
    const rrsets = [domain, `www.${domain}`].map((name) => ({ name: `${name}.`, type: 'A', ttl: 60, changetype: 'REPLACE', records: [{ content: address, disabled: false }] }));
    zones.add(domain);
    const created = await powerDns('POST', '/zones', { name: `${domain}.`, kind: 'Native', nameservers: ['ns1.mpanel.test.'], rrsets });
    if (created.status === 409) {
      const patched = await powerDns('PATCH', `/zones/${domain}.`, { rrsets });
      if (!patched.ok) throw new Error(`PowerDNS PATCH ${patched.status}: ${await patched.text()}`);
    } else if (!created.ok) {
      throw new Error(`PowerDNS POST ${created.status}: ${await created.text()}`);
    }
    return { address };
  },
});

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(t.container.database.db);
  server = await buildServer(t.container.database.db, tenant, { hostname: `web-${run}.local`, ipv4: '127.0.0.1', httpPort: t.env.NGINX_HTTP_PORT });
  ({ price } = await buildOffer(t.container.database.db, tenant, { features: { diskQuotaMb: 512, mailboxes: 0, sslIncluded: false } }));
  workerContainer = createContainer(t.env, 'worker');
  workers = await startWorkers(workerContainer, {
    registry: createRegistry([testDns, provisionHosting, verifyAndActivate, suspendSite, unsuspendSite]),
    queues: [PROVISIONING_QUEUE, serverQueue(server.id)],
  });
});

afterAll(async () => {
  await workers?.close();
  const hosting = workerContainer.providers.hosting.forServer(server);
  await Promise.all([...sites].map((domain) => hosting.removeSite(domain, null)));
  await workerContainer?.close();
  await Promise.all([...zones].map((zone) => powerDns('DELETE', `/zones/${zone}.`)));
  await t.close();
});

const db = () => t.container.database.db;

async function placeOrder(forTenant: Tenant, forPrice: Price, domain: string) {
  sites.add(domain);
  const raw = JSON.stringify(orderPayload(forTenant, forPrice, { domain }));
  const res = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ orderId: string; subscriptionId: string }>();
}

const subscriptionStatus = async (tenantId: string, id: string) =>
  (await withTenant(db(), tenantId, (tx) => tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, id))))[0]?.status;

const jobsOf = (tenantId: string, orderId: string) => withTenant(db(), tenantId, (tx) => tx.select().from(jobs).where(eq(jobs.orderId, orderId)));

describe('order → DNS → PROVISION_HOSTING → VERIFY_AND_ACTIVATE', () => {
  it('provisions the site on the order\'s web server, verifies it through DNS + HTTP, and the subscription becomes ACTIVE', async () => {
    const domain = `site-${run}.hosting-pipeline.test`;
    const accepted = await placeOrder(tenant, price, domain);
    await eventually(async () => ['ACTIVE', 'FAILED'].includes((await subscriptionStatus(tenant.id, accepted.subscriptionId)) ?? ''), 30_000, 'the order to finish');
    const rows = await jobsOf(tenant.id, accepted.orderId);
    expect(rows.map((row) => [row.type, row.status, row.lastError])).toEqual(
      expect.arrayContaining([
        ['PROVISION_DNS', 'SUCCEEDED', null],
        ['PROVISION_HOSTING', 'SUCCEEDED', null],
        ['VERIFY_AND_ACTIVATE', 'SUCCEEDED', null],
      ]),
    );
    expect(await subscriptionStatus(tenant.id, accepted.subscriptionId)).toBe('ACTIVE');

    const hosting = rows.find((row) => row.type === 'PROVISION_HOSTING')!;
    expect(hosting.queue).toBe(serverQueue(server.id));
    const docroot = path.join(t.env.WEB_ROOT, domain, 'public');
    expect(hosting.result).toMatchObject({ serverId: server.id, docroot, placeholder: true, vhostChanged: true });
    const verify = rows.find((row) => row.type === 'VERIFY_AND_ACTIVATE')!;
    expect(verify.result).toEqual({
      checked: 'site',
      server: server.hostname,
      placeholder: true,
      checks: [
        { name: domain, address: '127.0.0.1', status: 200 },
        { name: `www.${domain}`, address: '127.0.0.1', status: 200 },
      ],
    });

    await withTenant(db(), tenant.id, async (tx) => {
      const [website] = await tx.select().from(websites).where(eq(websites.subscriptionId, accepted.subscriptionId));
      expect(website).toMatchObject({ serverId: server.id, docroot, status: 'ACTIVE' });
      const [order] = await tx.select().from(orders).where(eq(orders.id, accepted.orderId));
      expect(order?.status).toBe('FULFILLED');
      const audit = await tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.id), eq(auditLogs.targetId, website!.id)));
      expect(audit.map((row) => [row.action, row.after?.status])).toEqual([['website.created', 'ACTIVE']]);
    });

    // What a visitor gets: the name resolves through PowerDNS to the web server, which serves the placeholder.
    expect(await createResolver(t.env.DNS_RESOLVER).resolve4(`www.${domain}`)).toEqual(['127.0.0.1']);
    expect((await waitForAnswer(t.env.NGINX_HTTP_PORT, `www.${domain}`, (a) => a.status === 200)).body).toBe(renderPlaceholder(domain));
    expect(await fs.readFile(path.join(docroot, 'index.html'), 'utf8')).toBe(renderPlaceholder(domain));
  });

  it('VERIFY refuses a domain that resolves to an address that is not its web server\'s, and never connects there', async () => {
    // Something that would answer 200 with the placeholder on 127.0.0.2, counting connections.
    let connections = 0;
    const sockets = new Set<net.Socket>();
    const decoy = net.createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.resume();
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => decoy.listen(t.env.NGINX_HTTP_PORT, '127.0.0.2', resolve));
    try {
      const domain = `foreign-${run}.hosting-pipeline.test`;
      const accepted = await placeOrder(tenant, price, domain);
      await eventually(async () => (await subscriptionStatus(tenant.id, accepted.subscriptionId)) === 'FAILED', 30_000, 'the subscription to fail');
      const verify = (await jobsOf(tenant.id, accepted.orderId)).find((row) => row.type === 'VERIFY_AND_ACTIVATE')!;
      expect(verify).toMatchObject({ status: 'FAILED', attempts: 2 });
      expect(verify.lastError).toBe(
        `${domain} resolves to 127.0.0.2, which is not an address of its web server (127.0.0.1); not connecting there`,
      );
      expect(connections).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => decoy.close(resolve));
    }
  });

  it('a FAILED subscription\'s site answers the suspended page until a retry makes it ACTIVE', async () => {
    const domain = `foreign-held-${run}.hosting-pipeline.test`;
    const accepted = await placeOrder(tenant, price, domain);
    await eventually(async () => (await subscriptionStatus(tenant.id, accepted.subscriptionId)) === 'FAILED', 30_000, 'the subscription to fail');
    const visit = () => fetchFrom(domain, '127.0.0.1', t.env.NGINX_HTTP_PORT, 3_000);
    // The site was put up by PROVISION_HOSTING; the hold puts the suspended page in front of it.
    const held = await eventually(async () => {
      const answer = await visit();
      return answer.status === 503 ? answer : null;
    }, 15_000, 'the suspended page');
    expect(held.body).toContain('This website is suspended');
    // nginx serves the page as soon as it has reloaded; the hold's job records it just after.
    const websiteStatus = async () => (await withTenant(db(), tenant.id, (tx) => tx.select().from(websites).where(eq(websites.subscriptionId, accepted.subscriptionId))))[0]?.status;
    await eventually(async () => (await websiteStatus()) === 'SUSPENDED', 10_000, 'the website to be recorded SUSPENDED');
    expect(await subscriptionStatus(tenant.id, accepted.subscriptionId)).toBe('FAILED');

    // The zone is put right (it now points at the web server), and an admin retries the check.
    const rrsets = [domain, `www.${domain}`].map((name) => ({ name: `${name}.`, type: 'A', ttl: 60, changetype: 'REPLACE', records: [{ content: '127.0.0.1', disabled: false }] }));
    expect((await powerDns('PATCH', `/zones/${domain}.`, { rrsets })).ok).toBe(true);
    const verify = (await jobsOf(tenant.id, accepted.orderId)).find((row) => row.type === 'VERIFY_AND_ACTIVATE')!;
    const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const retried = await t.app.inject({ method: 'POST', url: `/api/jobs/${verify.id}/retry`, headers: await authHeader(t.env, admin) });
    expect(retried.statusCode, retried.body).toBe(200);
    await eventually(async () => (await subscriptionStatus(tenant.id, accepted.subscriptionId)) === 'ACTIVE', 30_000, 'the subscription to be ACTIVE');
    const live = await visit();
    expect([live.status, live.body]).toEqual([200, renderPlaceholder(domain)]);
    // The hold and its release ran on the site's server, before the check; no status came of them.
    const holds = await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.subscriptionId, accepted.subscriptionId)));
    const hold = holds.find((row) => row.type === 'SUSPEND_SITE')!;
    const release = holds.find((row) => row.type === 'UNSUSPEND_SITE')!;
    expect([hold.status, hold.queue, release.status, release.dependsOn]).toEqual(['SUCCEEDED', serverQueue(server.id), 'SUCCEEDED', [hold.id]]);
    expect((await jobsOf(tenant.id, accepted.orderId)).find((row) => row.id === verify.id)?.dependsOn).toContain(release.id);
    const moves = await withTenant(db(), tenant.id, (tx) =>
      tx.select({ action: auditLogs.action, after: auditLogs.after }).from(auditLogs).where(and(eq(auditLogs.targetId, accepted.subscriptionId), eq(auditLogs.targetType, 'subscription'))).orderBy(auditLogs.seq),
    );
    expect(moves.map((row) => (row.after as { status?: string } | null)?.status).filter(Boolean)).toEqual(['PROVISIONING', 'FAILED', 'PROVISIONING', 'ACTIVE']);
  });

  it('PROVISION_HOSTING fails at once when the order found no web server', async () => {
    const bare = await buildTenant(db());
    const { price: barePrice } = await buildOffer(db(), bare, { features: { diskQuotaMb: 512, mailboxes: 0, sslIncluded: false } });
    const accepted = await placeOrder(bare, barePrice, `noserver-${run}.hosting-pipeline.test`);
    await eventually(async () => (await subscriptionStatus(bare.id, accepted.subscriptionId)) === 'FAILED', 30_000, 'the subscription to fail');
    const hosting = (await jobsOf(bare.id, accepted.orderId)).find((row) => row.type === 'PROVISION_HOSTING')!;
    expect(hosting).toMatchObject({ status: 'FAILED', attempts: 1, queue: PROVISIONING_QUEUE });
    expect(hosting.lastError).toMatch(/^no web server registered/);
  });
});
