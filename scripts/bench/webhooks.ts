import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { SMTPServer } from 'smtp-server';
import { createDatabase } from '../../src/config/database.js';
import { domainEvents, webhookEndpoints } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { recordEvent } from '../../src/modules/events/domain-events.js';
import { secretAad, webhookSettings } from '../../src/modules/events/webhook-deliveries.js';
import { generateWebhookSecret } from '../../src/modules/events/webhook-sender.js';
import { cpuMs, round, summary, type Figure } from './lib.js';
import { createTenant, dropTenant, env, startWorker, stopAll } from './provisioning.js';

/**
 * Outgoing events (issue 17): events recorded in the database, delivered by 2 `mpanel worker`
 * processes (their event loops: dispatcher + delivery) to a node:http receiver on loopback that
 * answers 200 at once, and to an SMTP listener on loopback (the smtp-server package, as in the
 * tests) that accepts every message. Throughput: N events committed in one transaction, from the
 * commit to the last request (message) received; with it the CPU time the workers and the
 * database's backends spent per delivery (what bounds throughput on a machine shared with other
 * work). Latency when idle: one event at a time, from its commit to its request.
 */

const SECTION = 'webhooks';
const TENANT = 'bench-webhooks';
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 3_000);
const EMAILS = Number(process.env.BENCH_EMAIL_EVENTS ?? 1_000);
const LATENCY_SAMPLES = 50;
const WORKERS = 2;
/** The workers' queues apart from the provisioning sections' (nothing is queued here; their event loops do the work). */
const REDIS_KEY_PREFIX = 'mpanel-bench-webhooks';

function startReceiver(): Promise<{ port: number; received: Map<string, number>; waiters: Map<string, () => void>; close(): Promise<void> }> {
  const received = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      if (!received.has(id)) received.set(id, performance.now());
      waiters.get(id)?.();
      response.writeHead(200).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        received,
        waiters,
        close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
      }),
    ),
  );
}

/** Accepts every message (nothing parsed): when each arrived. */
function startSmtpListener(): Promise<{ port: number; received: number[]; close(): Promise<void> }> {
  const received: number[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    maxClients: 200,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(performance.now());
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.server.address() as AddressInfo).port,
        received,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    ),
  );
}

/** CPU time (ms) of the workers and of the database's backends serving the bench database, so far. */
async function cpuNow(db: ReturnType<typeof createDatabase>['db'], workers: readonly ChildProcess[]): Promise<{ workers: number; database: number }> {
  let workersMs = 0;
  for (const worker of workers) if (worker.pid !== undefined) workersMs += await cpuMs(worker.pid);
  const backends = await db.execute<{ pid: number }>(sql`select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend'`);
  let databaseMs = 0;
  for (const { pid } of backends.rows) databaseMs += await cpuMs(pid).catch(() => 0);
  return { workers: workersMs, database: databaseMs };
}

