import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDatabase } from '../../src/config/database.js';
import { domainEvents, webhookEndpoints } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { recordEvent } from '../../src/modules/events/domain-events.js';
import { secretAad, webhookSettings } from '../../src/modules/events/webhook-deliveries.js';
import { generateWebhookSecret } from '../../src/modules/events/webhook-sender.js';
import { round, summary, type Figure } from './lib.js';
import { createTenant, dropTenant, env, startWorker, stopAll } from './provisioning.js';

/**
 * Outgoing webhooks (issue 17): events recorded in the database, delivered by 2 `mpanel worker`
 * processes (their event loops: dispatcher + delivery) to a node:http receiver on loopback that
 * answers 200 at once. Throughput: N events committed in one transaction, from the commit to the
 * last request received. Latency when idle: one event at a time, from its commit to its request.
 */

const SECTION = 'webhooks';
const TENANT = 'bench-webhooks';
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 3_000);
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

export async function benchWebhooks(): Promise<Figure[]> {
  await dropTenant(TENANT);
  const tenant = await createTenant(TENANT);
  const receiver = await startReceiver();
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
    for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(tenant, { REDIS_KEY_PREFIX }));

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
    const delivered = receiver.received.size - before;
    const seconds = (Math.max(...receiver.received.values()) - started) / 1000;
    const perSecond = delivered / seconds;
    const { p50, p95 } = summary([...latencies].sort((a, b) => a - b));
    return [
      { section: SECTION, name: `webhooks delivered per second (${EVENTS} events, ${WORKERS} workers, receiver on loopback)`, value: round(perSecond, 0), unit: '/s', target: '>= 1000/s', met: perSecond >= 1_000 && delivered === EVENTS },
      { section: SECTION, name: 'event-to-delivery latency when idle, p50', value: round(p50, 1), unit: 'ms' },
      { section: SECTION, name: 'event-to-delivery latency when idle, p95', value: round(p95, 1), unit: 'ms', target: '<= 1000 ms', met: p95 <= 1_000 },
    ];
  } finally {
    await stopAll(workers);
    await receiver.close();
    await pool.end();
    await dropTenant(TENANT);
  }
}
