import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createContainer, type Container } from '../src/container.js';
import { domainEvents, invoices, subscriptions, type Price, type Server, type Tenant } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { PROVISIONING_QUEUE, serverQueue } from '../src/jobs/queue.js';
import { createRegistry } from '../src/jobs/registry.js';
import { runBilling } from '../src/modules/billing/billing-run.js';
import { provisionHosting } from '../src/modules/hosting/steps/provision-hosting.js';
import { suspendSite, unsuspendSite } from '../src/modules/hosting/steps/site-lifecycle.js';
import { verifyAndActivate } from '../src/modules/provisioning/steps/verify-and-activate.js';
import { defineStep } from '../src/modules/step-services.js';
import { renderPlaceholder } from '../src/providers/nginx/vhost.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildServer, buildTenant } from './factories.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { waitForAnswer } from './helpers/nginx.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './helpers/orders.js';

/**
 * Issue 16's whole path in MPANEL mode, through the real pipeline (BullMQ, the job rows, the shared
 * nginx, PowerDNS): a paid order → ACTIVE site → the billing run, on a moved clock, issues the
 * renewal, the payment does not come → PAST_DUE → notices → NON_PAYMENT suspension (nginx serves
 * the suspended page) → the payment webhook → ACTIVE and the site back. DNS is the TEST-ONLY step
 * of test/hosting-pipeline.test.ts (a zone with @ and www at 127.0.0.1).
 */
Object.assign(process.env, { JOB_MAX_ATTEMPTS: '2', JOB_BACKOFF_BASE_MS: '50', OUTBOX_SWEEP_INTERVAL_MS: '200', OUTBOX_PENDING_AFTER_MS: '300', WORKER_METRICS_PORT: '0' });

let t: TestApp;
let tenant: Tenant;
let price: Price;
let server: Server;
let workerContainer: Container;
let workers: RunningWorkers;
const run = randomBytes(3).toString('hex');
const domain = `billing-${run}.billing-pipeline.test`;
const DAY = 86_400_000;

async function powerDns(method: string, resource: string, body?: unknown): Promise<Response> {
  return fetch(`${t.env.POWERDNS_API_URL}/servers/${t.env.POWERDNS_SERVER_ID}${resource}`, {
    method,
    headers: { 'x-api-key': t.env.POWERDNS_API_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** TEST-ONLY PROVISION_DNS: the zone with A records for @ and www at 127.0.0.1. */
const testDns = defineStep({
  type: 'PROVISION_DNS',
  payload: z.looseObject({ domain: z.string() }),
  async handle({ domain: name }) {
    const rrsets = [name, `www.${name}`].map((record) => ({ name: `${record}.`, type: 'A', ttl: 60, changetype: 'REPLACE', records: [{ content: '127.0.0.1', disabled: false }] }));
    const created = await powerDns('POST', '/zones', { name: `${name}.`, kind: 'Native', nameservers: ['ns1.mpanel.test.'], rrsets });
    if (!created.ok && created.status !== 409) throw new Error(`PowerDNS POST ${created.status}: ${await created.text()}`);
    return { address: '127.0.0.1' };
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
  await workerContainer?.providers.hosting.forServer(server).removeSite(domain, null);
  await workerContainer?.close();
  await powerDns('DELETE', `/zones/${domain}.`);
  await t.close();
});

const db = () => t.container.database.db;
const subscriptionOf = async (id: string) => (await withTenant(db(), tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, id))))[0]!;

describe('billing, MPANEL mode, end to end', () => {
  it('unpaid renewal → PAST_DUE → notices → suspended page; the payment webhook → ACTIVE and the site back', { timeout: 120_000 }, async () => {
    const raw = JSON.stringify(orderPayload(tenant, price, { domain }));
    const order = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
    expect(order.statusCode, order.body).toBe(201);
    const { subscriptionId } = order.json<{ subscriptionId: string }>();
    await eventually(async () => (await subscriptionOf(subscriptionId)).status === 'ACTIVE', 30_000, 'the site to be live');
    const live = await subscriptionOf(subscriptionId);
    // The order paid the first period.
    expect(live).toMatchObject({ billingMode: 'MPANEL', paidThrough: live.currentPeriodEnd });
    const paidThrough = live.paidThrough!;
    const deps = { db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 2 };
    const billAt = (days: number) => runBilling(deps, { asOf: new Date(paidThrough.getTime() + days * DAY), tenantId: tenant.id, trigger: 'test' });

    await billAt(-14);
    for (const day of [-7, -1, 0, 1, 3]) await billAt(day);
    expect((await subscriptionOf(subscriptionId)).status).toBe('PAST_DUE');
    await billAt(7);
    await eventually(async () => (await subscriptionOf(subscriptionId)).status === 'SUSPENDED', 30_000, 'the NON_PAYMENT suspension');
    expect((await subscriptionOf(subscriptionId)).suspensionReason).toBe('NON_PAYMENT');
    const suspended = await waitForAnswer(t.env.NGINX_HTTP_PORT, domain, (answer) => answer.status === 503);
    expect(suspended.body).toMatch(/suspended/i);

    const [invoice] = await withTenant(db(), tenant.id, (tx) => tx.select().from(invoices).where(and(eq(invoices.subscriptionId, subscriptionId), eq(invoices.kind, 'RENEWAL'))));
    const payment = JSON.stringify({ tenant: tenant.slug, invoiceId: invoice!.id, reference: `pay-${run}`, amount: invoice!.total, currency: invoice!.currency });
    const paid = await t.app.inject({ method: 'POST', url: '/api/payments', payload: payment, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, payment) });
    expect(paid.statusCode, paid.body).toBe(201);
    await eventually(async () => (await subscriptionOf(subscriptionId)).status === 'ACTIVE', 30_000, 'the payment to lift the suspension');
    expect((await waitForAnswer(t.env.NGINX_HTTP_PORT, domain, (answer) => answer.status === 200)).body).toBe(renderPlaceholder(domain));
    expect((await subscriptionOf(subscriptionId)).paidThrough).toEqual(invoice!.periodEnd);

    const events = await withTenant(db(), tenant.id, (tx) => tx.select({ type: domainEvents.type }).from(domainEvents));
    const count = (type: string) => events.filter((event) => event.type === type).length;
    expect([count('invoice.issued'), count('invoice.reminder'), count('subscription.past_due'), count('invoice.overdue'), count('subscription.suspended'), count('invoice.paid'), count('subscription.unsuspended')]).toEqual([
      1, 2, 1, 2, 1, 1, 1,
    ]);
  });
});
