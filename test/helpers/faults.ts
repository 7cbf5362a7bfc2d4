import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { expect } from 'vitest';
import { loadEnv, type Env } from '../../src/config/env.js';
import { createContainer, type Container } from '../../src/container.js';
import { auditLogs, dnsZones, domains, jobs, orders, subscriptions, websites, type Price, type Server, type Tenant } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { PROVISIONING_QUEUE, serverQueue } from '../../src/jobs/queue.js';
import { placeholderMarker } from '../../src/providers/nginx/vhost.js';
import { startWorkers, type RunningWorkers } from '../../src/worker.js';
import { buildServer, buildTenant } from '../factories.js';
import { createTestApp, type TestApp } from './app.js';
import { powerDns, ZoneCleanup } from './dns.js';
import { freePort, getByHost, startPrivateNginx, type PrivateNginx } from './nginx.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './orders.js';
import { ADMIN_URL } from './postgres.js';
import { spawnTs, type Spawned } from './process.js';

/**
 * Fault-injection helpers (test/faults/*.test.ts). Every fault is injected privately, never on a
 * service other test files share: a private redis-server for Redis outages, proxies in front of
 * PowerDNS (HTTP API over TCP, DNS over UDP) that hold or drop traffic, a private nginx with an
 * NGINX_COMMAND wrapper that holds or slows `nginx -t`, and pg_terminate_backend only on this
 * file's own database.
 */

/**
 * A pipeline fast enough for tests: short backoff, sweeper and stalled-lock takeover (a killed
 * worker's step is picked up after about 2 × WORKER_LOCK_DURATION_MS), many attempts so an outage
 * cannot exhaust them, and a short site check so a failed VERIFY attempt ends quickly.
 */
export const faultPipelineEnv = {
  JOB_MAX_ATTEMPTS: '12',
  JOB_BACKOFF_BASE_MS: '100',
  OUTBOX_SWEEP_INTERVAL_MS: '300',
  OUTBOX_PENDING_AFTER_MS: '500',
  WORKER_LOCK_DURATION_MS: '1500',
  WORKER_METRICS_PORT: '0',
  SITE_CHECK_TIMEOUT_MS: '3000',
  NGINX_RELOAD_BATCH_MS: '20',
} as const;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// A private Redis

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** Starts (or restarts) redis-server on the same port: empty, as nothing is persisted. */
  start(): Promise<void>;
  /** Stops it (SIGTERM, no save) and waits for the process to exit. */
  stop(): Promise<void>;
  /** Stops it if running and removes its directory. */
  close(): Promise<void>;
}

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8');
      if (answer.includes('\r\n')) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer.startsWith('+PONG')));
  });
}

/**
 * A redis-server of this test alone, on a free port, persisting nothing (`--save ''
 * --appendonly no`): a restart comes back EMPTY, the harshest Redis restart there is (every queued
 * job, lock and repeatable schedule gone). Stopping it disturbs no other test file.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'mpanel-redis-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    if (child) return;
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], {
      stdio: 'ignore',
    });
    child = started;
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    await eventually(() => redisAnswers(port), 10_000, `the private redis-server on :${port}`);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A DNS (UDP) gate in front of PowerDNS's resolver

/** The question name of a DNS query (RFC 1035 4.1.2), lower case, without the trailing dot. */
function questionName(message: Buffer): string {
  const labels: string[] = [];
  let offset = 12;
  while (offset < message.length) {
    const length = message[offset] ?? 0;
    if (length === 0 || length > 63) break;
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += length + 1;
  }
  return labels.join('.').toLowerCase();
}

/**
 * A UDP forwarder to PowerDNS's DNS port (the worker's DNS_RESOLVER points here). While `blocked`
 * it drops queries (a resolver that has gone silent); it records every question it saw.
 */
export class DnsGate {
  blocked = false;
  readonly questions: string[] = [];
  port = 0;
  private socket: dgram.Socket | undefined;

  constructor(private readonly target: string) {}

