import { and, eq, inArray, lt, ne, or, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { alias, QueryBuilder } from 'drizzle-orm/pg-core';
import type { Logger } from 'pino';
import type { Database } from '../config/database.js';
import { jobs, type Job } from '../db/schema/index.js';
import { OUTBOX_SWEEP_SETTING } from '../db/schema/rls.js';
import { withTenant, type DbOrTx } from '../db/tenant-tx.js';
import { markQueued, touchQueued } from './job-state.js';
import type { JobProducer } from './queue.js';

/**
 * The jobs table is the outbox. A job is handed to BullMQ (status QUEUED) only once every job it
 * depends on has SUCCEEDED. Handing over happens after the transaction that made the job ready
 * commits; if that fails (process killed, Redis down), the row stays PENDING and the sweeper hands
 * it over later. BullMQ de-duplicates by `jobId = jobs.id`, and the worker re-checks the row, so a
 * job handed over twice still runs once.
 */

/**
 * The rule for a job to be handed to the queue, as SQL on its `depends_on` (a uuid[] column or
 * expression): every job it names has SUCCEEDED. One definition for readyJobs and for the
 * runner, which asks it of a finished job's dependents in the statement that finds them.
 */
export function dependenciesSucceeded(dependsOn: SQLWrapper): SQL<boolean> {
  const dependency = alias(jobs, 'dependency');
  return sql<boolean>`not exists (${new QueryBuilder()
    .select({ id: dependency.id })
    .from(dependency)
    .where(and(sql`${dependency.id} = any(${dependsOn})`, ne(dependency.status, 'SUCCEEDED')))})`;
}

/** PENDING jobs among `candidates` whose dependencies have all SUCCEEDED (in the tx's tenant). */
export async function readyJobs(tx: DbOrTx, candidates: readonly Job[]): Promise<Job[]> {
  const pending = candidates.filter((job) => job.status === 'PENDING');
  const waiting = pending.filter((job) => job.dependsOn.length > 0);
  if (waiting.length === 0) return pending;
  const rows = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(inArray(jobs.id, waiting.map((job) => job.id)), dependenciesSucceeded(jobs.dependsOn)));
  const ready = new Set(rows.map((row) => row.id));
  return pending.filter((job) => job.dependsOn.length === 0 || ready.has(job.id));
}

/**
 * Hands jobs to BullMQ and marks them QUEUED. Returns how many were handed over; a failure is
 * logged, not thrown: the rows stay PENDING and the sweeper retries.
 */
export async function enqueue(db: Database, producer: JobProducer, logger: Logger, ready: readonly Job[]): Promise<number> {
  let handed = 0;
  for (const job of ready) {
    try {
      await producer.add(job);
    } catch (error) {
      logger.warn({ err: error, job: job.id, type: job.type }, 'could not enqueue job; the outbox sweeper will retry');
      continue;
    }
    await withTenant(db, job.tenantId, (tx) => markQueued(tx, job.id));
    handed += 1;
  }
  return handed;
}

export interface SweepOptions {
  /** PENDING rows older than this are considered left behind (a fresh one is being enqueued by its API request). */
  pendingAfterMs: number;
  /** QUEUED rows not started after this long are handed over again (Redis lost them, e.g. a flush). */
  queuedAfterMs: number;
  limit?: number;
}

/**
 * One sweep: finds jobs left PENDING (ready to run) or QUEUED for too long in every tenant,
 * through the `outbox_sweep` policy, and hands them to BullMQ again.
 */
export async function sweepOutbox(db: Database, producer: JobProducer, logger: Logger, options: SweepOptions): Promise<number> {
  const now = Date.now();
  const stale = await db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${OUTBOX_SWEEP_SETTING}, 'on', true)`);
    return tx
      .select({ id: jobs.id, tenantId: jobs.tenantId })
      .from(jobs)
      .where(
        or(
          and(eq(jobs.status, 'PENDING'), lt(jobs.updatedAt, new Date(now - options.pendingAfterMs))),
          and(eq(jobs.status, 'QUEUED'), lt(jobs.updatedAt, new Date(now - options.queuedAfterMs))),
        ),
      )
      .orderBy(jobs.updatedAt)
      .limit(options.limit ?? 500);
  });
  if (stale.length === 0) return 0;

  const byTenant = new Map<string, string[]>();
  for (const row of stale) byTenant.set(row.tenantId, [...(byTenant.get(row.tenantId) ?? []), row.id]);
  let handed = 0;
  for (const [tenantId, ids] of byTenant) {
    const candidates = await withTenant(db, tenantId, (tx) => tx.select().from(jobs).where(inArray(jobs.id, ids)));
    const requeue = candidates.filter((job) => job.status === 'QUEUED');
    const ready = await withTenant(db, tenantId, (tx) => readyJobs(tx, candidates));
    handed += await enqueue(db, producer, logger, ready);
    for (const job of requeue) {
      try {
        // BullMQ ignores an add whose jobId it still holds; this only revives jobs Redis lost.
        await producer.add(job);
        await withTenant(db, tenantId, (tx) => touchQueued(tx, job.id));
        handed += 1;
      } catch (error) {
        logger.warn({ err: error, job: job.id }, 'could not re-enqueue job');
      }
    }
  }
  if (handed > 0) logger.info({ handed }, `outbox sweep: handed ${handed} job(s) to the queue`);
  return handed;
}
