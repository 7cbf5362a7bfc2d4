import { UnrecoverableError } from 'bullmq';
import { and, eq, ne, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../config/database.js';
import type { Env } from '../config/env.js';
import { domains, jobs, orders, subscriptions, type Job, type SubscriptionStatus } from '../db/schema/index.js';
import { withTenant, type Tx } from '../db/tenant-tx.js';
import { recordAudit, systemActor } from '../modules/audit/audit.service.js';
import { isLifecycleStep, lifecycleTransitions } from './lifecycle.js';
import { appendHistory, enqueue, historyEntry, readyJobs } from './outbox.js';
import type { JobProducer, QueuedJobData } from './queue.js';
import type { StepRegistry } from './registry.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface PipelineDeps {
  env: Env;
  logger: Logger;
  db: Database;
  producer: JobProducer;
  registry: StepRegistry;
  metrics?: WorkerMetrics;
}

/** A step error that retrying cannot fix (bad input, a resource owned by someone else): fail now. */
export class PermanentStepError extends Error {
  override name = 'PermanentStepError';
}

const queuedJobData = z.object({ tenantId: z.uuid() }) satisfies z.ZodType<QueuedJobData>;

/** The BullMQ job fields the pipeline reads. */
export interface QueuedJob {
  id?: string | undefined;
  name: string;
  data: unknown;
}

/** Moves a subscription along its state machine (only from the given states), audited. */
async function transitionSubscription(tx: Tx, job: Job, from: readonly SubscriptionStatus[], to: SubscriptionStatus, reason: string): Promise<boolean> {
  if (!job.subscriptionId) return false;
  const [before] = await tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, job.subscriptionId)).for('update');
  if (!before || !from.includes(before.status)) return false;
  await tx.update(subscriptions).set({ status: to }).where(eq(subscriptions.id, job.subscriptionId));
  await recordAudit(tx, {
    tenantId: job.tenantId,
    actor: systemActor,
    action: `subscription.${to.toLowerCase()}`,
    targetType: 'subscription',
    targetId: job.subscriptionId,
    before: { status: before.status },
    after: { status: to },
    metadata: { reason, jobId: job.id, jobType: job.type },
  });
  return true;
}

/**
 * Once every provisioning job of an order has SUCCEEDED (the last being VERIFY_AND_ACTIVATE,
 * which depends on all the others), the subscription is ACTIVE and the order fulfilled.
 */
async function activateWhenComplete(tx: Tx, job: Job): Promise<void> {
  if (!job.orderId) return;
  const [unfinished] = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.orderId, job.orderId), ne(jobs.status, 'SUCCEEDED')))
    .limit(1);
  if (unfinished) return;
  const activated = await transitionSubscription(tx, job, ['PROVISIONING'], 'ACTIVE', 'every provisioning step succeeded');
  if (!activated) return;
  await tx.update(orders).set({ status: 'FULFILLED', fulfilledAt: new Date() }).where(and(eq(orders.id, job.orderId), eq(orders.status, 'PAID')));
  if (job.subscriptionId) await tx.update(domains).set({ status: 'ACTIVE' }).where(eq(domains.subscriptionId, job.subscriptionId));
}

type Claim = { kind: 'run'; job: Job } | { kind: 'skip'; reason: string };

/** Marks the job RUNNING (attempt n) unless it is finished or its dependencies are not. */
async function claim(db: Database, tenantId: string, jobId: string): Promise<Claim> {
  return withTenant(db, tenantId, async (tx) => {
    const [row] = await tx.select().from(jobs).where(eq(jobs.id, jobId)).for('update');
    if (!row) return { kind: 'skip', reason: 'no such job row' };
    if (row.status === 'SUCCEEDED' || row.status === 'FAILED') return { kind: 'skip', reason: `already ${row.status}` };
    if (row.dependsOn.length > 0 && (await readyJobs(tx, [{ ...row, status: 'PENDING' }])).length === 0) {
      return { kind: 'skip', reason: 'dependencies have not all succeeded' };
    }
    const attempt = row.attempts + 1;
    // Still PENDING: the API handed the job to BullMQ and a worker got it before the API marked the
    // row QUEUED (its later update then matches nothing). Record the hand-over it skipped.
    const entries = row.status === 'PENDING' ? [historyEntry('QUEUED'), historyEntry('RUNNING', { attempt })] : [historyEntry('RUNNING', { attempt })];
    const [running] = await tx
      .update(jobs)
      .set({ status: 'RUNNING', attempts: attempt, startedAt: new Date(), history: appendHistory(...entries) })
      .where(eq(jobs.id, jobId))
      .returning();
    if (!running) return { kind: 'skip', reason: 'job row vanished' };
    await transitionSubscription(tx, running, ['PENDING'], 'PROVISIONING', 'first provisioning step started');
    return { kind: 'run', job: running };
  });
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 2000 ? `${message.slice(0, 2000)}…` : message;
}