  /** host:port, as DNS_RESOLVER takes it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    const [host = '127.0.0.1', port = '5300'] = this.target.split(/:(?=\d+$)/);
    const socket = dgram.createSocket('udp4');
    socket.on('message', (query, client) => {
      this.questions.push(questionName(query));
      if (this.blocked) return;
      const upstream = dgram.createSocket('udp4');
      let closed = false;
      const done = () => {
        if (closed) return;
        closed = true;
        upstream.close();
      };
      upstream.on('message', (answer) => {
        socket.send(answer, client.port, client.address);
        done();
      });
      upstream.on('error', done);
      setTimeout(done, 3_000).unref();
      upstream.send(query, Number(port), host);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    this.port = socket.address().port;
    this.socket = socket;
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// An NGINX_COMMAND that can be held or slowed

/**
 * A TEST-ONLY stand-in for NGINX_COMMAND: a shell script that runs the real nginx, but first
 * records the call, sleeps while a `delay` file says so, and waits while a `hold` file exists
 * (leaving a `held-<pid>` marker that names the worker — its parent — so a test knows which worker
 * is in the middle of PROVISION_HOSTING: vhost written, `nginx -t` not yet run). A worker that is
 * killed meanwhile leaves the script behind; once released it runs `nginx -t` and exits, as an
 * orphaned nginx command would.
 */
export class NginxGate {
  readonly dir: string;
  readonly command: string;

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'mpanel-nginx-gate-'));
    this.command = path.join(this.dir, 'nginx-gate.sh');
    writeFileSync(
      this.command,
      `#!/bin/sh
gate="${this.dir}"
echo "$PPID $*" >> "$gate/calls"
if [ -e "$gate/delay" ]; then sleep "$(cat "$gate/delay")"; fi
while [ -e "$gate/hold" ]; do
  [ -e "$gate/held-$$" ] || echo "$PPID" > "$gate/held-$$"
  sleep 0.05
done
exec nginx "$@"
`,
    );
    chmodSync(this.command, 0o755);
  }

  hold(): void {
    writeFileSync(path.join(this.dir, 'hold'), '');
  }

  release(): void {
    rmSync(path.join(this.dir, 'hold'), { force: true });
  }

  /** Every nginx call sleeps this long first (0: none). */
  delay(seconds: number): void {
    const file = path.join(this.dir, 'delay');
    if (seconds > 0) writeFileSync(file, String(seconds));
    else rmSync(file, { force: true });
  }

  /** The pids of the workers whose nginx call has been held. */
  heldWorkers(): number[] {
    return readdirSync(this.dir)
      .filter((name) => name.startsWith('held-'))
      .map((name) => Number(readFileSync(path.join(this.dir, name), 'utf8').trim()));
  }

  /** The pids of the workers that ran nginx through this script. */
  callers(): number[] {
    const file = path.join(this.dir, 'calls');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => Number(line.split(' ')[0]));
  }

  remove(): void {
    this.release();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: terminating this file's own backends

/**
 * Terminates the backends of THIS file's database (process.env.TEST_DATABASE_NAME) whose
 * application_name is `applicationName` — only those inside a transaction, or also the idle ones
 * (a connection cut while it sits in the pool, or just as it is checked out) — and returns how many.
 */
export async function terminateBackends(admin: pg.Client, applicationName: string, which: 'in-transaction' | 'all'): Promise<number> {
  const database = process.env.TEST_DATABASE_NAME;
  if (!database) throw new Error('TEST_DATABASE_NAME is not set (test/setup-file.ts sets it)');
  const result = await admin.query<{ terminated: boolean }>(
    `select pg_terminate_backend(pid) as terminated from pg_stat_activity
      where datname = $1 and application_name = $2 and pid <> pg_backend_pid() and ($3 or xact_start is not null)`,
    [database, applicationName, which === 'all'],
  );
  return result.rows.filter((row) => row.terminated).length;
}

export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'mpanel-fault-injector' });
  await client.connect();
  return client;
}

// ---------------------------------------------------------------------------------------------
// The world a fault test provisions into

