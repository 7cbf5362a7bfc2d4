import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../config/redis.js';
import { createContainer } from '../../container.js';
import { auditLogs, jobs, subscriptions, type Tenant, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { JobProducer, PROVISIONING_QUEUE } from '../../jobs/queue.js';
import { buildOrder, buildTenant, buildUser, type BuiltOrder } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { eventually } from '../../../test/helpers/orders.js';

const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

let t: TestApp;
let tenant: Tenant;
let queue: Queue;
const headers = new Map<UserRole, Record<string, string>>();
const userIds = new Map<UserRole, string>();

const db = () => t.container.database.db;
const get = (url: string, role: UserRole = 'ADMIN') => t.app.inject({ method: 'GET', url, headers: headers.get(role)! });
const retry = (id: string, role: UserRole = 'ADMIN', app: TestApp = t) => app.app.inject({ method: 'POST', url: `/api/jobs/${id}/retry`, headers: headers.get(role)! });
const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);

const jobRow = async (id: string) => (await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.id, id))))[0]!;
const subscriptionStatus = async (id: string) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, id))))[0]?.status;
const auditOf = (targetId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, targetId)).orderBy(auditLogs.seq));
const auditCount = async () => (await withTenant(db(), tenant.id, (tx) => tx.select({ n: count() }).from(auditLogs)))[0]!.n;

/** An order whose first step (DNS) ran out of attempts: job FAILED, subscription FAILED. */
const failedOrder = () => buildOrder(db(), tenant, { subscriptionStatus: 'FAILED', jobStatuses: { PROVISION_DNS: 'FAILED' } });

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  for (const role of ROLES) {
    const { user } = await buildUser(db(), tenant, { role });
    userIds.set(role, user.id);
    headers.set(role, await authHeader(t.env, user));
  }
  const connection = createRedis(t.env.REDIS_URL, 'worker');
  queue = new Queue(PROVISIONING_QUEUE, { connection, prefix: t.env.REDIS_KEY_PREFIX });
});
afterAll(async () => {
  await queue.close();
  await queue.disconnect();
  await t.close();
});

describe('GET /api/jobs', () => {
  let listTenant: Tenant;
  let listHeaders: Record<string, string>;
  let orders: BuiltOrder[];
  const list = (query = '') => t.app.inject({ method: 'GET', url: `/api/jobs${query}`, headers: listHeaders });

  beforeAll(async () => {
    // A tenant of its own, so the other tests' jobs do not show here.
    listTenant = await buildTenant(db());
    listHeaders = await authHeader(t.env, (await buildUser(db(), listTenant, { role: 'READ_ONLY' })).user);
    orders = [
      await buildOrder(db(), listTenant, { jobStatuses: { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'FAILED' } }),
      await buildOrder(db(), listTenant),
    ];
  });

  it("lists the tenant's jobs newest first, without payloads", async () => {
    const res = await list();
    expect(res.statusCode, res.body).toBe(200);
    const all = orders.flatMap((order) => order.jobs).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (b.id > a.id ? 1 : -1));
    expect(ids(res.json())).toEqual(all.map((job) => job.id));
    const item = res.json().items[0];
    expect(Object.keys(item).sort()).toEqual(
      ['attempts', 'createdAt', 'dependsOn', 'enqueuedAt', 'finishedAt', 'id', 'lastError', 'maxAttempts', 'orderId', 'queue', 'startedAt', 'status', 'subscriptionId', 'type', 'updatedAt'].sort(),
    );
  });

  it('filters by status, type and subscription', async () => {
    const [withFailure, fresh] = orders as [BuiltOrder, BuiltOrder];
    expect(ids((await list('?status=FAILED')).json())).toEqual([withFailure.jobs[1]!.id]);
    expect(ids((await list('?status=SUCCEEDED&type=PROVISION_DNS')).json())).toEqual([withFailure.jobs[0]!.id]);
    const dns = (await list('?type=PROVISION_DNS')).json();
    expect(ids(dns).sort()).toEqual([withFailure.jobs[0]!.id, fresh.jobs[0]!.id].sort());
    const ofFresh = (await list(`?subscriptionId=${fresh.subscription.id}`)).json();
    expect(ids(ofFresh).sort()).toEqual(fresh.jobs.map((job) => job.id).sort());
    expect(ids((await list(`?subscriptionId=${fresh.subscription.id}&status=FAILED`)).json())).toEqual([]);
  });

  it('pages with a cursor through jobs that share their creation time', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { id: string }[]; nextCursor: string | null } = (await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...ids(page));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
  });

  it('every role can read; bad filters are 400', async () => {
    for (const role of ROLES) expect((await get('/api/jobs', role)).statusCode, role).toBe(200);
    for (const query of ['status=DONE', 'type=provision_dns', 'subscriptionId=1']) expect((await list(`?${query}`)).statusCode, query).toBe(400);
  });
});

