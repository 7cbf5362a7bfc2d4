import { UnrecoverableError } from 'bullmq';
import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../config/database.js';
import { jobs, type Job } from '../db/schema/index.js';
import { withTenant, type Tx } from '../db/tenant-tx.js';
import { markAttemptFailed, markRunning, markSucceeded } from './job-state.js';
import { dependenciesSucceeded, enqueue, readyJobs } from './outbox.js';
import type { JobProducer, QueuedJobData } from './queue.js';
import type { StepRegistry } from './registry.js';
import type { WorkerMetrics } from './worker-metrics.js';

/**
 * What the features do when a job changes state, in the same transaction as the change: the
 * subscription's state machine follows its jobs (modules/provisioning registers this in the
 * composition root). The runner itself holds no business rule.
 */
export interface JobOutcomes {
  /** The job turned RUNNING (its claim). */
  started(tx: Tx, job: Job): Promise<void>;
  /** The job SUCCEEDED; `waiting` are the PENDING jobs that depend on it (ready to run or not). */
  succeeded(tx: Tx, job: Job, waiting: readonly Job[]): Promise<void>;
  /** The job FAILED for good (attempts spent, or a permanent error); returns jobs it created that are ready to run. */
  failed(tx: Tx, job: Job, error: string): Promise<readonly Job[]>;
}

export interface RunnerDeps<Services> {
  logger: Logger;
  db: Database;
  producer: JobProducer;
  registry: StepRegistry<Services>;
  services: Services;
  outcomes: JobOutcomes;
  metrics?: WorkerMetrics;
}

/** A step error that retrying cannot fix (bad input, a resource owned by someone else): fail now. */
export class PermanentStepError extends Error {
  override name = 'PermanentStepError';
  readonly permanent = true;
}

/**
 * An error that fails the job at once: a PermanentStepError, a payload that does not parse, or
 * any error that says so itself (providers' errors carry `permanent`: a host key that does not
 * match, a name nginx refuses, a certificate authority that rejects an identifier).
 */
export function isPermanent(error: unknown): boolean {
  if (error instanceof z.ZodError) return true;
  return typeof error === 'object' && error !== null && 'permanent' in error && error.permanent === true;
}

const queuedJobData = z.object({ tenantId: z.uuid() }) satisfies z.ZodType<QueuedJobData>;

/** The BullMQ job fields the runner reads. */
export interface QueuedJob {
  id?: string | undefined;
  name: string;
  data: unknown;
}

type Claim = { kind: 'run'; job: Job } | { kind: 'skip'; reason: string };

/** Marks the job RUNNING (attempt n) unless it is finished or its dependencies are not. */
async function claim(db: Database, outcomes: JobOutcomes, tenantId: string, jobId: string): Promise<Claim> {
  return withTenant(db, tenantId, async (tx) => {
    const [row] = await tx.select().from(jobs).where(eq(jobs.id, jobId)).for('update');
    if (!row) return { kind: 'skip', reason: 'no such job row' };
    if (row.status === 'SUCCEEDED' || row.status === 'FAILED') return { kind: 'skip', reason: `already ${row.status}` };
    // Only a PENDING row can have unfinished dependencies: a row is handed over (QUEUED) once they
    // have all SUCCEEDED, which is final. PENDING here: a worker got the job before the hand-over
    // was recorded, or it was handed over by mistake.
    if (row.status === 'PENDING' && row.dependsOn.length > 0 && (await readyJobs(tx, [row])).length === 0) {
      return { kind: 'skip', reason: 'dependencies have not all succeeded' };
    }
    const running = await markRunning(tx, row);
    if (!running) return { kind: 'skip', reason: 'job row vanished' };
    await outcomes.started(tx, running);
    return { kind: 'run', job: running };
  });
}

/**
 * The PENDING jobs that depend on `job`, each with whether all its dependencies have SUCCEEDED
 * (`job` itself has, earlier in this transaction), in one statement. A job's dependents belong to
 * its subscription (every planner creates them together), and the query says so: under row-level
 * security PostgreSQL may not use `status =` (enum equality) or `@>` in an index scan, as they are
 * not leakproof, but it may use `subscription_id =`; without it every step's success scanned the
 * tenant's whole jobs table. A job with no subscription has none.
 */