export interface SignedOrder {
  readonly raw: string;
  readonly headers: Record<string, string>;
  readonly domain: string;
  readonly reference: string;
}

export interface FaultWorld {
  /** The in-process API on this file's database (the pipeline settings above). */
  readonly t: TestApp;
  readonly env: Env;
  readonly tenant: Tenant;
  readonly price: Price;
  /** The tenant's only web server: the private nginx, LOCAL driver. */
  readonly server: Server;
  readonly nginx: PrivateNginx;
  readonly zones: ZoneCleanup;
  /** Environment for workers (and child APIs) of this world: the pipeline settings and the private nginx. */
  readonly processEnv: Record<string, string>;
  /** The queues a worker of this world consumes. */
  readonly queues: readonly string[];
  /** A new signed order (a new domain, tracked for clean-up). */
  order(): SignedOrder;
  close(): Promise<void>;
}

/**
 * A tenant with one SHARED_HOSTING price (no mailboxes, no SSL: the plan is PROVISION_DNS →
 * PROVISION_HOSTING → VERIFY_AND_ACTIVATE) and one web server, a private nginx, so vhosts can be
 * counted exactly and reloads are only ours. Zones go to the shared PowerDNS under random names and
 * are deleted by close().
 */
export async function createFaultWorld(options: { env?: Record<string, string>; nginxCommand?: string } = {}): Promise<FaultWorld> {
  const nginx = await startPrivateNginx();
  const processEnv: Record<string, string> = {
    ...faultPipelineEnv,
    NGINX_CONF: nginx.conf,
    NGINX_SITES_DIR: nginx.sitesDir,
    WEB_ROOT: nginx.webRoot,
    // Its own TLS port and site state: the shared layout's server blocks listen on the HTTPS port
    // whether or not a site has a certificate, and the shared nginx holds 8443.
    NGINX_HTTPS_PORT: String(await freePort()),
    NGINX_CERTS_DIR: path.join(path.dirname(nginx.conf), 'certs'),
    ...(options.nginxCommand ? { NGINX_COMMAND: options.nginxCommand } : {}),
    ...options.env,
  };
  const t = await createTestApp({ env: processEnv });
  const db = t.container.database.db;
  const tenant = await buildTenant(db);
  const { price } = await buildOffer(db, tenant, { features: { diskQuotaMb: 512, mailboxes: 0, sslIncluded: false } });
  const server = await buildServer(db, tenant, { hostname: `web-${tenant.slug}.local`, ipv4: '127.0.0.1', httpPort: nginx.port });
  const zones = new ZoneCleanup();
  return {
    t,
    env: t.env,
    tenant,
    price,
    server,
    nginx,
    zones,
    processEnv,
    queues: [PROVISIONING_QUEUE, serverQueue(server.id)],
    order() {
      const payload = orderPayload(tenant, price);
      zones.track(payload.domain);
      const raw = JSON.stringify(payload);
      return { raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw), domain: payload.domain, reference: payload.payment.reference };
    },
    async close() {
      try {
        // Patient: the shared PowerDNS (SQLite backend) answers 500 now and then while other test
        // files write to it at the same moment.
        await zones.deleteAll({ ...t.env, POWERDNS_RETRIES: 6 });
      } finally {
        // Whatever happened, no nginx is left running.
        await nginx.stop();
        await t.close();
      }
    },
  };
}

/** POST /api/orders in process (app.inject). */
export async function injectOrder(world: FaultWorld, order: SignedOrder): Promise<{ status: number; body: { orderId?: string; subscriptionId?: string } }> {
  const res = await world.t.app.inject({ method: 'POST', url: '/api/orders', payload: order.raw, headers: order.headers });
  return { status: res.statusCode, body: res.json() };
}

/** POST /api/orders over HTTP to a running API (a fresh connection per request). */
export async function postOrder(base: string, order: SignedOrder): Promise<{ status: number; body: { orderId?: string; subscriptionId?: string } }> {
  const response = await fetch(`${base}/api/orders`, { method: 'POST', headers: { ...order.headers, connection: 'close' }, body: order.raw });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as { orderId?: string }) : {} };
}

