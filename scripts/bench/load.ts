import type { ChildProcess } from 'node:child_process';
import { load, round, rssMb, sleep, type Figure, type LoadResult } from './lib.js';
import {
  ActiveWatcher,
  BENCH_PASSWORD,
  benchDomain,
  cleanUp,
  createTenant,
  placeOrder,
  signedOrder,
  startApi,
  startWorker,
  stopAll,
  subscriptionCounts,
  type BenchTenant,
} from './provisioning.js';

/**
 * Mixed load (issue 9): one `mpanel api` and one `mpanel worker` for BENCH_LOAD_SECONDS (60 s by
 * default) under an open-model load from autocannon on loopback, each kind of request at its own
 * steady rate: public catalog reads (the marketing site), logins at a few per second, the admin
 * list endpoints with a token, and signed order webhooks (unique payment references, at a rate
 * the worker keeps up with, each order provisioned for real: PowerDNS zone, vhost, reload,
 * verification). Reported: 5xx (target 0), p99 per kind, orders provisioned, and the resident
 * memory of both processes before, during and after (no growth trend; API ≤ 200 MB, worker
 * ≤ 250 MB).
 */

const SECTION = 'load';
const TENANT = 'bench-load';
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const SAMPLE_EVERY_MS = 5_000;
const DRAIN_TIMEOUT_MS = 60_000;
const TARGET_API_MB = 200;
const TARGET_WORKER_MB = 250;
/** The load runs this many times in the same processes; resident memory after the last must not exceed the first's by more than TARGET_GROWTH_MB. */
const ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 2);
const TARGET_GROWTH_MB = 10;

/** Requests per second of each kind (and connections carrying them). */
const RATES = {
  catalog: { rate: 200, connections: 10 },
  login: { rate: 2, connections: 2 },
  list: { rate: 10, connections: 2 },
  order: { rate: 8, connections: 4 },
};

interface Sample {
  readonly at: number;
  readonly api: number;
  readonly worker: number;
}

