import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { loadEnv, type Env } from '../../src/config/env.js';
import { createDatabase, type DatabaseHandle } from '../../src/config/database.js';
import { createRedis } from '../../src/config/redis.js';
import { prices, products, servers, subscriptions, tenants, users } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { hashPassword } from '../../src/modules/auth/password.js';
import { signMarketingPayload } from '../../src/modules/orders/marketing-signature.js';
import { PROVISIONING_QUEUE, serverQueue } from '../../src/jobs/queue.js';
import { LocalHost } from '../../src/providers/host/local-host.js';
import { NginxHosting } from '../../src/providers/nginx/nginx-hosting.js';
import { NginxReloader } from '../../src/providers/nginx/nginx-reloader.js';
import { placeholderMarker } from '../../src/providers/nginx/vhost.js';
import { powerDnsSettings } from '../../src/container.js';
import { PowerDnsClient } from '../../src/providers/powerdns/powerdns.client.js';
import { deleteZones, sleep, startProcess, startServer, stop } from './lib.js';

/**
 * What the provisioning sections (order-to-live, throughput, load) share: a bench tenant with a
 * plan and the loopback nginx registered as its LOCAL web server, real `mpanel api` and
 * `mpanel worker` processes on their own Redis key prefix, signed orders, a watcher that sees
 * subscriptions turn ACTIVE, and the clean-up of everything an order leaves behind (PowerDNS
 * zones, vhosts, web roots, the tenant's rows, the Redis keys).
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
export const env: Env = loadEnv();

/** Every domain the provisioning sections order ends with this; leftovers are found by it. */
export const BENCH_DOMAIN_SUFFIX = 'bench-orders.test';
/** BullMQ queues, the login throttle and the sweeper of the bench processes live under this prefix only. */
export const BENCH_REDIS_PREFIX = 'mpanel-bench';
export const BENCH_PASSWORD = 'bench-password-0123456789';

/** The environment of the bench's mpanel processes: loopback, their own queues, production log level. */
export const processEnv: NodeJS.ProcessEnv = {
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  WORKER_METRICS_PORT: '0',
  API_METRICS_PORT: '0',
  REDIS_KEY_PREFIX: BENCH_REDIS_PREFIX,
};

export interface BenchTenant {
  readonly id: string;
  readonly slug: string;
  readonly price: { readonly id: string; readonly amount: number; readonly currency: string };
  readonly serverId: string;
  /** ADMIN accounts (password BENCH_PASSWORD, bcrypt cost 12 as in production). */
  readonly admins: readonly string[];
}

/** Tables holding a tenant's rows, children before parents (foreign keys). */

/**
 * Removes a bench tenant and every row it owns. Through the owner role (MIGRATION_DATABASE_URL):
 * the application role may not delete audit rows. Row-level security still applies (FORCE), so
 * each delete runs with the tenant set and also names it. The tables are those with a foreign key
 * to tenants, read from the catalogue (a list kept here fell behind the migrations and
 * the tenant's delete failed on a foreign key); a table still referenced by another is retried
 * after the others, each attempt in a savepoint.
 */
export async function dropTenant(slug: string): Promise<void> {
  const { db, pool } = createDatabase(env.MIGRATION_DATABASE_URL, { max: 1 });
  try {
    const [tenant] = await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, slug));
    if (!tenant) return;
    await withTenant(db, tenant.id, async (tx) => {
      // Every foreign key to tenants: tenant_id, and the hosted-name registry's owner_tenant_id.
      const rows = await tx.execute<{ table_name: string; column_name: string }>(
        sql`select c.conrelid::regclass::text as table_name, a.attname as column_name from pg_constraint c
            join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
            where c.contype = 'f' and c.confrelid = 'tenants'::regclass`,
      );
      let left = rows.rows;
      while (left.length > 0) {
        const blocked: typeof left = [];
        for (const row of left) {
          try {
            await tx.transaction((inner) => inner.execute(sql`delete from ${sql.identifier(row.table_name)} where ${sql.identifier(row.column_name)} = ${tenant.id}`));
          } catch {
            blocked.push(row);
          }
        }
        if (blocked.length === left.length) throw new Error(`bench: cannot remove the rows of ${slug} in ${blocked.map((row) => row.table_name).join(', ')}`);
        left = blocked;
      }
    });
    await db.delete(tenants).where(eq(tenants.id, tenant.id));
  } finally {
    await pool.end();
  }
}

/**
 * A fresh bench tenant: one SHARED_HOSTING plan without SSL or mailboxes (DNS → hosting →
 * verify, the seed's MVP path), the loopback nginx as its web server, and `admins` ADMIN users.
 */
