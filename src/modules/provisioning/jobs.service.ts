import { and, asc, eq, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { jobs, jobTypes, subscriptions, type Job, type SubscriptionStatus } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { resetForRetry } from '../../jobs/job-state.js';
import { enqueue, readyJobs } from '../../jobs/outbox.js';
import { releaseFailedSiteHold } from '../hosting/failed-site-hold.js';
import type { JobProducer } from '../../jobs/queue.js';
import { AppError, conflict, notFound } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { lifecycleEventOf } from '../subscriptions/lifecycle.service.js';
import { subscriptionEvents, transition } from '../subscriptions/subscription-state.js';
import type { JobsPage, JobView, JobWithHistoryView, ListJobsQuery } from './jobs.types.js';
import { listPage } from '../list-page.js';

export function jobView(job: Job): JobView {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    queue: job.queue,
    subscriptionId: job.subscriptionId,
    orderId: job.orderId,
    dependsOn: job.dependsOn,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    lastError: job.lastError,
    enqueuedAt: job.enqueuedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
  };
}

export function jobWithHistoryView(job: Job): JobWithHistoryView {
  return { ...jobView(job), history: job.history };
}

/**
 * The jobs matching `where` (in the transaction's tenant), in the order the steps run: an order's
 * jobs are inserted in one transaction and share their created_at, so that alone cannot order them.
 */
export async function jobsInStepOrder(tx: Tx, where: SQL): Promise<Job[]> {
  const rows = await tx.select().from(jobs).where(where).orderBy(asc(jobs.createdAt), asc(jobs.id));
  const rank = (type: string) => {
    const index = jobTypes.findIndex((step) => step === type);
    return index === -1 ? jobTypes.length : index;
  };
  return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || rank(a.type) - rank(b.type));
}

export async function listJobs(db: Database, auth: Pick<AuthContext, 'tenantId'>, query: ListJobsQuery): Promise<JobsPage> {
  return listPage(db, auth.tenantId, query, {
    table: jobs,
    filters: [
      query.status === undefined ? undefined : eq(jobs.status, query.status),
      query.type === undefined ? undefined : eq(jobs.type, query.type),
      query.subscriptionId === undefined ? undefined : eq(jobs.subscriptionId, query.subscriptionId),
    ],
    rows: (tx, q) => tx.select().from(jobs).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: jobView,
  });
}

export interface RetryDeps {
  db: Database;
  producer: JobProducer;
  logger: Logger;
}

function assertFailed(job: Job): void {
  if (job.status !== 'FAILED') throw conflict(`Only a FAILED job can be retried; this one is ${job.status}`);
}

const retryState = (job: Job) => ({ status: job.status, attempts: job.attempts, lastError: job.lastError });

/**
 * Which subscription states a failed job may be retried in: a provisioning step while the
 * subscription is still being provisioned (or FAILED because of it), a lifecycle step while the
 * subscription can still take that change. Retrying a job of a TERMINATED subscription would act
 * on a site that is gone.
 */
function retryableIn(job: Job): readonly SubscriptionStatus[] {
  const lifecycleEvent = lifecycleEventOf(job.type);
  return lifecycleEvent ? subscriptionEvents[lifecycleEvent].from : ['PROVISIONING', 'FAILED'];
}

async function assertSubscriptionRetryable(tx: Tx, job: Job): Promise<void> {
  if (!job.subscriptionId) return;
  const [subscription] = await tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, job.subscriptionId)).for('update');
  const allowed = retryableIn(job);
  if (subscription && !allowed.includes(subscription.status)) {
    throw conflict(`The job's subscription is ${subscription.status}: a ${job.type} job is retried only while it is ${allowed.join(' or ')}`);
  }
}

/**
 * A FAILED subscription goes back to PROVISIONING once none of its jobs is FAILED any more: with
 * two failed steps, retrying the first leaves it FAILED (a step nobody runs is still broken), and
 * retrying the second reopens it.
 */
async function reopenSubscription(tx: Tx, tenantId: string, job: Job, actor: AuditActor): Promise<Job | undefined> {
  if (!job.subscriptionId) return undefined;
  const [stillFailed] = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.subscriptionId, job.subscriptionId), eq(jobs.status, 'FAILED')))
    .limit(1);
  if (stillFailed) return undefined;
  const reopened = await transition(tx, { tenantId, subscriptionId: job.subscriptionId }, 'reopened', { actor, reason: `job ${job.type} retried`, jobId: job.id, jobType: job.type });
  return reopened ? releaseFailedSiteHold(tx, job) : undefined;
}

/**
 * POST /jobs/:id/retry (and the CLI's `jobs retry`): a FAILED job starts over with a full set of
 * attempts. The row goes back to PENDING in one audited transaction (its subscription back to
 * PROVISIONING, see reopenSubscription); after commit, if its dependencies have all succeeded,
 * it is handed to BullMQ through the outbox, which marks it QUEUED, or leaves it PENDING for the
 * sweeper when Redis fails in between.
 *
 * BullMQ still holds the failed run under the same id (jobId = jobs.id), and ignores an add
 * whose id it holds, so that run is removed first, BEFORE the row changes: if Redis is down the
 * retry is refused (503) with nothing changed, rather than leaving a PENDING row that every
 * later add — the sweeper's included — would silently fail to queue.
 */
export async function retryJob(deps: RetryDeps, auth: Pick<AuthContext, 'tenantId'>, id: string, actor: AuditActor): Promise<JobWithHistoryView> {
  const { db, producer, logger } = deps;
  const current = await withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx.select().from(jobs).where(eq(jobs.id, id));
    return row;
  });
  if (!current) throw notFound('Job');
  assertFailed(current);
  await withTenant(db, auth.tenantId, (tx) => assertSubscriptionRetryable(tx, current));

  try {
    await producer.forget(current.queue, current.id);
  } catch (error) {
    throw new AppError('DEPENDENCY_UNAVAILABLE', 'The job queue could not release the failed run (Redis unavailable, or the run is still being recorded); nothing was changed, retry shortly', {
      retryAfterSeconds: 5,
      cause: error,
    });
  }

  const { reset, ready } = await withTenant(db, auth.tenantId, async (tx) => {
    const [before] = await tx.select().from(jobs).where(eq(jobs.id, id)).for('update');
    if (!before) throw notFound('Job');
    assertFailed(before); // a concurrent retry may have got here first
    await assertSubscriptionRetryable(tx, before);
    const row = await resetForRetry(tx, before);
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'job.retried',
      targetType: 'job',
      targetId: row.id,
      before: retryState(before),
      after: retryState(row),
      metadata: { type: row.type, subscriptionId: row.subscriptionId, orderId: row.orderId },
    });
    const release = await reopenSubscription(tx, auth.tenantId, row, actor);
    // The release of a hold may have become a dependency of the retried row: read it again.
    const [latest] = release ? await tx.select().from(jobs).where(eq(jobs.id, row.id)) : [row];
    return { reset: latest ?? row, ready: await readyJobs(tx, release ? [latest ?? row, release] : [row]) };
  });

  await enqueue(db, producer, logger, ready);
  const latest = await withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx.select().from(jobs).where(eq(jobs.id, id));
    return row;
  });
  return jobWithHistoryView(latest ?? reset);
}