export async function benchWebhooks(): Promise<Figure[]> {
  await dropTenant(TENANT);
  // One ADMIN: each job.failed event is one email to them.
  const tenant = await createTenant(TENANT, { admins: 1 });
  const receiver = await startReceiver();
  const smtp = await startSmtpListener();
  const { db, pool } = createDatabase(env.DATABASE_URL, { max: 4 });
  const workers: ChildProcess[] = [];
  try {
    const endpointId = randomUUID();
    const secrets = webhookSettings(env).secrets;
    await withTenant(db, tenant.id, (tx) =>
      tx.insert(webhookEndpoints).values({
        id: endpointId,
        tenantId: tenant.id,
        url: `http://127.0.0.1:${receiver.port}/bench`,
        eventTypes: ['invoice.paid'],
        secretSealed: secrets.seal(generateWebhookSecret(), secretAad(endpointId)),
      }),
    );
    const payload = () => ({ invoiceId: randomUUID(), customerId: randomUUID(), subscriptionId: null, number: 'INV-1', total: { amount: 100, currency: 'EUR' }, dueAt: null });
    for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(tenant, { REDIS_KEY_PREFIX, SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port) }));

    // Idle latency: one event at a time; the delivery's id is known only to the worker, so the
    // receiver's first request after the commit is this event's.
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES + 3; i++) {
      const before = receiver.received.size;
      const arrived = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (receiver.received.size > before) {
            clearInterval(check);
            resolve();
          }
        }, 1);
      });
      await withTenant(db, tenant.id, (tx) => recordEvent(tx, tenant.id, { type: 'invoice.paid', subject: { type: 'invoice', id: randomUUID() }, payload: payload() }));
      const committed = performance.now();
      await arrived;
      const at = Math.max(...receiver.received.values());
      if (i >= 3) latencies.push(at - committed); // the first few warm up pools and JIT
    }

    // Throughput: EVENTS committed at once.
    const before = receiver.received.size;
    const cpuBefore = await cpuNow(db, workers);
    await withTenant(db, tenant.id, async (tx) => {
      const rows = Array.from({ length: EVENTS }, () => {
        const invoiceId = randomUUID();
        return { tenantId: tenant.id, type: 'invoice.paid', version: 1, subjectType: 'invoice', subjectId: invoiceId, payload: { ...payload(), invoiceId } };
      });
      for (let i = 0; i < rows.length; i += 1_000) await tx.insert(domainEvents).values(rows.slice(i, i + 1_000));
    });
    const started = performance.now();
    const deadline = Date.now() + 300_000;
    while (receiver.received.size < before + EVENTS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const cpuAfter = await cpuNow(db, workers);
    const delivered = receiver.received.size - before;
    const seconds = (Math.max(...receiver.received.values()) - started) / 1000;
    const perSecond = delivered / seconds;
    const { p50, p95 } = summary([...latencies].sort((a, b) => a - b));

    // Emails: EMAILS staff alerts committed at once, one message each to the tenant's ADMIN.
    const mailCpuBefore = await cpuNow(db, workers);
    await withTenant(db, tenant.id, async (tx) => {
      const rows = Array.from({ length: EMAILS }, () => {
        const jobId = randomUUID();
        return { tenantId: tenant.id, type: 'job.failed', version: 1, subjectType: 'job', subjectId: jobId, payload: { jobId, jobType: 'PROVISION_DNS', subscriptionId: null, orderId: null, attempts: 6, error: 'bench' } };
      });
      for (let i = 0; i < rows.length; i += 1_000) await tx.insert(domainEvents).values(rows.slice(i, i + 1_000));
    });
    const mailStarted = performance.now();
    const mailDeadline = Date.now() + 300_000;
    while (smtp.received.length < EMAILS && Date.now() < mailDeadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const emailsPerSecond = smtp.received.length / ((Math.max(...smtp.received) - mailStarted) / 1000);
    const mailCpuAfter = await cpuNow(db, workers);
    return [
      { section: SECTION, name: `webhooks delivered per second (${EVENTS} events, ${WORKERS} workers, receiver on loopback)`, value: round(perSecond, 0), unit: '/s', target: '>= 1000/s', met: perSecond >= 1_000 && delivered === EVENTS },
      { section: SECTION, name: 'CPU per webhook delivered: the 2 workers', value: round((cpuAfter.workers - cpuBefore.workers) / delivered, 2), unit: 'ms' },
      { section: SECTION, name: "CPU per webhook delivered: PostgreSQL's backends", value: round((cpuAfter.database - cpuBefore.database) / delivered, 2), unit: 'ms' },
      { section: SECTION, name: `emails delivered per second (${EMAILS} events, ${WORKERS} workers, SMTP listener on loopback)`, value: round(emailsPerSecond, 0), unit: '/s', target: '>= 200/s', met: emailsPerSecond >= 200 && smtp.received.length === EMAILS },
      { section: SECTION, name: 'CPU per email delivered: the 2 workers', value: round((mailCpuAfter.workers - mailCpuBefore.workers) / smtp.received.length, 2), unit: 'ms' },
      { section: SECTION, name: "CPU per email delivered: PostgreSQL's backends", value: round((mailCpuAfter.database - mailCpuBefore.database) / smtp.received.length, 2), unit: 'ms' },
      { section: SECTION, name: 'event-to-delivery latency when idle, p50', value: round(p50, 1), unit: 'ms' },
      { section: SECTION, name: 'event-to-delivery latency when idle, p95', value: round(p95, 1), unit: 'ms', target: '<= 1000 ms', met: p95 <= 1_000 },
    ];
  } finally {
    await stopAll(workers);
    await receiver.close();
    await smtp.close();
    await pool.end();
    await dropTenant(TENANT);
  }
}
