import { Queue, Worker } from 'bullmq';
import { and, eq, ne } from 'drizzle-orm';
import type { Database } from './config/database.js';
import { loadEnv } from './config/env.js';
import { createRedis } from './config/redis.js';
import { checkDependencies, createContainer, jobOutcomes, productionSteps, type Container } from './container.js';
import { servers, tenants } from './db/schema/index.js';
import { withTenant } from './db/tenant-tx.js';
import { sweepOutbox } from './jobs/outbox.js';
import { backoffDelay, BACKOFF_TYPE, PROVISIONING_QUEUE, serverQueue } from './jobs/queue.js';
import { createRegistry, type StepRegistry } from './jobs/registry.js';
import { runStep, type JobOutcomes, type RunnerDeps } from './jobs/runner.js';
import { createWorkerMetrics, type WorkerMetrics } from './jobs/worker-metrics.js';
import { sealAuditLog } from './modules/audit/audit-seal.js';
import { deleteExpiredZones } from './modules/dns/zone-retention.js';
import { webhookSettings } from './modules/events/webhook-deliveries.js';
import { startEventLoop } from './modules/events/event-loop.js';
import type { StepServices } from './modules/step-services.js';
import { serveMetrics } from './shared/metrics/serve-metrics.js';
import { registerCertificateMetrics } from './modules/certificates/certificate-metrics.js';
import { runBilling } from './modules/billing/billing-run.js';
import { registerBillingRunMetrics } from './modules/billing/billing-run-metrics.js';
import { runRenewalTask } from './modules/certificates/certificate-renewal.js';
import { onShutdown } from './shared/shutdown.js';

/** Repeatable maintenance tasks; one run per interval across all workers. */
const MAINTENANCE_QUEUE = 'maintenance';

export interface MaintenanceTask {
  readonly name: string;
  readonly everyMs: number;
  run(): Promise<unknown>;
}

/** The repeatable tasks of the features, with the container's clients and providers. */
function maintenanceTasks(container: Container, clock: () => Date): MaintenanceTask[] {
  const { env, logger, database, producer, providers } = container;
  const renewal = { db: database.db, producer, logger, maxAttempts: env.SSL_ISSUE_MAX_ATTEMPTS };
  return [
    {
      name: 'outbox-sweep',
      everyMs: env.OUTBOX_SWEEP_INTERVAL_MS,
      run: () => sweepOutbox(database.db, producer, logger, { pendingAfterMs: env.OUTBOX_PENDING_AFTER_MS, queuedAfterMs: 10 * 60_000 }),
    },
    { name: 'dns-retention', everyMs: env.DNS_RETENTION_SWEEP_INTERVAL_MS, run: () => deleteExpiredZones(database.db, providers.dns, logger) },
    { name: 'audit-seal', everyMs: env.AUDIT_SEAL_INTERVAL_MS, run: () => sealAuditLog(database.db) },
    {
      name: 'billing-run',
      everyMs: env.BILLING_RUN_INTERVAL_MS,
      run: async () => {
        const report = await runBilling({ db: database.db, producer, logger, maxAttempts: env.JOB_MAX_ATTEMPTS }, { asOf: clock(), trigger: 'scheduler' });
        return { runId: report.runId, subscriptions: report.subscriptions, counts: report.counts, errors: report.errors };
      },
    },
    {
      name: 'ssl-renewal',
      everyMs: env.SSL_RENEW_INTERVAL_MS,
      run: () => runRenewalTask(renewal, { batch: env.SSL_RENEW_BATCH, expiryAlertMs: env.SSL_EXPIRY_ALERT * 1000, leaseMs: env.SSL_RENEW_RETRY_BASE * 1000 }, clock()),
    },
  ];
}

export interface WorkerOptions {
  registry?: StepRegistry<StepServices>;
  outcomes?: JobOutcomes;
  /** Step queues to consume (default: the provisioning queue). */
  queues?: readonly string[];
  concurrency?: number;
  /** The time the maintenance tasks see (the renewal task's "due"); tests move it forward. */
  clock?: () => Date;
}

export interface RunningWorkers {
  readonly queues: readonly string[];
  readonly metrics: WorkerMetrics;
  /** Waits for the steps in progress to finish, then disconnects. */
  close(): Promise<void>;
}

/**
 * Starts BullMQ workers for the step queues and the maintenance queue. Each step job goes through
 * the runner (jobs/runner.ts), which keeps the jobs table authoritative.
 */