export interface InProcessWorker {
  readonly workers: RunningWorkers;
  readonly container: Container;
  close(): Promise<void>;
}

/** A worker (production steps) in this process, with the world's settings and `overrides`. */
export async function startWorker(world: FaultWorld, overrides: Record<string, string> = {}): Promise<InProcessWorker> {
  const env = loadEnv({ ...process.env, ...world.processEnv, ...overrides });
  const container = createContainer(env, 'worker');
  const workers = await startWorkers(container, { queues: world.queues });
  return {
    workers,
    container,
    async close() {
      await workers.close();
      await container.close();
    },
  };
}

/** `mpanel worker` as a child process (production steps), once it consumes the world's queues. */
export async function spawnWorker(world: FaultWorld, overrides: Record<string, string> = {}): Promise<Spawned> {
  const child = spawnTs('bin/mpanel.js', ['worker'], { ...world.processEnv, LOG_LEVEL: 'info', ...overrides });
  await child.waitFor(new RegExp(`worker consuming provisioning, ${serverQueue(world.server.id)}`), 20_000);
  return child;
}

/** `mpanel api` as a child process; resolves with it and its base URL. */
export async function spawnApi(world: FaultWorld, overrides: Record<string, string> = {}): Promise<{ api: Spawned; base: string }> {
  const api = spawnTs('bin/mpanel.js', ['api'], { ...world.processEnv, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...overrides });
  const [, base = ''] = await api.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 20_000);
  return { api, base };
}

/** SIGKILL and wait for the exit. */
export async function killHard(child: Spawned): Promise<void> {
  if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
  await child.exited;
}

// ---------------------------------------------------------------------------------------------
// Counting what an order left behind

export interface Footprint {
  orders: number;
  subscriptions: { id: string; status: string }[];
  domains: number;
  /** Job rows whose payload names the domain, by type. */
  jobs: { type: string; status: string }[];
  dnsZoneRows: number;
  /** Zones of that name in PowerDNS (GET /zones?zone=<name>.). */
  powerDnsZones: number;
  /**
   * What makes nginx serve the domain: files in the private nginx's sites directory named after it
   * or mentioning it (per-site layout), and `_names/<name>` index links of its names (shared layout).
   */
  siteConfig: string[];
  websites: number;
  /** `order.created` audit entries for the domain. */
  orderAudits: number;
}

export async function footprint(world: FaultWorld, domain: string): Promise<Footprint> {
  const db = world.t.container.database.db;
  const rows = await withTenant(db, world.tenant.id, async (tx) => {
    const orderRows = await tx.select({ id: orders.id }).from(orders).where(eq(orders.domainName, domain));
    const domainRows = await tx.select({ id: domains.id }).from(domains).where(eq(domains.name, domain));
    const subscriptionRows = await tx
      .select({ id: subscriptions.id, status: subscriptions.status })
      .from(subscriptions)
      .innerJoin(orders, eq(orders.id, subscriptions.orderId))
      .where(eq(orders.domainName, domain));
    const jobRows = await tx.select({ type: jobs.type, status: jobs.status }).from(jobs).where(sql`${jobs.payload}->>'domain' = ${domain}`);
    const zoneRows = await tx.select({ id: dnsZones.id }).from(dnsZones).where(eq(dnsZones.name, domain));
    const websiteRows = await tx.select({ id: websites.id }).from(websites).innerJoin(domains, eq(domains.id, websites.domainId)).where(eq(domains.name, domain));
    const audits = await tx
      .select({ id: auditLogs.id })
      .from(auditLogs)
      .where(and(eq(auditLogs.action, 'order.created'), sql`${auditLogs.after}->>'domain' = ${domain}`));
    return { orderRows, domainRows, subscriptionRows, jobRows, zoneRows, websiteRows, audits };
  });
  const files = await fs.readdir(world.nginx.sitesDir);
  const siteConfig: string[] = [];
  for (const file of files) {
    const content = await fs.readFile(path.join(world.nginx.sitesDir, file), 'utf8').catch(() => '');
    if (file.includes(domain) || content.includes(domain)) siteConfig.push(file);
  }
  const names = await fs.readdir(path.join(world.env.NGINX_CERTS_DIR, '_names')).catch(() => []);
  siteConfig.push(...names.filter((name) => name === domain || name === `www.${domain}`).map((name) => `_names/${name}`));
  return {
    orders: rows.orderRows.length,
    subscriptions: rows.subscriptionRows,
    domains: rows.domainRows.length,
    jobs: rows.jobRows.sort((a, b) => a.type.localeCompare(b.type)),
    dnsZoneRows: rows.zoneRows.length,
    powerDnsZones: (await powerDns(world.env).listZones({ name: domain })).length,
    siteConfig: siteConfig.sort(),
    websites: rows.websiteRows.length,
    orderAudits: rows.audits.length,
  };
}