export async function createTenant(slug: string, options: { httpPort?: number; admins?: number } = {}): Promise<BenchTenant> {
  await dropTenant(slug);
  const { db, pool } = createDatabase(env.DATABASE_URL, { max: 2 });
  try {
    const [tenant] = await db.insert(tenants).values({ slug, name: `Benchmark ${slug}` }).returning();
    if (!tenant) throw new Error('no tenant');
    const passwordHash = await hashPassword(BENCH_PASSWORD);
    return await withTenant(db, tenant.id, async (tx) => {
      const [product] = await tx
        .insert(products)
        .values({ tenantId: tenant.id, name: 'Bench Web', type: 'SHARED_HOSTING', features: { diskQuotaMb: 1024, mailboxes: 0, sslIncluded: false } })
        .returning();
      if (!product) throw new Error('no product');
      const [price] = await tx.insert(prices).values({ tenantId: tenant.id, productId: product.id, amount: 499, currency: 'EUR', interval: 'MONTH' }).returning();
      if (!price) throw new Error('no price');
      const [server] = await tx
        .insert(servers)
        .values({ tenantId: tenant.id, hostname: `web.${slug}.bench`, role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.1', httpPort: options.httpPort ?? env.NGINX_HTTP_PORT })
        .returning();
      if (!server) throw new Error('no server');
      const admins = Array.from({ length: options.admins ?? 0 }, (_, i) => `admin-${i}@${slug}.bench.test`);
      if (admins.length > 0) await tx.insert(users).values(admins.map((email) => ({ tenantId: tenant.id, email, name: 'Bench Admin', role: 'ADMIN' as const, passwordHash })));
      return { id: tenant.id, slug, price: { id: price.id, amount: price.amount, currency: price.currency }, serverId: server.id, admins };
    });
  } finally {
    await pool.end();
  }
}

/** Deletes the bench processes' Redis keys (queues, throttle counters, schedulers). */
export async function clearRedis(): Promise<void> {
  const redis = createRedis(env.REDIS_URL, 'worker');
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${BENCH_REDIS_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function startApi(): Promise<{ url: string; child: ChildProcess }> {
  return startServer(process.execPath, [`${root}/bin/mpanel.js`, 'api'], processEnv);
}

/** A worker consuming the provisioning queue and the bench server's queue (nothing of other tenants). */
export async function startWorker(tenant: BenchTenant, extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const queues = [PROVISIONING_QUEUE, serverQueue(tenant.serverId)].join(',');
  const { child } = await startProcess(process.execPath, [`${root}/bin/mpanel.js`, 'worker', '--queues', queues], { ...processEnv, ...extraEnv }, /mPanel worker consuming/);
  return child;
}

export const run = Date.now().toString(36);
let sequence = 0;

/** A domain unique to this run, under the bench suffix. */
export function benchDomain(label: string): string {
  sequence += 1;
  return `${label}${sequence}-${run}.${BENCH_DOMAIN_SUFFIX}`;
}

/** The marketing site's order for `domain`, signed, with a unique payment reference. */
export function signedOrder(tenant: BenchTenant, domain: string): { body: string; headers: Record<string, string> } {
  const id = randomBytes(6).toString('hex');
  const body = JSON.stringify({
    tenant: tenant.slug,
    customer: { email: `customer-${id}@bench.test`, name: 'Bench Customer' },
    priceId: tenant.price.id,
    domain,
    payment: { provider: 'stripe', reference: `cs_bench_${id}`, amount: tenant.price.amount, currency: tenant.price.currency },
  });
  return { body, headers: { 'content-type': 'application/json', 'x-mpanel-signature': signMarketingPayload(env.MARKETING_WEBHOOK_SECRET, body) } };
}

export interface PlacedOrder {
  readonly domain: string;
  readonly subscriptionId: string;
  /** performance.now() just before the request was sent, and when the 201 arrived. */
  readonly sentAt: number;
  readonly acceptedAt: number;
}

export async function placeOrder(apiUrl: string, tenant: BenchTenant, domain: string): Promise<PlacedOrder> {
  const { body, headers } = signedOrder(tenant, domain);
  const sentAt = performance.now();
  const response = await fetch(`${apiUrl}/api/orders`, { method: 'POST', headers, body });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /api/orders for ${domain} answered ${response.status}: ${text}`);
  const accepted = JSON.parse(text) as { subscriptionId: string };
  return { domain, subscriptionId: accepted.subscriptionId, sentAt, acceptedAt: performance.now() };
}

/**
 * Sees subscriptions turn ACTIVE by polling the database (one query for every subscription still
 * waited for, every `intervalMs`). A subscription that turns FAILED rejects its waiter.
 */
export class ActiveWatcher {
  private readonly database: DatabaseHandle;
  private readonly waiting = new Map<string, { resolve(at: number): void; reject(error: Error): void }>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly tenant: BenchTenant,
    private readonly intervalMs = 10,
  ) {
    this.database = createDatabase(env.DATABASE_URL, { max: 1 });
  }

  /** Resolves with performance.now() at the poll that saw the subscription ACTIVE. */
  active(subscriptionId: string, timeoutMs = 120_000): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(subscriptionId);
        reject(new Error(`subscription ${subscriptionId} not ACTIVE within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(subscriptionId, {
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer || this.closed || this.waiting.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.poll().finally(() => this.schedule());
    }, this.intervalMs);
  }

  private async poll(): Promise<void> {
    const ids = [...this.waiting.keys()];
    if (ids.length === 0) return;
    const rows = await withTenant(this.database.db, this.tenant.id, (tx) =>
      tx
        .select({ id: subscriptions.id, status: subscriptions.status })
        .from(subscriptions)
        .where(and(inArray(subscriptions.id, ids), inArray(subscriptions.status, ['ACTIVE', 'FAILED']))),
    );
    const at = performance.now();
    for (const row of rows) {
      const waiter = this.waiting.get(row.id);
      this.waiting.delete(row.id);
      if (row.status === 'ACTIVE') waiter?.resolve(at);
      else waiter?.reject(new Error(`subscription ${row.id} FAILED`));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.database.pool.end();
  }
}

/** Subscriptions of the tenant by status (those created since `since`, if given). */
export async function subscriptionCounts(tenant: BenchTenant, since?: Date): Promise<Record<string, number>> {
  const { db, pool } = createDatabase(env.DATABASE_URL, { max: 1 });
  try {
    const rows = await withTenant(db, tenant.id, (tx) =>
      tx
        .select({ status: subscriptions.status, count: sql<number>`count(*)::int` })
        .from(subscriptions)
        .where(since ? gte(subscriptions.createdAt, since) : undefined)
        .groupBy(subscriptions.status),
    );
    return Object.fromEntries(rows.map((row) => [row.status, row.count]));
  } finally {
    await pool.end();
  }
}

/** GET / with a Host header on a fresh connection (a reload drops keep-alive connections). */
export function getByHost(port: number, host: string, address = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: address, port, path: '/', headers: { host }, agent: false, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}

/** Polls until `host` answers 200 with its placeholder page on 127.0.0.1:port; returns performance.now() then. */
export async function waitServed(port: number, host: string, domain = host, timeoutMs = 30_000, intervalMs = 5): Promise<number> {
  const marker = placeholderMarker(domain);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await getByHost(port, host).catch(() => null);
    if (answer?.status === 200 && answer.body.includes(marker)) return performance.now();
    if (Date.now() > deadline) throw new Error(`${host} not served on :${port} within ${timeoutMs} ms (last: ${answer?.status ?? 'no answer'})`);
    await sleep(intervalMs);
  }
}

export const execFileAsync = promisify(execFile);

/** The nginx master's pid, from the `pid` directive of its main configuration (relative to its prefix). */
export async function nginxMasterPid(conf: string): Promise<number> {
  const text = await fs.readFile(conf, 'utf8');
  const file = /^\s*pid\s+([^;\s]+)\s*;/m.exec(text)?.[1] ?? '/run/nginx.pid';
  const pid = Number((await fs.readFile(path.resolve(path.dirname(conf), file), 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no nginx master pid for ${conf}`);
  return pid;
}

export function benchResolver(): Resolver {
  const resolver = new Resolver({ timeout: 1_000, tries: 2 });
  resolver.setServers([env.DNS_RESOLVER]);
  return resolver;
}

/**
 * Removes every site and zone the provisioning sections made (the bench suffix): vhosts through
 * the provider (one batched test + reload of the shared nginx), web roots, PowerDNS zones.
 */
export async function removeBenchSites(): Promise<{ sites: number; zones: number }> {
  const suffix = `.${BENCH_DOMAIN_SUFFIX}`;
  const vhosts = (await fs.readdir(env.NGINX_SITES_DIR).catch(() => [] as string[])).filter((name) => name.endsWith(`${suffix}.conf`)).map((name) => name.slice(0, -'.conf'.length));
  const roots = (await fs.readdir(env.WEB_ROOT).catch(() => [] as string[])).filter((name) => name.endsWith(suffix));
  const domains = [...new Set([...vhosts, ...roots])];
  if (domains.length > 0) {
    const host = new LocalHost();
    const layout = { webRoot: env.WEB_ROOT, sitesDir: env.NGINX_SITES_DIR, nginxConf: env.NGINX_CONF, nginxCommand: env.NGINX_COMMAND.split(/\s+/).filter(Boolean) };
    const hosting = new NginxHosting({ host, layout, listen: { ipv4: '127.0.0.1', ipv6: null, port: env.NGINX_HTTP_PORT }, reloader: new NginxReloader(host, layout, 50) });
    await Promise.all(domains.map((domain) => hosting.removeSite(domain, null)));
  }
  const dns = new PowerDnsClient(powerDnsSettings(env));
  const zones = (await dns.listZones()).filter((zone) => zone.name.endsWith(suffix));
  const kept = await deleteZones(dns, zones.map((zone) => zone.name));
  return { sites: domains.length, zones: zones.length - kept.length };
}

/** Everything a provisioning section leaves behind, before (an interrupted run) and after. */
export async function cleanUp(slug: string): Promise<void> {
  await removeBenchSites();
  await dropTenant(slug);
  await clearRedis();
}

export async function stopAll(children: readonly (ChildProcess | undefined)[]): Promise<void> {
  await Promise.all(children.filter((child): child is ChildProcess => child !== undefined).map((child) => stop(child)));
}