export async function benchLoad(): Promise<Figure[]> {
  await cleanUp(TENANT);
  const tenant = await createTenant(TENANT, { admins: 4 });
  const children: (ChildProcess | undefined)[] = [];
  try {
    const api = await startApi();
    children.push(api.child);
    const worker = await startWorker(tenant);
    children.push(worker);
    const apiPid = api.child.pid;
    const workerPid = worker.pid;
    if (apiPid === undefined || workerPid === undefined) throw new Error('a bench process has no pid');

    const loginBody = (email: string) => JSON.stringify({ email, password: BENCH_PASSWORD });
    const login = await fetch(`${api.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody(tenant.admins[0] ?? '') });
    if (login.status !== 200) throw new Error(`login answered ${login.status}: ${await login.text()}`);
    const auth = { authorization: `Bearer ${((await login.json()) as { token: string }).token}` };

    // Warm-up, not measured: a few orders all the way to ACTIVE, and every kind of request once.
    const watcher = new ActiveWatcher(tenant, 50);
    try {
      const warm = await Promise.all([1, 2, 3].map(() => placeOrder(api.url, tenant, benchDomain('lw'))));
      await Promise.all(warm.map((order) => watcher.active(order.subscriptionId)));
    } finally {
      await watcher.close();
    }
    for (const path of ['/api/orders', '/api/subscriptions', '/api/jobs']) await (await fetch(`${api.url}${path}`, { headers: auth })).arrayBuffer();

    const rounds: RoundResult[] = [];
    for (let round = 0; round < ROUNDS; round++) rounds.push(await loadRound(api, tenant, auth, { api: apiPid, worker: workerPid }, loginBody));
    const figures: Figure[] = [];
    for (const [index, result] of rounds.entries()) figures.push(...roundFigures(result, ROUNDS === 1 ? '' : `run ${index + 1}: `));
    const [first, last] = [rounds[0]?.samples.at(-1), rounds.at(-1)?.samples.at(-1)];
    if (ROUNDS > 1 && first && last) {
      const growth = (a: number, b: number) => round(b - a, 1);
      figures.push(
        { section: SECTION, name: `API RSS growth after the load, run ${ROUNDS} − run 1`, value: growth(first.api, last.api), unit: 'MB', target: `<= ${TARGET_GROWTH_MB} MB`, met: last.api - first.api <= TARGET_GROWTH_MB },
        { section: SECTION, name: `worker RSS growth after the load, run ${ROUNDS} − run 1`, value: growth(first.worker, last.worker), unit: 'MB', target: `<= ${TARGET_GROWTH_MB} MB`, met: last.worker - first.worker <= TARGET_GROWTH_MB },
      );
    }
    return figures;
  } finally {
    await stopAll(children);
    await cleanUp(TENANT);
  }
}

interface RoundResult {
  readonly results: Record<string, LoadResult>;
  readonly samples: Sample[];
  readonly started: number;
  readonly loadEnded: number;
  readonly drainSeconds: number;
  readonly ordersAccepted: number;
  readonly ordersActive: number;
}

/** One load period of SECONDS, then the drain of the orders it placed; RSS sampled throughout. */
async function loadRound(api: { url: string }, tenant: BenchTenant, auth: Record<string, string>, pids: { api: number; worker: number }, loginBody: (email: string) => string): Promise<RoundResult> {
  // The round's own orders: those created from now on. (Differences of the tenant's totals counted
  // an order the previous round's load had in flight when it ended, accepted after its count, in
  // this round's ACTIVE but not in its accepted: 488 ACTIVE of 486 accepted once.)
  const since = new Date();
  const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);
  const samples: Sample[] = [];
  const sample = async () => samples.push({ at: performance.now(), api: await rssMb(pids.api), worker: await rssMb(pids.worker) });
  await sample();
  // A failed sample (a process that died) shows in the last one, taken after the load.
  const sampler = setInterval(() => void sample().catch(() => undefined), SAMPLE_EVERY_MS);
  process.stderr.write(`bench: load for ${SECONDS} s...\n`);
  const started = performance.now();
  let results: Record<string, LoadResult>;
  try {
    const kinds = {
      'GET /api/public/plans': load(`${api.url}/api/public/plans?tenant=${tenant.slug}`, { duration: SECONDS, overallRate: RATES.catalog.rate, connections: RATES.catalog.connections }),
      'POST /api/auth/login': load(`${api.url}/api/auth/login`, {
        duration: SECONDS,
        overallRate: RATES.login.rate,
        connections: RATES.login.connections,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: tenant.admins.map((email) => ({ method: 'POST', body: loginBody(email) })),
      }),
      'GET /api/orders': load(`${api.url}/api/orders`, { duration: SECONDS, overallRate: RATES.list.rate, connections: RATES.list.connections, headers: auth }),
      'GET /api/subscriptions': load(`${api.url}/api/subscriptions`, { duration: SECONDS, overallRate: RATES.list.rate, connections: RATES.list.connections, headers: auth }),
      'GET /api/jobs': load(`${api.url}/api/jobs`, { duration: SECONDS, overallRate: RATES.list.rate, connections: RATES.list.connections, headers: auth }),
      'POST /api/orders (signed)': load(`${api.url}/api/orders`, {
        duration: SECONDS,
        overallRate: RATES.order.rate,
        connections: RATES.order.connections,
        method: 'POST',
        requests: [
          {
            method: 'POST',
            // Built per send: a new domain and payment reference, signed with the current time.
            setupRequest: (request) => {
              const order = signedOrder(tenant, benchDomain('l'));
              return { ...request, body: order.body, headers: { ...request.headers, ...order.headers } };
            },
          },
        ],
      }),
    };
    const settled = await Promise.all(Object.entries(kinds).map(async ([kind, result]) => [kind, await result] as const));
    results = Object.fromEntries(settled);
  } finally {
    clearInterval(sampler);
  }
  await sample();
  const loadEnded = performance.now();

  // The orders accepted during the load, provisioned afterwards if the worker is still busy.
  let counts = await subscriptionCounts(tenant, since);
  while ((counts.PENDING ?? 0) + (counts.PROVISIONING ?? 0) > 0 && performance.now() - loadEnded < DRAIN_TIMEOUT_MS) {
    await sleep(250);
    counts = await subscriptionCounts(tenant, since);
  }
  const drainSeconds = (performance.now() - loadEnded) / 1000;
  return { results, samples, started, loadEnded, drainSeconds, ordersAccepted: total(counts), ordersActive: counts.ACTIVE ?? 0 };

}

function roundFigures(run: RoundResult, prefix: string): Figure[] {
  const { results, samples, started, loadEnded, drainSeconds, ordersAccepted, ordersActive } = run;
  const before = samples[0];
  const after = samples.at(-1);
  const middle = samples.reduce((best, s) => (Math.abs(s.at - (started + loadEnded) / 2) < Math.abs(best.at - (started + loadEnded) / 2) ? s : best), samples[0] ?? { at: 0, api: 0, worker: 0 });
  if (!before || !after) throw new Error('no memory samples');
  const peakApi = Math.max(...samples.map((s) => s.api));
  const peakWorker = Math.max(...samples.map((s) => s.worker));
  const all = Object.values(results);
  const status5xx = all.reduce((sum, r) => sum + r.status5xx, 0);
  const otherFailures = all.reduce((sum, r) => sum + r.non2xx - r.status5xx + r.errors, 0);

  return [
    { section: SECTION, name: `${prefix}duration (rates/s: plans ${RATES.catalog.rate}, login ${RATES.login.rate}, each list ${RATES.list.rate}, orders ${RATES.order.rate})`, value: SECONDS, unit: 's' },
    ...Object.entries(results).map(([kind, r]): Figure => ({ section: SECTION, name: `${prefix}${kind} p99 (${r.total} requests)`, value: r.p99Ms, unit: 'ms' })),
    { section: SECTION, name: `${prefix}5xx responses (all kinds)`, value: status5xx, unit: 'responses', target: '0', met: status5xx === 0 },
    { section: SECTION, name: `${prefix}other non-2xx + connection errors`, value: otherFailures, unit: 'responses', target: '0', met: otherFailures === 0 },
    { section: SECTION, name: `${prefix}orders ACTIVE / accepted (drained ${round(drainSeconds, 1)} s after the load)`, value: ordersActive, unit: `/ ${ordersAccepted}`, target: 'all', met: ordersActive === ordersAccepted && ordersAccepted > 0 },
    { section: SECTION, name: `${prefix}API RSS before the load`, value: before.api, unit: 'MB' },
    { section: SECTION, name: `${prefix}API RSS mid-run`, value: middle.api, unit: 'MB' },
    { section: SECTION, name: `${prefix}API RSS after the load`, value: after.api, unit: 'MB', target: `<= ${TARGET_API_MB} MB`, met: after.api <= TARGET_API_MB },
    { section: SECTION, name: `${prefix}API RSS peak (sampled every ${SAMPLE_EVERY_MS / 1000} s)`, value: peakApi, unit: 'MB' },
    { section: SECTION, name: `${prefix}worker RSS before the load`, value: before.worker, unit: 'MB' },
    { section: SECTION, name: `${prefix}worker RSS mid-run`, value: middle.worker, unit: 'MB' },
    { section: SECTION, name: `${prefix}worker RSS after the load`, value: after.worker, unit: 'MB', target: `<= ${TARGET_WORKER_MB} MB`, met: after.worker <= TARGET_WORKER_MB },
    { section: SECTION, name: `${prefix}worker RSS peak (sampled every ${SAMPLE_EVERY_MS / 1000} s)`, value: peakWorker, unit: 'MB' },
  ];
}
