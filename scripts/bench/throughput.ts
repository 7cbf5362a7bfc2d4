import type { ChildProcess } from 'node:child_process';
import { and, inArray, sql } from 'drizzle-orm';
import { createDatabase } from '../../src/config/database.js';
import { jobs } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { cpuMs, percentile, round, type Figure } from './lib.js';
import { ActiveWatcher, benchDomain, cleanUp, createTenant, env, placeOrder, removeBenchSites, startApi, startWorker, stopAll, type BenchTenant, type PlacedOrder } from './provisioning.js';

/**
 * Provisioning throughput (issues 8 and 9): N signed orders sent to one `mpanel api` as fast as
 * it accepts them (a bounded number in flight, as a busy marketing site would), provisioned by 1
 * and then 2 `mpanel worker` processes against PowerDNS and the loopback nginx. Orders per minute
 * from the first order accepted to the last subscription ACTIVE. The sites of the first run are
 * removed before the second, so both start from the same nginx.
 */

const SECTION = 'throughput';
const TENANT = 'bench-throughput';
const ORDERS = Number(process.env.BENCH_THROUGHPUT_ORDERS ?? 250);
const IN_FLIGHT = 16;
const TARGET_PER_MINUTE = 1_000;

async function sendAll(apiUrl: string, tenant: BenchTenant, count: number): Promise<PlacedOrder[]> {
  const placed: PlacedOrder[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        next += 1;
        placed.push(await placeOrder(apiUrl, tenant, benchDomain('t')));
      }
    }),
  );
  return placed;
}

/** CPU used by the API and the workers (not PostgreSQL, PowerDNS or nginx) while the orders ran. */
async function cpuOf(processes: readonly (ChildProcess | undefined)[]): Promise<number> {
  const times = await Promise.all(processes.map((child) => (child?.pid ? cpuMs(child.pid) : Promise.resolve(0))));
  return times.reduce((sum, ms) => sum + ms, 0);
}

interface StepTimes {
  readonly type: string;
  /** Enqueued (handed to BullMQ) → claimed by a worker, p50. */
  readonly waitMs: number;
  /** Claimed → finished, p50. */
  readonly runMs: number;
}

/**
 * Where an order's time goes, per step type, from the job rows' own timestamps: waiting in the
 * queue (the workers are busy) or running (the step's own work and its transactions).
 */
async function stepTimes(tenant: BenchTenant, orders: readonly PlacedOrder[]): Promise<StepTimes[]> {
  const { db, pool } = createDatabase(env.DATABASE_URL, { max: 1 });
  try {
    const rows = await withTenant(db, tenant.id, (tx) =>
      tx
        .select({
          type: jobs.type,
          waitMs: sql<number>`extract(epoch from ${jobs.startedAt} - ${jobs.enqueuedAt}) * 1000`.mapWith(Number),
          runMs: sql<number>`extract(epoch from ${jobs.finishedAt} - ${jobs.startedAt}) * 1000`.mapWith(Number),
        })
        .from(jobs)
        .where(and(inArray(jobs.subscriptionId, orders.map((order) => order.subscriptionId)), sql`${jobs.finishedAt} is not null`)),
    );
    const types = [...new Set(rows.map((row) => row.type))];
    const p50 = (values: number[]) => percentile(values.toSorted((a, b) => a - b), 50);
    return types.map((type) => {
      const ofType = rows.filter((row) => row.type === type);
      return { type, waitMs: p50(ofType.map((row) => row.waitMs)), runMs: p50(ofType.map((row) => row.runMs)) };
    });
  } finally {
    await pool.end();
  }
}

async function measure(apiUrl: string, api: ChildProcess, tenant: BenchTenant, workers: number): Promise<{ perMinute: number; seconds: number; cpuMsPerOrder: number; steps: StepTimes[] }> {
  const children: ChildProcess[] = [];
  // Coarse polling: at this scale 50 ms of resolution is nothing, and the database has work to do.
  const watcher = new ActiveWatcher(tenant, 50);
  try {
    for (let i = 0; i < workers; i++) children.push(await startWorker(tenant));
    // A few orders first, not counted: JIT, connection pools, nginx's first reloads.
    await Promise.all((await sendAll(apiUrl, tenant, 4)).map((order) => watcher.active(order.subscriptionId)));
    const cpuBefore = await cpuOf([api, ...children]);
    const orders = await sendAll(apiUrl, tenant, ORDERS);
    const active = await Promise.all(orders.map((order) => watcher.active(order.subscriptionId, 300_000)));
    const cpuMsPerOrder = ((await cpuOf([api, ...children])) - cpuBefore) / ORDERS;
    const firstAccepted = Math.min(...orders.map((order) => order.acceptedAt));
    const seconds = (Math.max(...active) - firstAccepted) / 1000;
    return { perMinute: (ORDERS * 60) / seconds, seconds, cpuMsPerOrder, steps: await stepTimes(tenant, orders) };
  } finally {
    await watcher.close();
    await stopAll(children);
  }
}

export async function benchThroughput(): Promise<Figure[]> {
  await cleanUp(TENANT);
  const tenant = await createTenant(TENANT);
  let api: ChildProcess | undefined;
  try {
    const started = await startApi();
    api = started.child;
    const one = await measure(started.url, started.child, tenant, 1);
    await removeBenchSites();
    process.stderr.write(`bench: throughput ${ORDERS} orders with 1 worker in ${round(one.seconds, 1)} s; now 2 workers...\n`);
    const two = await measure(started.url, started.child, tenant, 2);
    const steps = (workers: number, times: readonly StepTimes[]): Figure[] =>
      times.flatMap((step) => [
        { section: SECTION, name: `${workers} worker${workers > 1 ? 's' : ''}: ${step.type} queued, p50`, value: Math.round(step.waitMs), unit: 'ms' },
        { section: SECTION, name: `${workers} worker${workers > 1 ? 's' : ''}: ${step.type} running, p50`, value: Math.round(step.runMs), unit: 'ms' },
      ]);
    return [
      { section: SECTION, name: `orders provisioned per run`, value: ORDERS, unit: 'orders' },
      { section: SECTION, name: '1 worker: first accepted → last ACTIVE', value: round(one.seconds, 1), unit: 's' },
      { section: SECTION, name: '1 worker: orders/min', value: Math.round(one.perMinute), unit: 'orders/min' },
      { section: SECTION, name: '1 worker: CPU per order, API + worker', value: Math.round(one.cpuMsPerOrder), unit: 'ms' },
      { section: SECTION, name: '2 workers: CPU per order, API + workers', value: Math.round(two.cpuMsPerOrder), unit: 'ms' },
      { section: SECTION, name: '2 workers vs 1: orders/min', value: round(two.perMinute / one.perMinute), unit: 'x', target: '> 1x', met: two.perMinute > one.perMinute },
      { section: SECTION, name: '2 workers: first accepted → last ACTIVE', value: round(two.seconds, 1), unit: 's' },
      { section: SECTION, name: '2 workers: orders/min', value: Math.round(two.perMinute), unit: 'orders/min', target: `>= ${TARGET_PER_MINUTE} orders/min`, met: two.perMinute >= TARGET_PER_MINUTE },
      ...steps(1, one.steps),
      ...steps(2, two.steps),
    ];
  } finally {
    await stopAll([api]);
    await cleanUp(TENANT);
  }
}
