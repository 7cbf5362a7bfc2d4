import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../src/config/redis.js';
import { createContainer, type Container } from '../src/container.js';
import { auditLogs, jobs, orders, subscriptions, type Price, type Tenant } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { createRegistry } from '../src/jobs/registry.js';
import { JobProducer } from '../src/jobs/queue.js';
import { verifyAuditChain } from '../src/modules/audit/audit-verify.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildTenant } from './factories.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './helpers/orders.js';
import { spawnTs, type Spawned } from './helpers/process.js';
import { testSteps, type StepEvent } from './helpers/test-steps.js';

// Fast pipeline settings for tests: short backoff, sweeper and lock, three attempts per step.
const pipelineEnv = {
  JOB_MAX_ATTEMPTS: '3',
  JOB_BACKOFF_BASE_MS: '50',
  OUTBOX_SWEEP_INTERVAL_MS: '200',
  OUTBOX_PENDING_AFTER_MS: '300',
  WORKER_LOCK_DURATION_MS: '1500',
  WORKER_METRICS_PORT: '0',
};
Object.assign(process.env, pipelineEnv);

const dir = mkdtempSync(path.join(tmpdir(), 'mpanel-steps-'));
let t: TestApp;
let tenant: Tenant;
let price: Price;
let workers: RunningWorkers | undefined;
let workerContainer: Container | undefined;
let child: Spawned | undefined;

async function startInProcessWorker() {
  workerContainer = createContainer(t.env, 'worker');
  workers = await startWorkers(workerContainer, { registry: createRegistry(testSteps(dir)) });
}

async function stopInProcessWorker() {
  await workers?.close();
  await workerContainer?.close();
  workers = undefined;
  workerContainer = undefined;
}

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(t.container.database.db);
  ({ price } = await buildOffer(t.container.database.db, tenant, { features: { diskQuotaMb: 512, mailboxes: 2, sslIncluded: true } }));
});
afterEach(async () => {
  child?.child.kill('SIGKILL');
  child = undefined;
  await stopInProcessWorker();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

async function placeOrder(app: TestApp, domain: string, extra: Record<string, unknown> = {}) {
  const raw = JSON.stringify(orderPayload(tenant, price, { domain, ...extra }));
  const res = await app.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(app.env.MARKETING_WEBHOOK_SECRET, raw) });
  expect(res.statusCode).toBe(201);
  return res.json<{ orderId: string; subscriptionId: string; jobs: { id: string; type: string }[] }>();
}

const subscriptionStatus = async (id: string) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, id))))[0]?.status;

const jobsOf = (orderId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.orderId, orderId)));

function events(domain: string): StepEvent[] {
  const file = path.join(dir, 'events.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as StepEvent)
    .filter((event) => event.domain === domain);
}

describe('provisioning pipeline (real BullMQ on Redis, test-only step handlers)', () => {
  it('runs steps in dependency order and activates the subscription only after the last one', async () => {
    await startInProcessWorker();
    const domain = 'order-flow.example.test';
    const accepted = await placeOrder(t, domain, { mailboxes: [{ localPart: 'info' }] });
    await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === 'ACTIVE', 15_000, 'ACTIVE');

    const seen = events(domain);
    const time = (type: string, event: 'start' | 'end') => seen.find((e) => e.type === type && e.event === event)!.at;
    expect(time('PROVISION_HOSTING', 'start')).toBeGreaterThan(time('PROVISION_DNS', 'end'));
    expect(time('PROVISION_MAIL', 'start')).toBeGreaterThan(time('PROVISION_DNS', 'end'));
    expect(time('ISSUE_SSL', 'start')).toBeGreaterThan(Math.max(time('PROVISION_DNS', 'end'), time('PROVISION_HOSTING', 'end')));
    for (const type of ['PROVISION_DNS', 'PROVISION_HOSTING', 'PROVISION_MAIL', 'ISSUE_SSL']) {
      expect(time('VERIFY_AND_ACTIVATE', 'start')).toBeGreaterThan(time(type, 'end'));
    }

    const rows = await jobsOf(accepted.orderId);
    expect(rows.every((row) => row.status === 'SUCCEEDED' && row.attempts === 1)).toBe(true);
    const dns = rows.find((row) => row.type === 'PROVISION_DNS')!;
    expect(dns.history.map((entry) => entry.status)).toEqual(['PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED']);
    expect(dns.result).toEqual({ resource: `PROVISION_DNS-${domain}` });

    await withTenant(db(), tenant.id, async (tx) => {
      const [order] = await tx.select().from(orders).where(eq(orders.id, accepted.orderId));
      expect(order?.status).toBe('FULFILLED');
      const audit = await tx.select().from(auditLogs).where(eq(auditLogs.targetId, accepted.subscriptionId)).orderBy(auditLogs.seq);
      expect(audit.map((row) => [row.action, row.before?.status, row.after?.status])).toEqual([
        ['subscription.provisioning_started', 'PENDING', 'PROVISIONING'],
        ['subscription.activated', 'PROVISIONING', 'ACTIVE'],
      ]);
    });

    // The worker exposes its metrics: step outcomes by type.
    const text = await workers!.metrics.registry.metrics();
    expect(text).toMatch(/mpanel_jobs_total\{type="PROVISION_DNS",outcome="succeeded"\} \d+/);

    // The worker's audit-seal task chains the tenant's audit rows shortly after they commit.
    await eventually(
      async () => (await verifyAuditChain(db(), tenant.id)).unsealed.rows === 0,
      10_000,
      'the audit rows to be sealed',
    );
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: true });
  });

  it('retries a failing step with backoff, then succeeds', async () => {
    await startInProcessWorker();
    const domain = 'fail2-retry.example.test';
    const accepted = await placeOrder(t, domain);
    await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === 'ACTIVE', 15_000, 'ACTIVE');
    const hosting = (await jobsOf(accepted.orderId)).find((row) => row.type === 'PROVISION_HOSTING')!;
    expect(hosting.attempts).toBe(3);
    expect(hosting.history.filter((entry) => entry.status === 'FAILED').map((entry) => entry.error)).toEqual(['simulated hosting failure 1', 'simulated hosting failure 2']);
    expect(hosting.history.at(-1)?.status).toBe('SUCCEEDED');
    expect(hosting.lastError).toBeNull();
  });

  it('exhausts its attempts: job FAILED with its error, subscription FAILED, later steps never start', async () => {
    await startInProcessWorker();
    const domain = 'failall-exhaust.example.test';
    const accepted = await placeOrder(t, domain);
    await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === 'FAILED', 15_000, 'FAILED');
    const rows = await jobsOf(accepted.orderId);
    const dns = rows.find((row) => row.type === 'PROVISION_DNS')!;
    expect(dns).toMatchObject({ status: 'FAILED', attempts: 3, lastError: 'simulated PowerDNS outage' });
    expect(rows.filter((row) => row.type !== 'PROVISION_DNS').every((row) => row.status === 'PENDING')).toBe(true);
    expect(events(domain).filter((e) => e.type !== 'PROVISION_DNS')).toEqual([]);

    // A permanent error fails at once, without retries.
    const permanent = await placeOrder(t, 'bad-permanent.example.test');
    await eventually(async () => (await subscriptionStatus(permanent.subscriptionId)) === 'FAILED', 15_000, 'FAILED');
    expect((await jobsOf(permanent.orderId)).find((row) => row.type === 'PROVISION_DNS')?.attempts).toBe(1);
  });
});

