import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { jobs, orders } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import {
  createFaultWorld,
  expectProvisionedOnce,
  injectOrder,
  killHard,
  NginxGate,
  postOrder,
  spawnApi,
  spawnWorker,
  startWorker,
  waitForSubscription,
  type FaultWorld,
  type InProcessWorker,
  type SignedOrder,
} from '../helpers/faults.js';
import { eventually } from '../helpers/orders.js';
import type { Spawned } from '../helpers/process.js';

/**
 * Fault 8 (issue 9): SIGTERM to `mpanel api` and `mpanel worker` under load. The worker's nginx
 * calls are slowed (an NGINX_COMMAND wrapper sleeps before each), so PROVISION_HOSTING steps are
 * running; a burst of orders is in flight at the API. Both get SIGTERM at once. The API must answer
 * every request it had taken (a request that fails must have left nothing: it was never taken),
 * the worker must finish the steps it was running (SUCCEEDED on their first and only attempt, not
 * taken over by another worker), and both must exit 0. A new worker then provisions everything,
 * once.
 */
let world: FaultWorld;
let nginx: NginxGate;
let api: Spawned | undefined;
let worker: Spawned | undefined;
let finisher: InProcessWorker | undefined;

beforeAll(async () => {
  nginx = new NginxGate();
  world = await createFaultWorld({ nginxCommand: nginx.command, env: { DATABASE_POOL_MAX: '10' } });
});
afterAll(async () => {
  try {
    await Promise.all([api && killHard(api), worker && killHard(worker)]);
    await finisher?.close();
    nginx?.remove();
  } finally {
    await world?.close();
  }
});

type Outcome = { status: number; at: number } | { error: string; at: number };

it('SIGTERM under load: in-flight requests are answered, running steps finish, both exit 0', { timeout: 90_000 }, async () => {
  nginx.delay(1.5);
  const [started, spawned] = await Promise.all([spawnApi(world), spawnWorker(world)]);
  api = started.api;
  worker = spawned;
  const db = world.t.container.database.db;

  // Load: a first wave gets the worker busy with hosting steps (slowed nginx -t).
  const firstWave = Array.from({ length: 6 }, () => world.order());
  for (const res of await Promise.all(firstWave.map((order) => postOrder(started.base, order)))) expect(res.status).toBe(201);
  const runningHosting = () =>
    withTenant(db, world.tenant.id, (tx) => tx.select({ id: jobs.id }).from(jobs).where(and(eq(jobs.type, 'PROVISION_HOSTING'), eq(jobs.status, 'RUNNING'))));
  await eventually(async () => (await runningHosting()).length > 0 && nginx.callers().includes(worker?.child.pid ?? -1), 20_000, 'hosting steps running in the worker');

  // A burst of orders; SIGTERM to both processes as soon as the first one is answered.
  const burst = Array.from({ length: 30 }, () => world.order());
  let firstAnswer: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (firstAnswer = resolve));
  const outcomes = burst.map((order) =>
    postOrder(started.base, order).then(
      (res): Outcome => {
        firstAnswer();
        return { status: res.status, at: Date.now() };
      },
      (error: unknown): Outcome => ({ error: error instanceof Error ? `${error.message} ${String(error.cause)}` : String(error), at: Date.now() }),
    ),
  );
  await answered;
  const inFlightSteps = (await runningHosting()).map((row) => row.id);
  const signalledAt = Date.now();
  api.child.kill('SIGTERM');
  worker.child.kill('SIGTERM');
  const results = await Promise.all(outcomes);
  const [apiExit, workerExit] = await Promise.all([api.exited, worker.exited]);

  expect(apiExit, api.output().slice(-2000)).toEqual({ code: 0, signal: null });
  expect(workerExit, worker.output().slice(-2000)).toEqual({ code: 0, signal: null });
  expect(api.output()).toContain('API stopped');
  expect(worker.output()).toContain('worker stopped');

  // Requests in flight at the signal were answered after it; every answer is 201.
  const answers = results.filter((result): result is { status: number; at: number } => 'status' in result);
  expect(answers.every((answer) => answer.status === 201), JSON.stringify(results)).toBe(true);
  expect(answers.filter((answer) => answer.at >= signalledAt).length, 'answers after SIGTERM').toBeGreaterThan(0);
  // A request that got no answer was never taken: nothing of it exists.
  const unanswered = burst.filter((_order, index) => 'error' in results[index]!);
  if (unanswered.length > 0) {
    const found = await withTenant(db, world.tenant.id, (tx) =>
      tx.select({ domain: orders.domainName }).from(orders).where(inArray(orders.domainName, unanswered.map((order) => order.domain))),
    );
    expect(found, 'orders committed but not answered').toEqual([]);
  }

  // The steps running at SIGTERM finished on that worker: SUCCEEDED, on their one attempt.
  expect(inFlightSteps.length).toBeGreaterThan(0);
  const finished = await withTenant(db, world.tenant.id, (tx) => tx.select().from(jobs).where(inArray(jobs.id, inFlightSteps)));
  for (const job of finished) {
    expect(job.status, job.id).toBe('SUCCEEDED');
    expect(job.history.filter((entry) => entry.status === 'RUNNING'), job.id).toHaveLength(1);
  }

  // The marketing site re-sends what got no answer; a new worker provisions everything, once.
  for (const order of unanswered) expect((await injectOrder(world, order)).status).toBe(201);
  nginx.delay(0);
  finisher = await startWorker(world);
  const all: SignedOrder[] = [...firstWave, ...burst];
  await Promise.all(all.map((order) => waitForSubscription(world, order.domain, 'ACTIVE', 60_000)));
  for (const order of all) await expectProvisionedOnce(world, order.domain);
});