describe('POST /api/jobs/:id/retry', () => {
  it('resets a FAILED job, audits it, reopens its subscription and hands the job to BullMQ', async () => {
    const order = await failedOrder();
    const dns = order.jobs[0]!;
    const started = Date.now();

    const res = await retry(dns.id, 'SUPPORT');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id: dns.id, type: 'PROVISION_DNS', status: 'QUEUED', attempts: 0, lastError: null, finishedAt: null });
    expect(body.history.map((entry: { status: string }) => entry.status)).toEqual(['PENDING', 'FAILED', 'PENDING', 'QUEUED']);
    expect(body.history[1].error).toBe('simulated PROVISION_DNS failure');
    expect(body.history[2].error).toBe('retried after: simulated PROVISION_DNS failure');

    const row = await jobRow(dns.id);
    expect(row).toMatchObject({ status: 'QUEUED', attempts: 0, lastError: null });
    expect(row.enqueuedAt).toBeInstanceOf(Date);
    expect(await subscriptionStatus(order.subscription.id)).toBe('PROVISIONING');

    const [retried] = await auditOf(dns.id);
    expect(retried).toMatchObject({
      action: 'job.retried',
      actorType: 'USER',
      actorUserId: userIds.get('SUPPORT'),
      targetType: 'job',
      before: { status: 'FAILED', attempts: 5, lastError: 'simulated PROVISION_DNS failure' },
      after: { status: 'PENDING', attempts: 0, lastError: null },
    });
    const [reopened] = await auditOf(order.subscription.id);
    expect(reopened).toMatchObject({
      action: 'subscription.reopened',
      actorUserId: userIds.get('SUPPORT'),
      before: { status: 'FAILED' },
      after: { status: 'PROVISIONING' },
      metadata: { jobId: dns.id, jobType: 'PROVISION_DNS' },
    });

    const queued = await queue.getJob(dns.id);
    expect(queued?.name).toBe('PROVISION_DNS');
    expect(queued?.data).toEqual({ tenantId: tenant.id });
    expect(queued?.opts.attempts).toBe(5);
    expect(queued!.timestamp).toBeGreaterThanOrEqual(started);
  });

  it('replaces the failed run BullMQ still holds under the same id', async () => {
    const order = await failedOrder();
    const dns = order.jobs[0]!;
    // A queue of its own, so the worker below fails this run and nothing else.
    const queueName = `retry-test-${dns.id.slice(0, 8)}`;
    await withTenant(db(), tenant.id, (tx) => tx.update(jobs).set({ queue: queueName }).where(eq(jobs.id, dns.id)));
    const connection = createRedis(t.env.REDIS_URL, 'worker');
    const own = new Queue(queueName, { connection, prefix: t.env.REDIS_KEY_PREFIX });
    const failing = new Worker(
      queueName,
      async () => {
        throw new UnrecoverableError('simulated final failure');
      },
      { connection, prefix: t.env.REDIS_KEY_PREFIX },
    );
    try {
      // The run that failed: BullMQ keeps it (removeOnFail) and ignores a new add with its id.
      await t.container.producer.add({ ...dns, queue: queueName });
      await eventually(async () => (await (await own.getJob(dns.id))?.getState()) === 'failed', 10_000, 'the run to fail');
      await failing.close();

      const res = await retry(dns.id);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().status).toBe('QUEUED');
      const fresh = await own.getJob(dns.id);
      expect(await fresh!.getState()).toBe('waiting');
      expect(fresh!.attemptsMade).toBe(0);
    } finally {
      await failing.close();
      await own.close();
      connection.disconnect();
    }
  });

  it('a job whose dependencies have not all succeeded stays PENDING; the subscription stays FAILED while another job is FAILED', async () => {
    // Both DNS and hosting FAILED (hosting depends on DNS).
    const order = await buildOrder(db(), tenant, { subscriptionStatus: 'FAILED', jobStatuses: { PROVISION_DNS: 'FAILED', PROVISION_HOSTING: 'FAILED' } });
    const [dns, hosting] = order.jobs as [BuiltOrder['jobs'][number], BuiltOrder['jobs'][number]];

    const first = await retry(hosting.id);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(await queue.getJob(hosting.id)).toBeUndefined();
    expect(await subscriptionStatus(order.subscription.id)).toBe('FAILED');

    const second = await retry(dns.id);
    expect(second.json()).toMatchObject({ status: 'QUEUED' });
    expect(await subscriptionStatus(order.subscription.id)).toBe('PROVISIONING');
    expect((await jobRow(hosting.id)).status).toBe('PENDING');
  });

  it('409 for a job that is not FAILED, with nothing changed', async () => {
    const order = await buildOrder(db(), tenant, { jobStatuses: { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'RUNNING' } });
    const auditBefore = await auditCount();
    for (const job of order.jobs) {
      const before = await jobRow(job.id);
      const res = await retry(job.id);
      expect(res.statusCode, job.type).toBe(409);
      expect(res.json().code).toBe('CONFLICT');
      expect(res.json().detail).toContain(`this one is ${before.status}`);
      expect(await jobRow(job.id)).toEqual(before);
    }
    expect(await auditCount()).toBe(auditBefore);
  });

  it('a second retry of the same job is 409 (it is no longer FAILED)', async () => {
    const order = await failedOrder();
    expect((await retry(order.jobs[0]!.id)).statusCode).toBe(200);
    expect((await retry(order.jobs[0]!.id)).statusCode).toBe(409);
  });

  it('only SUPER_ADMIN, ADMIN and SUPPORT may retry', async () => {
    for (const role of ROLES) {
      const order = await failedOrder();
      const res = await retry(order.jobs[0]!.id, role);
      const allowed = role === 'SUPER_ADMIN' || role === 'ADMIN' || role === 'SUPPORT';
      expect(res.statusCode, role).toBe(allowed ? 200 : 403);
      expect((await jobRow(order.jobs[0]!.id)).status, role).toBe(allowed ? 'QUEUED' : 'FAILED');
    }
  });

  it('404 for an unknown job', async () => {
    const res = await retry('00000000-0000-4000-8000-000000000000');
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('NOT_FOUND');
  });

  it('503 with nothing changed when Redis is unreachable', async () => {
    const down = await createTestApp({
      container: (env) => {
        const real = createContainer(env, 'api');
        const producer = new JobProducer({ ...env, REDIS_URL: 'redis://127.0.0.1:1' });
        return { ...real, producer, close: async () => { await producer.close(); await real.close(); } };
      },
    });
    try {
      const order = await failedOrder();
      const before = await jobRow(order.jobs[0]!.id);
      const auditBefore = await auditCount();
      const res = await retry(before.id, 'ADMIN', down);
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('5');
      expect(await jobRow(before.id)).toEqual(before);
      expect(await subscriptionStatus(order.subscription.id)).toBe('FAILED');
      expect(await auditCount()).toBe(auditBefore);
    } finally {
      await down.close();
    }
  });

  it('the job.retried audit row belongs to the tenant and names the job', async () => {
    const order = await failedOrder();
    await retry(order.jobs[0]!.id);
    const rows = await withTenant(db(), tenant.id, (tx) =>
      tx.select().from(auditLogs).where(and(eq(auditLogs.action, 'job.retried'), eq(auditLogs.targetId, order.jobs[0]!.id))),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ tenantId: tenant.id, metadata: { type: 'PROVISION_DNS', subscriptionId: order.subscription.id, orderId: order.order.id } });
  });
});