/** Exactly one order, subscription (ACTIVE), domain, zone (rows and PowerDNS), vhost (or index links), website; three SUCCEEDED jobs; and the site answers. */
export async function expectProvisionedOnce(world: FaultWorld, domain: string): Promise<void> {
  const found = await footprint(world, domain);
  expect(found, domain).toEqual({
    orders: 1,
    subscriptions: [{ id: expect.any(String), status: 'ACTIVE' }],
    domains: 1,
    jobs: [
      { type: 'PROVISION_DNS', status: 'SUCCEEDED' },
      { type: 'PROVISION_HOSTING', status: 'SUCCEEDED' },
      { type: 'VERIFY_AND_ACTIVATE', status: 'SUCCEEDED' },
    ],
    dnsZoneRows: 1,
    powerDnsZones: 1,
    siteConfig: world.env.NGINX_SITE_LAYOUT === 'shared' ? [`_names/${domain}`, `_names/www.${domain}`] : [`${domain}.conf`],
    websites: 1,
    orderAudits: 1,
  });
  const page = await getByHost(world.nginx.port, domain);
  expect(page.status, domain).toBe(200);
  expect(page.body).toContain(placeholderMarker(domain));
}

/** The status of the subscription of the domain's order(s). */
export async function subscriptionStatuses(world: FaultWorld, domain: string): Promise<string[]> {
  const rows = await withTenant(world.t.container.database.db, world.tenant.id, (tx) =>
    tx.select({ status: subscriptions.status }).from(subscriptions).innerJoin(orders, eq(orders.id, subscriptions.orderId)).where(eq(orders.domainName, domain)),
  );
  return rows.map((row) => row.status);
}

/** Waits until the subscription of the domain's order has `status`. */
export async function waitForSubscription(world: FaultWorld, domain: string, status: string, timeoutMs: number): Promise<void> {
  try {
    await eventually(
      async () => {
        const statuses = await subscriptionStatuses(world, domain);
        return statuses.length === 1 && statuses[0] === status;
      },
      timeoutMs,
      `the subscription of ${domain} to be ${status}`,
    );
  } catch (error) {
    // Say where it stopped: the subscription and each job with its history.
    const jobRows = [...(await orderJobs(world, domain)).values()].map(
      (job) => `${job.type} ${job.status} attempts=${job.attempts}: ${job.history.map((entry) => `${entry.status}${entry.error ? `(${entry.error})` : ''}`).join(' → ')}`,
    );
    throw new Error(`${error instanceof Error ? error.message : String(error)}; subscription ${(await subscriptionStatuses(world, domain)).join(',') || 'none'}; jobs:\n${jobRows.join('\n')}`, { cause: error });
  }
}

/** The job rows of an order, by type, with their history. */
export async function orderJobs(world: FaultWorld, domain: string) {
  const rows = await withTenant(world.t.container.database.db, world.tenant.id, (tx) => tx.select().from(jobs).where(sql`${jobs.payload}->>'domain' = ${domain}`));
  return new Map(rows.map((row) => [row.type, row]));
}