export async function startWorkers(container: Container, options: WorkerOptions = {}): Promise<RunningWorkers> {
  const { env, logger, database, producer } = container;
  const queues = options.queues ?? [PROVISIONING_QUEUE];
  const metrics = createWorkerMetrics(async () =>
    Object.fromEntries(await Promise.all(queues.map(async (queue) => [queue, await producer.depth(queue).catch(() => 0)] as const))),
  );
  registerCertificateMetrics(metrics.registry);
  registerBillingRunMetrics(metrics.registry, database.db);
  const deps: RunnerDeps<StepServices> = {
    logger,
    db: database.db,
    producer,
    registry: options.registry ?? createRegistry(productionSteps),
    services: container.stepServices,
    outcomes: options.outcomes ?? jobOutcomes,
    metrics,
  };

  const connection = createRedis(env.REDIS_URL, 'worker');
  connection.on('error', () => undefined); // each worker reports its own connection errors below
  const common = { connection, prefix: env.REDIS_KEY_PREFIX, lockDuration: env.WORKER_LOCK_DURATION_MS };
  const stepWorkers = queues.map(
    (queue) =>
      new Worker(queue, (job) => runStep(deps, job), {
        ...common,
        concurrency: options.concurrency ?? env.WORKER_CONCURRENCY,
        // A killed worker's step is picked up again; the job row, not BullMQ, counts attempts.
        maxStalledCount: 10,
        stalledInterval: env.WORKER_LOCK_DURATION_MS,
        settings: { backoffStrategy: (attemptsMade, type) => (type === BACKOFF_TYPE ? backoffDelay(attemptsMade, env.JOB_BACKOFF_BASE_MS) : 1_000) },
      }),
  );

  const tasks = new Map(maintenanceTasks(container, options.clock ?? (() => new Date())).map((task) => [task.name, task]));
  const maintenance = new Queue(MAINTENANCE_QUEUE, { connection, prefix: env.REDIS_KEY_PREFIX });
  const schedule = async () => {
    for (const task of tasks.values()) await maintenance.upsertJobScheduler(task.name, { every: task.everyMs }, { name: task.name });
  };
  await schedule();
  // The schedules live in Redis only. A Redis that comes back empty (restarted without persistence,
  // flushed, failed over to a replica that had not caught up) has lost them, and with them the
  // sweeper that recovers every job Redis lost: put them back on each reconnection (upsert is
  // idempotent), or orders accepted during the outage would wait for the next worker restart.
  let closing = false;
  connection.on('ready', () => {
    if (closing) return;
    schedule().catch((error: unknown) => logger.warn({ err: error }, 'could not restore the maintenance schedules after a Redis reconnection; retrying at the next one'));
  });
  const maintenanceWorker = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => {
      const task = tasks.get(job.name);
      if (!task) throw new Error(`no maintenance task named ${job.name} in this worker`);
      return task.run();
    },
    { ...common, concurrency: 1 },
  );

  const webhooks = webhookSettings(env);
  const events = startEventLoop(
    {
      db: database.db,
      mailer: container.providers.mailer,
      emailFrom: env.EMAIL_FROM,
      logger,
      settings: {
        leaseMs: env.EVENT_DELIVERY_LEASE_MS,
        maxAgeMs: env.EVENT_DELIVERY_MAX_AGE * 1000,
        backoffBaseMs: env.EVENT_DELIVERY_BACKOFF_BASE_MS,
        concurrency: env.EVENT_DELIVERY_CONCURRENCY,
      },
      webhooks,
    },
    env.EVENT_POLL_INTERVAL_MS,
  );

  const all = [...stepWorkers, maintenanceWorker];
  let lastErrorLog = 0;
  for (const worker of all) {
    worker.on('error', (error) => {
      // A Redis outage makes every worker report every reconnect attempt: one line per 10 s is enough.
      if (Date.now() - lastErrorLog > 10_000) logger.warn({ err: error, queue: worker.name }, 'worker connection error; retrying');
      lastErrorLog = Date.now();
    });
  }

  return {
    queues,
    metrics,
    async close() {
      closing = true;
      await Promise.all([...all.map((worker) => worker.close()), events.close()]);
      webhooks.agents?.close();
      await maintenance.close();
      connection.disconnect();
    },
  };
}

/**
 * The queues of the servers this machine drives with the LOCAL driver, in every tenant: on a
 * single-machine install one worker consumes them all, next to the provisioning queue.
 */
export async function localServerQueues(db: Database): Promise<string[]> {
  const queues: string[] = [];
  for (const tenant of await db.select({ id: tenants.id }).from(tenants)) {
    const rows = await withTenant(db, tenant.id, (tx) =>
      tx.select({ id: servers.id }).from(servers).where(and(eq(servers.driver, 'LOCAL'), ne(servers.status, 'DISABLED'))),
    );
    queues.push(...rows.map((row) => serverQueue(row.id)));
  }
  return queues;
}

/** Queue entry point: `mpanel worker`. A separate process from the API. */
export async function runWorker(options: WorkerOptions & { serverId?: string } = {}): Promise<void> {
  const env = loadEnv();
  const container = createContainer(env, 'worker');
  const { logger } = container;
  await checkDependencies(container);
  const queues =
    options.queues ?? (options.serverId ? [serverQueue(options.serverId)] : [PROVISIONING_QUEUE, ...(await localServerQueues(container.database.db))]);
  const running = await startWorkers(container, { ...options, queues });
  const metricsServer = await serveMetrics(running.metrics, env.WORKER_METRICS_HOST, env.WORKER_METRICS_PORT);

  onShutdown(logger, async (signal) => {
    logger.info({ signal }, 'shutting down: finishing the steps in progress');
    await running.close();
    await metricsServer.close();
    await container.close();
    logger.info('worker stopped');
  });

  logger.info(`mPanel worker consuming ${running.queues.join(', ')}; metrics on ${metricsServer.url}`);
}
