import { and, eq, inArray, ne } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { jobs, subscriptions, websites, type SubscriptionStatus } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { enqueue, historyEntry } from '../../jobs/outbox.js';
import { lifecycleTransitions, lifecycleStepOf } from '../../jobs/lifecycle.js';
import { PROVISIONING_QUEUE, serverQueue, type JobProducer } from '../../jobs/queue.js';
import { AppError, notFound } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { LifecycleAccepted, LifecycleAction } from './lifecycle.types.js';

export interface LifecycleDeps {
  db: Database;
  producer: JobProducer;
  logger: Logger;
  maxAttempts: number;
}

/**
 * Suspend, unsuspend or terminate a subscription: ONE job through the provisioning pipeline, on
 * the queue of the server that hosts the site. The subscription's status changes when that job
 * succeeds. Asking for the state the subscription is already in is a no-op (200, no job); asking
 * while another lifecycle job of it is still running, or from a state the action does not apply
 * to, is 409.
 */
export async function requestLifecycle(
  deps: LifecycleDeps,
  tenantId: string,
  subscriptionId: string,
  action: LifecycleAction,
  actor: AuditActor,
  reason: string | undefined,
): Promise<{ created: boolean; body: LifecycleAccepted }> {
  const type = lifecycleStepOf[action];
  const transition = lifecycleTransitions[type];
  const result = await withTenant(deps.db, tenantId, async (tx) => {
    const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId)).for('update');
    if (!subscription) throw notFound('Subscription');
    if (subscription.status === transition.to) {
      return { created: false, body: { subscriptionId, status: subscription.status, job: null }, jobs: [] };
    }
    const allowed: readonly SubscriptionStatus[] = transition.from;
    if (!allowed.includes(subscription.status)) {
      throw new AppError('CONFLICT', `A ${subscription.status} subscription cannot be ${pastTense[action]} (allowed from ${allowed.join(', ')})`);
    }
    const [running] = await tx
      .select({ id: jobs.id, type: jobs.type })
      .from(jobs)
      .where(and(eq(jobs.subscriptionId, subscriptionId), inArray(jobs.type, Object.keys(lifecycleTransitions)), inArray(jobs.status, ['PENDING', 'QUEUED', 'RUNNING'])));
    if (running) throw new AppError('CONFLICT', `A ${running.type} job (${running.id}) of this subscription is still in progress`);

    const [website] = await tx
      .select({ id: websites.id, serverId: websites.serverId })
      .from(websites)
      .where(and(eq(websites.subscriptionId, subscriptionId), ne(websites.status, 'TERMINATED')));
    const [job] = await tx
      .insert(jobs)
      .values({
        tenantId,
        subscriptionId,
        type,
        queue: website ? serverQueue(website.serverId) : PROVISIONING_QUEUE,
        maxAttempts: deps.maxAttempts,
        payload: { subscriptionId, websiteId: website?.id ?? null },
        history: [historyEntry('PENDING')],
      })
      .returning();
    if (!job) throw new Error('insert into jobs returned no row');
    await recordAudit(tx, {
      tenantId,
      actor,
      action: `subscription.${action}_requested`,
      targetType: 'subscription',
      targetId: subscriptionId,
      before: { status: subscription.status },
      metadata: { jobId: job.id, ...(reason ? { reason } : {}) },
    });
    const status: SubscriptionStatus = subscription.status;
    return { created: true, body: { subscriptionId, status, job: { id: job.id, type: job.type, status: job.status } }, jobs: [job] };
  });
  if (result.created) await enqueue(deps.db, deps.producer, deps.logger, result.jobs);
  return { created: result.created, body: result.body };
}

const pastTense: Record<LifecycleAction, string> = { suspend: 'suspended', unsuspend: 'unsuspended', terminate: 'terminated' };
