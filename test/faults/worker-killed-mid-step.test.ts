import { existsSync } from 'node:fs';
import path from 'node:path';
import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditLogs, type JobType } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import {
  createFaultWorld,
  DnsGate,
  expectProvisionedOnce,
  footprint,
  injectOrder,
  killHard,
  NginxGate,
  orderJobs,
  spawnWorker,
  waitForSubscription,
  type FaultWorld,
} from '../helpers/faults.js';
import { eventually } from '../helpers/orders.js';
import type { Spawned } from '../helpers/process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Fault 3 (issue 9): a worker killed (SIGKILL) in the middle of each step type. One order, four
 * `mpanel worker` processes one after another, all with the same settings; each of the first three
 * is killed in the middle of a different step, at the point where the step has done its outside
 * work but not recorded it, and the next worker takes the step over once the dead worker's BullMQ
 * lock expires:
 *  - PROVISION_DNS: PowerDNS is reached through a proxy that holds its answers. The worker is
 *    killed once PowerDNS has ANSWERED the zone creation (the zone exists) but before the worker
 *    heard it: its database transaction dies, PowerDNS keeps the zone.
 *  - PROVISION_HOSTING: NGINX_COMMAND is a wrapper that holds `nginx -t`. The worker is killed with
 *    the site directory and placeholder written, while it loads the shared layout's file (a
 *    worker's first site; the site's links come after it), before the test and reload.
 *  - VERIFY_AND_ACTIVATE: DNS_RESOLVER is a UDP gate that drops queries. The worker is killed while
 *    it keeps asking for the domain.
 * Then: each step SUCCEEDED exactly once, on the next worker (attempts 1 and 2), and exactly one
 * zone (PowerDNS and rows), vhost, website, audit entry per resource. (Mailboxes: the production
 * registry has no PROVISION_MAIL step yet, so there is no mailbox to duplicate.)
 */
let world: FaultWorld;
let pdns: TcpProxy;
let resolver: DnsGate;
let nginx: NginxGate;
const workers: Spawned[] = [];

beforeAll(async () => {
  nginx = new NginxGate();
  world = await createFaultWorld({ nginxCommand: nginx.command });
  const api = new URL(world.env.POWERDNS_API_URL);
  pdns = new TcpProxy(api.hostname, Number(api.port));
  await pdns.open();
  resolver = new DnsGate(world.env.DNS_RESOLVER);
  await resolver.open();
});
afterAll(async () => {
  try {
    await Promise.all(workers.map((worker) => killHard(worker)));
    nginx?.remove();
    await pdns?.close();
    await resolver?.close();
  } finally {
    await world?.close();
  }
});

async function startNext(): Promise<Spawned> {
  const worker = await spawnWorker(world, {
    POWERDNS_API_URL: `${pdns.url}${new URL(world.env.POWERDNS_API_URL).pathname}`,
    // The held answer must not time out before the kill.
    POWERDNS_TIMEOUT_MS: '20000',
    DNS_RESOLVER: resolver.address,
    SITE_CHECK_TIMEOUT_MS: '20000',
  });
  workers.push(worker);
  return worker;
}

it('each step killed mid-way completes once on the next worker, with no duplicate zone, vhost or website', { timeout: 90_000 }, async () => {
  // Every fault armed: whichever step a worker reaches, it stops there.
  pdns.holdResponses = true;
  nginx.hold();
  resolver.blocked = true;

  const first = await startNext();
  const order = world.order();
  const accepted = await injectOrder(world, order);
  expect(accepted.status).toBe(201);

  // 1. PROVISION_DNS: PowerDNS created the zone and answered 201; the worker never hears it.
  await eventually(async () => /POST \/api\/v1\/servers\/[^/]+\/zones /.test(pdns.sent) && pdns.received.includes('HTTP/1.1 201'), 15_000, 'PowerDNS to create the zone');
  await killHard(first);
  expect(await footprint(world, order.domain)).toMatchObject({ powerDnsZones: 1, dnsZoneRows: 0 });
  pdns.release();

  // 2. PROVISION_HOSTING: the next worker takes DNS over, then stops inside hosting.
  const second = await startNext();
  await eventually(async () => nginx.heldWorkers().includes(second.child.pid ?? -1), 30_000, 'the second worker to reach nginx -t');
  await killHard(second);
  expect(await footprint(world, order.domain)).toMatchObject({ siteConfig: [], websites: 0 });
  expect(existsSync(path.join(world.nginx.webRoot, order.domain, 'public', 'index.html'))).toBe(true);
  nginx.release();

  // 3. VERIFY_AND_ACTIVATE: the third worker takes hosting over, then keeps asking DNS for the site.
  const third = await startNext();
  await eventually(async () => resolver.questions.includes(order.domain), 30_000, 'the third worker to verify the site');
  await killHard(third);
  resolver.blocked = false;

  // 4. The last worker finishes the verification.
  const fourth = await startNext();
  await waitForSubscription(world, order.domain, 'ACTIVE', 30_000);

  const rows = await orderJobs(world, order.domain);
  const finishedBy = new Map<JobType, Spawned>([
    ['PROVISION_DNS', second],
    ['PROVISION_HOSTING', third],
    ['VERIFY_AND_ACTIVATE', fourth],
  ]);
  for (const [type, worker] of finishedBy) {
    const job = rows.get(type);
    expect(job?.status, type).toBe('SUCCEEDED');
    // Started on the killed worker, taken over once, succeeded once, never failed.
    expect(job?.history.filter((entry) => entry.status === 'RUNNING').map((entry) => entry.attempt), type).toEqual([1, 2]);
    expect(job?.history.filter((entry) => entry.status === 'SUCCEEDED'), type).toHaveLength(1);
    expect(job?.history.filter((entry) => entry.status === 'FAILED'), type).toEqual([]);
    expect(worker.output(), type).toContain(`step ${type} succeeded`);
    for (const other of workers.filter((candidate) => candidate !== worker)) expect(other.output(), type).not.toContain(`step ${type} succeeded`);
  }
  // The zone PowerDNS created for the killed worker is the one adopted (not re-created).
  expect(rows.get('PROVISION_DNS')?.result).toMatchObject({ created: false, repaired: 0 });

  await expectProvisionedOnce(world, order.domain);
  const audits = await withTenant(world.t.container.database.db, world.tenant.id, (tx) =>
    tx.select({ action: auditLogs.action }).from(auditLogs).where(inArray(auditLogs.action, ['dns_zone.provisioned', 'website.created', 'website.updated', 'subscription.activated'])),
  );
  expect(audits.map((row) => row.action).sort()).toEqual(['dns_zone.provisioned', 'subscription.activated', 'website.created']);
});
