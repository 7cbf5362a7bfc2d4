import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRedis } from '../../config/redis.js';
import { createContainer, type Container } from '../../container.js';
import { auditLogs, jobs, orders, subscriptions, type Price, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { PermanentStepError } from '../../jobs/runner.js';
import { PROVISIONING_QUEUE } from '../../jobs/queue.js';
import { createRegistry } from '../../jobs/registry.js';
import { defineStep } from '../step-services.js';
import { provisioningStepTypes } from './plan.js';
import { startWorkers, type RunningWorkers } from '../../worker.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';

/**
 * The whole admin-retry story on a real worker: a step exhausts its attempts (job and subscription
 * FAILED, BullMQ keeps the failed run), the cause is fixed, an admin retries, and provisioning
 * carries on to ACTIVE.
 */

/** Domains whose DNS step is rejected for good: TEST-ONLY handlers, never in the production registry. */
const rejectedDomains = new Set<string>();
const steps = provisioningStepTypes.map((type) =>
  defineStep({
    type,
    payload: z.looseObject({ domain: z.string() }),
    async handle({ domain }) {
      if (type === 'PROVISION_DNS' && rejectedDomains.has(domain)) throw new PermanentStepError('simulated: the zone was refused');
      return { done: type };
    },
  }),
);

let t: TestApp;
let tenant: Tenant;
let price: Price;
let workerContainer: Container;
let workers: RunningWorkers;
let queue: Queue;

const db = () => t.container.database.db;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  ({ price } = await buildOffer(db(), tenant));
  workerContainer = createContainer(t.env, 'worker');
  workers = await startWorkers(workerContainer, { registry: createRegistry(steps) });
  queue = new Queue(PROVISIONING_QUEUE, { connection: createRedis(t.env.REDIS_URL, 'worker'), prefix: t.env.REDIS_KEY_PREFIX });
});
afterAll(async () => {
  await workers.close();
  await workerContainer.close();
  await queue.close();
  await queue.disconnect();
  await t.close();
});

describe('exhaustion → FAILED → admin retry → ACTIVE', () => {
  it('provisions the subscription once the failed step is retried', async () => {
    const domain = 'retry-flow.example.test';
    rejectedDomains.add(domain);
    const raw = JSON.stringify(orderPayload(tenant, price, { domain }));
    const placed = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
    expect(placed.statusCode, placed.body).toBe(201);
    const { orderId, subscriptionId } = placed.json<{ orderId: string; subscriptionId: string }>();

    const status = async () => (await withTenant(db(), tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId))))[0]?.status;
    const rows = () => withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.orderId, orderId)));
    const dnsRow = async () => (await rows()).find((row) => row.type === 'PROVISION_DNS')!;

    await eventually(async () => (await status()) === 'FAILED', 15_000, 'the subscription to fail');
    const dns = await dnsRow();
    expect(dns).toMatchObject({ status: 'FAILED', lastError: 'simulated: the zone was refused' });
    // The subscription says why it failed, and which job made it so.
    const failed = await t.app.inject({ method: 'GET', url: `/api/subscriptions/${subscriptionId}`, headers: await authHeader(t.env, (await buildUser(db(), tenant, { role: 'READ_ONLY' })).user) });
    expect(failed.json().statusReason).toMatchObject({
      event: 'failed',
      reason: 'step PROVISION_DNS failed: simulated: the zone was refused',
      actorType: 'SYSTEM',
      jobId: dns.id,
      jobType: 'PROVISION_DNS',
    });
    // BullMQ holds the failed run under the job's id: the retry must replace it, not add beside it.
    await eventually(async () => (await (await queue.getJob(dns.id))?.getState()) === 'failed', 10_000, 'BullMQ to record the failed run');
    expect((await rows()).filter((row) => row.type !== 'PROVISION_DNS').every((row) => row.status === 'PENDING')).toBe(true);

    rejectedDomains.delete(domain);
    const { user } = await buildUser(db(), tenant, { role: 'SUPPORT' });
    const res = await t.app.inject({ method: 'POST', url: `/api/jobs/${dns.id}/retry`, headers: await authHeader(t.env, user) });
    expect(res.statusCode, res.body).toBe(200);

    await eventually(async () => (await status()) === 'ACTIVE', 15_000, 'the subscription to become ACTIVE');
    expect((await withTenant(db(), tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId))))[0]?.statusReason).toMatchObject({
      event: 'activated',
      reason: 'every provisioning step succeeded',
      jobType: 'VERIFY_AND_ACTIVATE',
    });
    expect((await rows()).every((row) => row.status === 'SUCCEEDED')).toBe(true);
    const history = (await dnsRow()).history;
    // QUEUED is left out: the outbox marks it after handing the job over, and a fast worker can
    // claim the job (RUNNING) first, in which case no QUEUED entry is written.
    expect(history.map((entry) => entry.status).filter((status) => status !== 'QUEUED')).toEqual(['PENDING', 'RUNNING', 'FAILED', 'PENDING', 'RUNNING', 'SUCCEEDED']);
    // A full set of attempts after the retry: the counter started again at 1.
    expect(history.filter((entry) => entry.status === 'RUNNING').map((entry) => entry.attempt)).toEqual([1, 1]);

    await withTenant(db(), tenant.id, async (tx) => {
      const [order] = await tx.select().from(orders).where(eq(orders.id, orderId));
      expect(order?.status).toBe('FULFILLED');
      const audit = await tx.select().from(auditLogs).where(eq(auditLogs.targetId, subscriptionId)).orderBy(auditLogs.seq);
      expect(audit.map((row) => [row.action, row.actorType, row.after?.status])).toEqual([
        ['subscription.provisioning_started', 'SYSTEM', 'PROVISIONING'],
        ['subscription.failed', 'SYSTEM', 'FAILED'],
        ['subscription.reopened', 'USER', 'PROVISIONING'],
        ['subscription.activated', 'SYSTEM', 'ACTIVE'],
      ]);
      expect(audit[2]?.actorUserId).toBe(user.id);
    });
  });
});
