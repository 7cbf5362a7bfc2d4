import { and, eq, sql } from 'drizzle-orm';
import { jobs, type Job, type JobHistoryEntry, type JobStatus } from '../db/schema/index.js';
import type { DbOrTx } from '../db/tenant-tx.js';

/**
 * The job state machine, and the only code that writes `jobs.status`:
 *   PENDING → QUEUED (handed to BullMQ) → RUNNING (attempt n) → SUCCEEDED
 *                                         RUNNING → QUEUED (retry with backoff) | FAILED (attempts spent)
 *   PENDING → RUNNING (a worker got it before the hand-over was recorded)
 *   FAILED → PENDING (an admin's retry, with a fresh set of attempts)
 * Every change appends to the row's `history` in SQL, so concurrent writers never lose an entry.
 * Callers run these inside their transaction (the tenant set), with the row locked where a race
 * matters (the runner's claim, the retry).
 */

export function historyEntry(status: JobStatus, extra: Omit<JobHistoryEntry, 'status' | 'at'> = {}): JobHistoryEntry {
  return { status, at: new Date().toISOString(), ...extra };
}

function appendHistory(...entries: JobHistoryEntry[]) {
  return sql`${jobs.history} || ${JSON.stringify(entries)}::jsonb`;
}

/** The hand-over to BullMQ, recorded after it happened; a row no longer PENDING is left alone. */
export async function markQueued(tx: DbOrTx, jobId: string): Promise<void> {
  await tx
    .update(jobs)
    .set({ status: 'QUEUED', enqueuedAt: new Date(), history: appendHistory(historyEntry('QUEUED')) })
    .where(and(eq(jobs.id, jobId), eq(jobs.status, 'PENDING')));
}

/** Marks a row the sweeper handed over again (Redis lost it), so it is not re-sent at every sweep. */
export async function touchQueued(tx: DbOrTx, jobId: string): Promise<void> {
  await tx.update(jobs).set({ updatedAt: new Date() }).where(and(eq(jobs.id, jobId), eq(jobs.status, 'QUEUED')));
}

/** RUNNING, attempt n. Returns the updated row. */
export async function markRunning(tx: DbOrTx, job: Job): Promise<Job | undefined> {
  const attempt = job.attempts + 1;
  // Still PENDING: the API handed the job to BullMQ and a worker got it before the API marked the
  // row QUEUED (its later update then matches nothing). Record the hand-over it skipped.
  const entries = job.status === 'PENDING' ? [historyEntry('QUEUED'), historyEntry('RUNNING', { attempt })] : [historyEntry('RUNNING', { attempt })];
  const [running] = await tx
    .update(jobs)
    .set({ status: 'RUNNING', attempts: attempt, startedAt: new Date(), history: appendHistory(...entries) })
    .where(eq(jobs.id, job.id))
    .returning();
  return running;
}

export async function markSucceeded(tx: DbOrTx, job: Job, result: Record<string, unknown> | null): Promise<void> {
  await tx
    .update(jobs)
    .set({ status: 'SUCCEEDED', result, lastError: null, finishedAt: new Date(), history: appendHistory(historyEntry('SUCCEEDED', { attempt: job.attempts })) })
    .where(eq(jobs.id, job.id));
}

/** An attempt failed: back to QUEUED for BullMQ's retry, or FAILED for good when `final`. */
export async function markAttemptFailed(tx: DbOrTx, job: Job, error: string, final: boolean): Promise<void> {
  await tx
    .update(jobs)
    .set({
      status: final ? 'FAILED' : 'QUEUED',
      lastError: error,
      finishedAt: final ? new Date() : null,
      history: appendHistory(historyEntry('FAILED', { attempt: job.attempts, error })),
    })
    .where(eq(jobs.id, job.id));
}

/** A FAILED job starts over (admin retry): PENDING with no attempts; the failure stays in the history. */
export async function resetForRetry(tx: DbOrTx, job: Job): Promise<Job> {
  const [row] = await tx
    .update(jobs)
    .set({
      status: 'PENDING',
      attempts: 0,
      lastError: null,
      enqueuedAt: null,
      finishedAt: null,
      history: appendHistory(historyEntry('PENDING', job.lastError === null ? {} : { error: `retried after: ${job.lastError}` })),
    })
    .where(and(eq(jobs.id, job.id), eq(jobs.status, 'FAILED')))
    .returning();
  if (!row) throw new Error(`job ${job.id} is no longer FAILED`);
  return row;
}
