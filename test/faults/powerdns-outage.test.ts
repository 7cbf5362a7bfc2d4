import type { JobType } from '../../src/db/schema/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createFaultWorld,
  DnsGate,
  expectProvisionedOnce,
  injectOrder,
  NginxGate,
  orderJobs,
  sleep,
  startWorker,
  waitForSubscription,
  type FaultWorld,
  type InProcessWorker,
} from '../helpers/faults.js';
import { eventually } from '../helpers/orders.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Fault 6 (issue 9): PowerDNS stopped for 30 s during provisioning. The worker reaches PowerDNS
 * only through stand-ins this test stops and starts — its HTTP API through a TCP proxy that is
 * closed (connections refused) and reopened on the same port, its DNS (DNS_RESOLVER) through a UDP
 * gate that drops queries — so the PowerDNS other test files use never stops. The outage starts
 * while order A is half-way (zone created, site being set up) and order B arrives during it: A's
 * VERIFY_AND_ACTIVATE cannot resolve the site, B's PROVISION_DNS cannot reach the API. Both keep
 * retrying with backoff, and both are ACTIVE once PowerDNS is back, with one zone each.
 */

/**
 * How long PowerDNS is down, as the issue says. Recovery then waits for the next retry: with a 1 s
 * backoff base (1, 2, 4, 8, 16, 32 s, each × 0.5–1.5) it comes ~0–48 s after the outage ends,
 * ~20 s on average, so the test takes ~50 s.
 */
const OUTAGE_MS = 30_000;

let world: FaultWorld;
let nginx: NginxGate;
let api: TcpProxy;
let resolver: DnsGate;
let worker: InProcessWorker | undefined;

beforeAll(async () => {
  nginx = new NginxGate();
  // Enough attempts for the outage (the 6th retry starts ~31 s in); the backoff base is 1 s.
  world = await createFaultWorld({ nginxCommand: nginx.command, env: { JOB_MAX_ATTEMPTS: '12', JOB_BACKOFF_BASE_MS: '1000', SITE_CHECK_TIMEOUT_MS: '2000' } });
  const target = new URL(world.env.POWERDNS_API_URL);
  api = new TcpProxy(target.hostname, Number(target.port));
  await api.open();
  resolver = new DnsGate(world.env.DNS_RESOLVER);
  await resolver.open();
});
afterAll(async () => {
  try {
    await worker?.close();
    nginx?.remove();
    await api?.close();
    await resolver?.close();
  } finally {
    await world?.close();
  }
});

const failures = async (domain: string, type: JobType) => (await orderJobs(world, domain)).get(type)?.history.filter((entry) => entry.status === 'FAILED') ?? [];

it(`PowerDNS down for ${OUTAGE_MS / 1000} s during provisioning: the steps retry, then both orders are ACTIVE`, { timeout: OUTAGE_MS + 80_000 }, async () => {
  worker = await startWorker(world, { POWERDNS_API_URL: `${api.url}${new URL(world.env.POWERDNS_API_URL).pathname}`, DNS_RESOLVER: resolver.address });

  // Order A gets its zone, then stops in PROVISION_HOSTING (nginx -t held) ...
  nginx.hold();
  const a = world.order();
  expect((await injectOrder(world, a)).status).toBe(201);
  await eventually(async () => nginx.heldWorkers().length > 0, 15_000, 'order A to reach nginx -t');

  // ... when PowerDNS goes down: API and DNS.
  await api.close();
  resolver.blocked = true;
  const outageEnds = Date.now() + OUTAGE_MS;
  nginx.release();

  // Order B arrives during the outage.
  const b = world.order();
  expect((await injectOrder(world, b)).status).toBe(201);

  await eventually(async () => (await failures(a.domain, 'VERIFY_AND_ACTIVATE')).length >= 1, OUTAGE_MS, 'A: a failed verification');
  await eventually(async () => (await failures(b.domain, 'PROVISION_DNS')).length >= 2, OUTAGE_MS, 'B: two failed DNS attempts');
  expect(Date.now(), 'the failures came during the outage').toBeLessThan(outageEnds);
  await sleep(outageEnds - Date.now());
  await api.open();
  resolver.blocked = false;

  await Promise.all([a, b].map((order) => waitForSubscription(world, order.domain, 'ACTIVE', 60_000)));

  // What failed during the outage failed because of it.
  const duringOutage = <T extends { at: string }>(entries: T[]) => entries.filter((entry) => Date.parse(entry.at) < outageEnds);
  const aVerify = duringOutage(await failures(a.domain, 'VERIFY_AND_ACTIVATE'));
  expect(aVerify.length).toBeGreaterThanOrEqual(1);
  for (const failure of aVerify) expect(failure.error).toMatch(new RegExp(`resolving (www\\.)?${a.domain.replaceAll('.', '\\.')} failed`));
  const bDns = duringOutage(await failures(b.domain, 'PROVISION_DNS'));
  expect(bDns.length).toBeGreaterThanOrEqual(2);
  for (const failure of bDns) expect(failure.error).toMatch(/PowerDNS at .* is unreachable/);
  const bJob = (await orderJobs(world, b.domain)).get('PROVISION_DNS');
  expect(bJob?.history.filter((entry) => entry.status === 'SUCCEEDED')).toHaveLength(1);
  for (const order of [a, b]) await expectProvisionedOnce(world, order.domain);
});