describe('outbox: nothing is lost between commit and enqueue', () => {
  it('Redis down at intake: the order is accepted (201) and provisioned once Redis is reachable', async () => {
    // An API whose producer cannot reach Redis: it commits, fails to enqueue, and answers 201.
    const down = await createTestApp({
      container: (env) => {
        const real = createContainer(env, 'api');
        const producer = new JobProducer({ ...env, REDIS_URL: 'redis://127.0.0.1:1' });
        const redis = createRedis('redis://127.0.0.1:1', 'command', { retryStrategy: () => null });
        redis.on('error', () => undefined);
        return { ...real, producer, redis, close: async () => { await producer.close(); redis.disconnect(); await real.close(); } };
      },
    });
    let accepted;
    try {
      accepted = await placeOrder(down, 'outbox-redis-down.example.test');
    } finally {
      await down.close();
    }
    const rows = await jobsOf(accepted.orderId);
    expect(rows.every((row) => row.status === 'PENDING')).toBe(true);

    // A worker (its sweeper sees the ready PENDING job) provisions it.
    await startInProcessWorker();
    await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === 'ACTIVE', 15_000, 'ACTIVE');
    const dns = (await jobsOf(accepted.orderId)).find((row) => row.type === 'PROVISION_DNS')!;
    expect(dns.history.map((entry) => entry.status)).toEqual(['PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED']);
  });
});

describe('a worker killed with SIGKILL mid-step', () => {
  it('another worker picks the step up after the lock expires and completes it once, without a duplicate resource', async () => {
    child = spawnTs('test/fixtures/pipeline-worker.ts', [], { ...pipelineEnv, TEST_STEPS_DIR: dir, LOG_LEVEL: 'warn' });
    await child.waitFor(/test worker ready/);
    const domain = 'slow-killed.example.test';
    const accepted = await placeOrder(t, domain);
    await eventually(async () => existsSync(path.join(dir, `started-${domain}-1`)), 15_000, 'the step to start in the child worker');
    child.child.kill('SIGKILL');
    await child.exited;

    await startInProcessWorker();
    await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === 'ACTIVE', 30_000, 'ACTIVE after takeover');
    const dns = (await jobsOf(accepted.orderId)).find((row) => row.type === 'PROVISION_DNS')!;
    expect(dns.status).toBe('SUCCEEDED');
    expect(dns.history.filter((entry) => entry.status === 'RUNNING').map((entry) => entry.attempt)).toEqual([1, 2]);
    expect(dns.history.filter((entry) => entry.status === 'SUCCEEDED')).toHaveLength(1);
    const acts = events(domain).filter((e) => e.type === 'PROVISION_DNS' && e.event === 'act');
    expect(acts).toHaveLength(1);
    expect(readdirSync(path.join(dir, 'resources')).filter((name) => name === `PROVISION_DNS-${domain}`)).toHaveLength(1);
  });
});
