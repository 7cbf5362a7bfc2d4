import { and, eq, ne } from 'drizzle-orm';
import { jobs, type Job } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import type { JobOutcomes } from '../../jobs/runner.js';
import { systemActor } from '../audit/audit.service.js';
import { activateSubscriptionDomains } from '../domains/domains.service.js';
import { recordEvent } from '../events/domain-events.js';
import { holdFailedSite, isSiteHold } from '../hosting/failed-site-hold.js';
import { fulfilOrder } from '../orders/order-fulfilment.js';
import { lifecycleEventOf } from '../subscriptions/lifecycle.service.js';
import { transition, type SubscriptionEvent } from '../subscriptions/subscription-state.js';

async function move(tx: Tx, job: Job, event: SubscriptionEvent, reason: string): Promise<boolean> {
  if (!job.subscriptionId) return false;
  const moved = await transition(tx, { tenantId: job.tenantId, subscriptionId: job.subscriptionId }, event, {
    actor: systemActor,
    reason,
    jobId: job.id,
    jobType: job.type,
  });
  return moved !== null;
}

/** Whether every job of the order has SUCCEEDED (VERIFY_AND_ACTIVATE, which depends on all the others, last). */
async function orderComplete(tx: Tx, orderId: string): Promise<boolean> {
  const [unfinished] = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.orderId, orderId), ne(jobs.status, 'SUCCEEDED')))
    .limit(1);
  return !unfinished;
}

/**
 * How job outcomes move subscriptions, registered with the runner by the composition root. Each
 * runs in the transaction of the job's own change, and only through the subscription state
 * machine (which ignores an event that does not apply from the current status):
 * - the first step to start: PENDING → PROVISIONING;
 * - every job of the order succeeded: PROVISIONING → ACTIVE, the order FULFILLED, its domains ACTIVE;
 * - a lifecycle job succeeded: the status it stands for (SUSPENDED, ACTIVE, TERMINATED);
 * - any job failed for good while provisioning: FAILED, with the step's error as the reason, and
 *   the site (if it is up) held on the suspended page until a retry (hosting/failed-site-hold.ts);
 *   every job failed for good also records a `job.failed` event (staff alert).
 */
export const provisioningOutcomes: JobOutcomes = {
  async started(tx, job) {
    // A job with dependencies starts after one of them did, so its subscription has left PENDING.
    if (job.dependsOn.length > 0) return;
    await move(tx, job, 'provisioning_started', 'first provisioning step started');
  },

  async succeeded(tx, job, waiting) {
    if (isSiteHold(job)) return; // the site changed; the subscription stays FAILED (or moves on by its own steps)
    const lifecycleEvent = lifecycleEventOf(job.type);
    if (lifecycleEvent) {
      await move(tx, job, lifecycleEvent, `step ${job.type} succeeded`);
      return;
    }
    // A job of the order still waits on this one: the order is not complete.
    if (!job.orderId || waiting.some((next) => next.orderId === job.orderId) || !(await orderComplete(tx, job.orderId))) return;
    if (!(await move(tx, job, 'activated', 'every provisioning step succeeded'))) return;
    await fulfilOrder(tx, job.orderId);
    if (job.subscriptionId) await activateSubscriptionDomains(tx, job.subscriptionId);
  },

  async failed(tx, job, error) {
    await recordEvent(tx, job.tenantId, {
      type: 'job.failed',
      subject: { type: 'job', id: job.id },
      payload: { jobId: job.id, jobType: job.type, subscriptionId: job.subscriptionId, orderId: job.orderId, attempts: job.attempts, error },
    });
    if (!(await move(tx, job, 'failed', `step ${job.type} failed: ${error}`))) return [];
    const hold = await holdFailedSite(tx, job);
    return hold ? [hold] : [];
  },
};
