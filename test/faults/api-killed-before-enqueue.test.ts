import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedis } from '../../src/config/redis.js';
import { orders } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import {
  createFaultWorld,
  expectProvisionedOnce,
  injectOrder,
  killHard,
  orderJobs,
  postOrder,
  spawnApi,
  startWorker,
  waitForSubscription,
  type FaultWorld,
  type InProcessWorker,
} from '../helpers/faults.js';
import { eventually } from '../helpers/orders.js';
import type { Spawned } from '../helpers/process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Fault 2 (issue 9): the API process killed (SIGKILL) right after the order transaction commits and
 * before the jobs are enqueued. No test hook in production code: `mpanel api` reaches Redis through
 * a proxy that this test makes go SILENT (connections stay open, nothing is delivered) before the
 * order is sent. The API commits the order, then its enqueue sends BullMQ's first command and waits
 * for an answer that never comes; the test waits for the committed rows AND for that command to
 * reach the proxy, then kills the API with SIGKILL: it dies inside `enqueue`, after the commit,
 * before anything is in BullMQ (the held commands are dropped with its connection). The client
 * never gets an answer. The worker's outbox sweeper must find the PENDING rows and provision the
 * order, and the marketing site's re-delivery must find it, not create another.
 */
let world: FaultWorld;
let proxy: TcpProxy;
let api: Spawned | undefined;
let worker: InProcessWorker | undefined;

beforeAll(async () => {
  world = await createFaultWorld();
  const redis = new URL(world.env.REDIS_URL);
  proxy = new TcpProxy(redis.hostname, Number(redis.port || 6379));
  await proxy.open();
});
afterAll(async () => {
  try {
    if (api) await killHard(api);
    await worker?.close();
    await proxy.close();
  } finally {
    await world?.close();
  }
});

it('killed between commit and enqueue: the sweeper provisions the order, and the re-delivery finds it', { timeout: 60_000 }, async () => {
  const started = await spawnApi(world, { REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
  api = started.api;

  proxy.holdRequests = true;
  proxy.holdResponses = true;
  const sentBefore = proxy.sent.length;
  const order = world.order();
  const answer = postOrder(started.base, order).then(
    (response) => ({ answered: response.status }),
    (error: unknown) => ({ failed: error instanceof Error ? error.message : String(error) }),
  );

  const db = world.t.container.database.db;
  const committed = await eventually(
    async () => (await withTenant(db, world.tenant.id, (tx) => tx.select({ id: orders.id }).from(orders).where(eq(orders.domainName, order.domain))))[0],
    15_000,
    'the order transaction to commit',
  );
  await eventually(async () => proxy.sent.length > sentBefore, 5_000, 'the API to start enqueueing (commands sent to the silent Redis)');
  await killHard(api);
  expect(await answer, 'the client never got an answer').toMatchObject({ failed: expect.any(String) });

  // What the kill left: committed rows whose jobs are all PENDING, and nothing in BullMQ.
  const left = await orderJobs(world, order.domain);
  expect([...left.values()].map((job) => [job.type, job.status, job.history.map((entry) => entry.status)]).sort()).toEqual([
    ['PROVISION_DNS', 'PENDING', ['PENDING']],
    ['PROVISION_HOSTING', 'PENDING', ['PENDING']],
    ['VERIFY_AND_ACTIVATE', 'PENDING', ['PENDING']],
  ]);
  const connection = createRedis(world.env.REDIS_URL, 'worker');
  try {
    for (const queueName of world.queues) {
      const queue = new Queue(queueName, { connection, prefix: world.env.REDIS_KEY_PREFIX });
      for (const job of left.values()) expect(await queue.getJob(job.id), `${job.type} in BullMQ ${queueName}`).toBeUndefined();
      await queue.close();
    }
  } finally {
    connection.disconnect();
  }

  worker = await startWorker(world);
  await waitForSubscription(world, order.domain, 'ACTIVE', 30_000);
  const dns = (await orderJobs(world, order.domain)).get('PROVISION_DNS');
  // Handed over by the sweeper (QUEUED), then run.
  expect(dns?.history.map((entry) => entry.status).slice(0, 3)).toEqual(['PENDING', 'QUEUED', 'RUNNING']);
  expect(dns?.history.at(-1)?.status).toBe('SUCCEEDED');

  // The marketing site had no answer, so it delivers the same signed order again: the same order.
  const replay = await injectOrder(world, order);
  expect(replay.status).toBe(200);
  expect(replay.body.orderId).toBe(committed.id);
  await expectProvisionedOnce(world, order.domain);
});