async function waitingOn(tx: Tx, job: Job): Promise<(Job & { ready: boolean })[]> {
  if (!job.subscriptionId) return [];
  return tx
    .select({ ...getTableColumns(jobs), ready: dependenciesSucceeded(jobs.dependsOn) })
    .from(jobs)
    .where(and(eq(jobs.subscriptionId, job.subscriptionId), eq(jobs.status, 'PENDING'), sql`${jobs.dependsOn} @> array[${job.id}]::uuid[]`));
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 2000 ? `${message.slice(0, 2000)}…` : message;
}

/**
 * Runs one BullMQ job through its step handler, with the job row as the source of truth:
 * claim (RUNNING, attempt n) → handler → SUCCEEDED and hand the now-ready dependents to the queue,
 * or on error: back to QUEUED for BullMQ's retry with backoff, or FAILED when the attempts are
 * spent. A job that is already finished is skipped, so a duplicate delivery never runs a step
 * twice. Each state change tells the features (JobOutcomes) in its own transaction.
 */
export async function runStep<Services>(deps: RunnerDeps<Services>, queued: QueuedJob): Promise<void> {
  const { db, logger, registry, outcomes } = deps;
  const jobId = queued.id;
  if (!jobId) throw new UnrecoverableError('BullMQ job without an id');
  const { tenantId } = queuedJobData.parse(queued.data);

  const claimed = await claim(db, outcomes, tenantId, jobId);
  if (claimed.kind === 'skip') {
    logger.info({ job: jobId, type: queued.name, reason: claimed.reason }, 'step skipped');
    return;
  }
  const job = claimed.job;
  const log = logger.child({ job: job.id, type: job.type, attempt: job.attempts, tenant: tenantId });
  const started = performance.now();
  log.info(`step ${job.type} started (attempt ${job.attempts}/${job.maxAttempts})`);

  let result: Record<string, unknown> | undefined;
  try {
    const definition = registry.get(job.type);
    if (!definition) throw new Error(`no handler is registered for step ${job.type} in this worker`);
    const payload = definition.payload.parse(job.payload);
    result = await definition.handle(payload, {
      logger: log,
      db,
      services: deps.services,
      attempt: job.attempts,
      job: { id: job.id, type: job.type, tenantId: job.tenantId, subscriptionId: job.subscriptionId, orderId: job.orderId },
    });
  } catch (error) {
    const seconds = (performance.now() - started) / 1000;
    const final = isPermanent(error) || job.attempts >= job.maxAttempts;
    const message = errorMessage(error);
    const planned = await withTenant(db, tenantId, async (tx) => {
      await markAttemptFailed(tx, job, message, final);
      return final ? outcomes.failed(tx, job, message) : [];
    });
    await enqueue(db, deps.producer, logger, planned);
    deps.metrics?.recordStep(job.type, final ? 'failed' : 'retried', seconds);
    if (final) {
      log.error({ err: error }, `step ${job.type} FAILED after ${job.attempts} attempt(s): ${message}`);
      throw new UnrecoverableError(message);
    }
    log.warn({ err: error }, `step ${job.type} attempt ${job.attempts} failed, will retry: ${message}`);
    throw error;
  }

  const released = await withTenant(db, tenantId, async (tx) => {
    await markSucceeded(tx, job, result ?? null);
    const waiting = await waitingOn(tx, job);
    await outcomes.succeeded(tx, job, waiting);
    return waiting.filter((dependent) => dependent.ready).map(({ ready: _ready, ...dependent }) => dependent);
  });
  const seconds = (performance.now() - started) / 1000;
  deps.metrics?.recordStep(job.type, 'succeeded', seconds);
  log.info(`step ${job.type} succeeded in ${Math.round(seconds * 1000)} ms`);
  await enqueue(db, deps.producer, logger, released);
}