/**
 * Runs one BullMQ job through its step handler, with the job row as the source of truth:
 * claim (RUNNING, attempt n) → handler → SUCCEEDED and hand the now-ready dependents to the queue,
 * or on error: back to QUEUED for BullMQ's retry with backoff, or FAILED (and the subscription
 * FAILED) when the attempts are spent. A job that is already finished is skipped, so a duplicate
 * delivery never runs a step twice.
 */
export async function runStep(deps: PipelineDeps, queued: QueuedJob): Promise<void> {
  const { db, logger, registry } = deps;
  const jobId = queued.id;
  if (!jobId) throw new UnrecoverableError('BullMQ job without an id');
  const { tenantId } = queuedJobData.parse(queued.data);

  const claimed = await claim(db, tenantId, jobId);
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
      env: deps.env,
      logger: log,
      db,
      attempt: job.attempts,
      job: { id: job.id, tenantId: job.tenantId, subscriptionId: job.subscriptionId, orderId: job.orderId },
    });
  } catch (error) {
    const seconds = (performance.now() - started) / 1000;
    const final = error instanceof PermanentStepError || error instanceof z.ZodError || job.attempts >= job.maxAttempts;
    const message = errorMessage(error);
    await withTenant(db, tenantId, async (tx) => {
      await tx
        .update(jobs)
        .set({
          status: final ? 'FAILED' : 'QUEUED',
          lastError: message,
          finishedAt: final ? new Date() : null,
          history: appendHistory(historyEntry('FAILED', { attempt: job.attempts, error: message })),
        })
        .where(eq(jobs.id, job.id));
      if (final) await transitionSubscription(tx, job, ['PENDING', 'PROVISIONING'], 'FAILED', `step ${job.type} failed: ${message}`);
    });
    deps.metrics?.recordStep(job.type, final ? 'failed' : 'retried', seconds);
    if (final) {
      log.error({ err: error }, `step ${job.type} FAILED after ${job.attempts} attempt(s): ${message}`);
      throw new UnrecoverableError(message);
    }
    log.warn({ err: error }, `step ${job.type} attempt ${job.attempts} failed, will retry: ${message}`);
    throw error;
  }

  const released = await withTenant(db, tenantId, async (tx) => {
    await tx
      .update(jobs)
      .set({ status: 'SUCCEEDED', result: result ?? null, lastError: null, finishedAt: new Date(), history: appendHistory(historyEntry('SUCCEEDED', { attempt: job.attempts })) })
      .where(eq(jobs.id, job.id));
    const dependents = await tx
      .select()
      .from(jobs)
      .where(and(eq(jobs.status, 'PENDING'), sql`${jobs.dependsOn} @> array[${job.id}]::uuid[]`));
    await activateWhenComplete(tx, job);
    if (isLifecycleStep(job.type)) {
      const { from, to } = lifecycleTransitions[job.type];
      await transitionSubscription(tx, job, from, to, `step ${job.type} succeeded`);
    }
    return readyJobs(tx, dependents);
  });
  const seconds = (performance.now() - started) / 1000;
  deps.metrics?.recordStep(job.type, 'succeeded', seconds);
  log.info(`step ${job.type} succeeded in ${Math.round(seconds * 1000)} ms`);
  await enqueue(db, deps.producer, logger, released);
}
