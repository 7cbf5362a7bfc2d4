import { and, eq, inArray, ne } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import type { Tx } from '../../db/tenant-tx.js';
import { jobs, mailDomains, subscriptions, websites, type Job, type JobType, type SuspensionReason } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { historyEntry } from '../../jobs/job-state.js';
import { enqueue } from '../../jobs/outbox.js';
import { PROVISIONING_QUEUE, serverQueue, type JobProducer } from '../../jobs/queue.js';
import { AppError, notFound } from '../../shared/errors/app-error.js';
import type { AuditAction } from '../audit/audit-actions.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { lifecyclePayload } from '../hosting/steps/site-lifecycle.js';
import { mailLifecyclePayload } from '../mail/steps/mail-lifecycle.js';
import type { LifecycleAccepted, LifecycleAction } from './lifecycle.types.js';
import { canTransition, subscriptionEvents, type SubscriptionEvent } from './subscription-state.js';

/** Each staff lifecycle action: the job that does it, and the state machine event its success applies. */
export const lifecycleActions = {
  suspend: { type: 'SUSPEND_SITE', event: 'suspended' },
  unsuspend: { type: 'UNSUSPEND_SITE', event: 'unsuspended' },
  terminate: { type: 'TERMINATE_SITE', event: 'terminated' },
} as const satisfies Record<LifecycleAction, { type: JobType; event: SubscriptionEvent }>;

/** The mail server's part of each action (modules/mail/steps/mail-lifecycle.ts): the site job waits for it. */
const mailActions = { suspend: 'SUSPEND_MAIL', unsuspend: 'UNSUSPEND_MAIL', terminate: 'TERMINATE_MAIL' } as const satisfies Record<LifecycleAction, JobType>;

const lifecycleJobTypes: readonly JobType[] = [...Object.values(lifecycleActions).map((action) => action.type), ...Object.values(mailActions)];

/** The event a lifecycle job's success applies to its subscription; undefined for other jobs. */
export function lifecycleEventOf(type: JobType): SubscriptionEvent | undefined {
  return Object.values(lifecycleActions).find((action) => action.type === type)?.event;
}

export interface LifecycleDeps {
  db: Database;
  producer: JobProducer;
  logger: Logger;
  maxAttempts: number;
}

/**
 * Suspend, unsuspend or terminate a subscription: ONE job through the provisioning pipeline, on
 * the queue of the server that hosts the site. The subscription's status changes when that job
 * succeeds (modules/provisioning/provisioning-outcomes.ts). Asking for the state the subscription
 * is already in is a no-op (200, no job); asking while another lifecycle job of it is still
 * running, or from a state the action does not apply to, is 409.
 */
export async function requestLifecycle(
  deps: LifecycleDeps,
  tenantId: string,
  subscriptionId: string,
  action: LifecycleAction,
  actor: AuditActor,
  reason: string | undefined,
): Promise<{ created: boolean; body: LifecycleAccepted }> {
  const { event } = lifecycleActions[action];
  const result = await withTenant(deps.db, tenantId, async (tx) => {
    const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId)).for('update');
    if (!subscription) throw notFound('Subscription');
    if (subscription.status === subscriptionEvents[event].to) {
      return { created: false, body: { subscriptionId, status: subscription.status, job: null }, jobs: [] };
    }
    if (!canTransition(subscription.status, event)) {
      throw new AppError('CONFLICT', `A ${subscription.status} subscription cannot be ${pastTense[action]} (allowed from ${subscriptionEvents[event].from.join(', ')})`);
    }
    const planned = await createLifecycleJob(tx, tenantId, subscriptionId, action, actor, reason, deps.maxAttempts);
    const { job } = planned;
    return { created: true, body: { subscriptionId, status: subscription.status, job: { id: job.id, type: job.type, status: job.status } }, jobs: planned.ready };
  });
  if (result.created) await enqueue(deps.db, deps.producer, deps.logger, result.jobs);
  return { created: result.created, body: result.body };
}

/**
 * The lifecycle jobs for `action`, in the caller's transaction, with the audit row: the
 * subscription's mail first (on its mail server's queue), then the site job, which waits for them
 * and moves the subscription. `ready` are the jobs to enqueue after commit. 409 while another
 * lifecycle job of the subscription is still in progress. Billing calls it too: suspension for
 * non-payment, and the unsuspension a payment brings.
 */
export async function createLifecycleJob(
  tx: Tx,
  tenantId: string,
  subscriptionId: string,
  action: LifecycleAction,
  actor: AuditActor,
  reason: string | undefined,
  maxAttempts: number,
  suspensionReason: SuspensionReason = 'STAFF',
): Promise<{ job: Job; ready: Job[] }> {
  const { type } = lifecycleActions[action];
  const [subscription] = await tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, subscriptionId));
  if (!subscription) throw notFound('Subscription');
  const [running] = await tx
    .select({ id: jobs.id, type: jobs.type })
    .from(jobs)
    .where(and(eq(jobs.subscriptionId, subscriptionId), inArray(jobs.type, lifecycleJobTypes), inArray(jobs.status, ['PENDING', 'QUEUED', 'RUNNING'])));
  if (running) throw new AppError('CONFLICT', `A ${running.type} job (${running.id}) of this subscription is still in progress`);

  const [website] = await tx
    .select({ id: websites.id, serverId: websites.serverId })
    .from(websites)
    .where(and(eq(websites.subscriptionId, subscriptionId), ne(websites.status, 'TERMINATED')));
  const mailJobs: Job[] = [];
  for (const mailDomain of await tx.select().from(mailDomains).where(and(eq(mailDomains.subscriptionId, subscriptionId), ne(mailDomains.status, 'DELETED')))) {
    const [mailJob] = await tx
      .insert(jobs)
      .values({
        tenantId,
        subscriptionId,
        type: mailActions[action],
        queue: serverQueue(mailDomain.serverId),
        maxAttempts,
        payload: mailLifecyclePayload.parse({ subscriptionId, mailDomainId: mailDomain.id }),
        history: [historyEntry('PENDING')],
      })
      .returning();
    if (!mailJob) throw new Error('insert into jobs returned no row');
    mailJobs.push(mailJob);
  }
  const [job] = await tx
    .insert(jobs)
    .values({
      tenantId,
      subscriptionId,
      type,
      queue: website ? serverQueue(website.serverId) : PROVISIONING_QUEUE,
      maxAttempts,
      payload: lifecyclePayload.parse({ subscriptionId, websiteId: website?.id ?? null }),
      dependsOn: mailJobs.map((mailJob) => mailJob.id),
      history: [historyEntry('PENDING')],
    })
    .returning();
  if (!job) throw new Error('insert into jobs returned no row');
  // Why it will be suspended: a payment lifts only a NON_PAYMENT suspension.
  if (action === 'suspend') await tx.update(subscriptions).set({ suspensionReason }).where(eq(subscriptions.id, subscriptionId));
  const auditAction: AuditAction = `subscription.${action}_requested`;
  await recordAudit(tx, {
    tenantId,
    actor,
    action: auditAction,
    targetType: 'subscription',
    targetId: subscriptionId,
    before: { status: subscription.status },
    metadata: { jobId: job.id, ...(reason ? { reason } : {}) },
  });
  return { job, ready: mailJobs.length > 0 ? mailJobs : [job] };
}

const pastTense: Record<LifecycleAction, string> = { suspend: 'suspended', unsuspend: 'unsuspended', terminate: 'terminated' };
