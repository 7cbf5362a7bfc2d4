import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { invoices, subscriptions, type Job, type SuspensionReason } from '../../db/schema/index.js';
import { STRIPE_DUNNING_SCAN_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import { AppError } from '../../shared/errors/app-error.js';
import { systemActor } from '../audit/audit.service.js';
import { createLifecycleJob } from '../subscriptions/lifecycle.service.js';
import type { Logger } from 'pino';
import type { JobProducer } from '../../jobs/queue.js';
import { effectiveSettings, type StepAction } from './dunning-policy.js';
import { settingsOf } from './invoices.service.js';

/**
 * The billing run's pass over STRIPE-mode subscriptions. Stripe owns their schedule, charging,
 * retries and notices; mPanel acts only on what it mirrored from Stripe's events
 * (payment-events/stripe-billing.ts):
 * - PAST_DUE (set by invoice.payment_failed) → NON_PAYMENT suspension once `suspendAfterDays`
 *   (the tenant's, or the subscription's override) have passed since paidThrough, and never while
 *   a mirrored open invoice still has Stripe's `next_payment_attempt` (a retry) scheduled;
 * - a subscription Stripe cancelled (customer.subscription.deleted) → CANCELLED suspension at
 *   paidThrough, then termination once `cancellationRetentionDays` have passed since paidThrough
 *   (TERMINATE_SITE archives the site first), as a cancellation at period end in MPANEL mode; the
 *   same for one already suspended for non-payment when Stripe cancels it (its retries spent).
 * All go through the lifecycle jobs (SUSPEND_SITE / TERMINATE_SITE, then the state machine), as for
 * MPANEL mode; a staff hold (`billingHoldUntil`) defers them. Payment (invoice.paid) recovers and unsuspends.
 */

const MAX_PER_RUN = 5_000;

/** runBilling's deps (billing-run.ts), which calls this pass. */
export interface StripeDunningDeps {
  readonly db: Database;
  readonly producer: JobProducer;
  readonly logger: Logger;
  readonly maxAttempts: number;
}

/** One action, in the shape of billing-run.ts's StripeDunningAction. */
export interface StripeDunningAction {
  readonly tenantId: string;
  readonly subscriptionId: string;
  readonly action: StepAction;
  readonly at: Date;
  readonly outcome: 'DONE' | 'SKIPPED' | 'DEFERRED';
  readonly rule: string;
  readonly detail?: string | undefined;
}

async function candidates(db: Database, asOf: Date, tenantId: string | undefined): Promise<{ id: string; tenantId: string }[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${STRIPE_DUNNING_SCAN_SETTING}, 'on', true)`);
    return tx
      .select({ id: subscriptions.id, tenantId: subscriptions.tenantId })
      .from(subscriptions)
      .where(
        and(
          eq(subscriptions.billingMode, 'STRIPE'),
          sql`${subscriptions.paidThrough} <= ${asOf.toISOString()}::timestamptz`,
          // PAST_DUE (suspension), cancelled in Stripe and still live (CANCELLED suspension) or
          // suspended for it (termination after the retention, which processOne checks).
          sql`(${subscriptions.status} = 'PAST_DUE'
               or (${subscriptions.stripeStatus} = 'canceled' and ${subscriptions.status} = 'ACTIVE')
               or (${subscriptions.stripeStatus} = 'canceled' and ${subscriptions.status} = 'SUSPENDED' and ${subscriptions.suspensionReason} in ('CANCELLED', 'NON_PAYMENT')))`,
          tenantId ? eq(subscriptions.tenantId, tenantId) : undefined,
        ),
      )
      .orderBy(subscriptions.paidThrough, subscriptions.id)
      .limit(MAX_PER_RUN);
  });
}

const DAY_MS = 86_400_000;

async function processOne(tx: Tx, deps: StripeDunningDeps, tenantId: string, subscriptionId: string, asOf: Date, dryRun: boolean): Promise<{ action: StripeDunningAction | null; jobs: Job[] }> {
  const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId)).for('update');
  if (!subscription || subscription.billingMode !== 'STRIPE' || !subscription.paidThrough) return { action: null, jobs: [] };
  if (subscription.billingHoldUntil && subscription.billingHoldUntil > asOf) return { action: null, jobs: [] };
  const planned = (outcome: StripeDunningAction['outcome'], action: StripeDunningAction['action'], at: Date, rule: string, detail?: string): StripeDunningAction => ({ tenantId, subscriptionId, action, at, outcome, rule, detail });

  let suspension: { reason: SuspensionReason; rule: string; at: Date; why: string } | null = null;
  // Cancelled in Stripe (by the customer, or by Stripe once its retries were spent) and suspended
  // for it or for non-payment: nothing will bill it again. A STAFF or ABUSE suspension is staff's to end.
  if (subscription.stripeStatus === 'canceled' && subscription.status === 'SUSPENDED' && (subscription.suspensionReason === 'CANCELLED' || subscription.suspensionReason === 'NON_PAYMENT')) {
    const { cancellationRetentionDays } = effectiveSettings(await settingsOf(tx, tenantId), subscription.dunningOverride);
    const at = new Date(subscription.paidThrough.getTime() + cancellationRetentionDays * DAY_MS);
    if (at > asOf) return { action: null, jobs: [] };
    const rule = 'stripe.cancel.retention';
    if (dryRun) return { action: planned('DONE', 'cancel_terminate', at, rule), jobs: [] };
    return lifecycle(tx, deps, tenantId, subscription.id, 'terminate', `the Stripe subscription was cancelled; retention of ${cancellationRetentionDays} days over (rule ${rule})`, 'CANCELLED', (outcome, detail) =>
      planned(outcome, 'cancel_terminate', at, rule, detail),
    );
  }
  if (subscription.stripeStatus === 'canceled' && subscription.paidThrough <= asOf && (subscription.status === 'ACTIVE' || subscription.status === 'PAST_DUE')) {
    suspension = { reason: 'CANCELLED', rule: 'stripe.cancelled', at: subscription.paidThrough, why: 'the Stripe subscription was cancelled; the paid period is over' };
  } else if (subscription.status === 'PAST_DUE') {
    const settings = effectiveSettings(await settingsOf(tx, tenantId), subscription.dunningOverride);
    const at = new Date(subscription.paidThrough.getTime() + settings.suspendAfterDays * DAY_MS);
    if (at > asOf) return { action: null, jobs: [] };
    const [retry] = await tx
      .select({ number: invoices.number, next: invoices.stripeNextPaymentAttempt })
      .from(invoices)
      .where(and(eq(invoices.subscriptionId, subscription.id), eq(invoices.billingMode, 'STRIPE'), eq(invoices.status, 'ISSUED'), isNotNull(invoices.stripeNextPaymentAttempt)))
      .limit(1);
    if (retry) return { action: planned('DEFERRED', 'suspend', at, `stripe.suspend+${settings.suspendAfterDays}`, `Stripe retries invoice ${retry.number ?? ''} on ${retry.next?.toISOString() ?? ''}`), jobs: [] };
    suspension = { reason: 'NON_PAYMENT', rule: `stripe.suspend+${settings.suspendAfterDays}`, at, why: `unpaid in Stripe ${settings.suspendAfterDays} days after the paid period ended, no retry scheduled` };
  }
  if (!suspension) return { action: null, jobs: [] };
  const action = suspension.reason === 'CANCELLED' ? 'cancel_suspend' : 'suspend';
  if (dryRun) return { action: planned('DONE', action, suspension.at, suspension.rule), jobs: [] };
  const { at, rule } = suspension;
  return lifecycle(tx, deps, tenantId, subscription.id, 'suspend', `${suspension.why} (rule ${rule})`, suspension.reason, (outcome, detail) => planned(outcome, action, at, rule, detail));
}

/** Plans the lifecycle job; DEFERRED while another lifecycle job of the subscription is in progress (the next run looks again). */
async function lifecycle(
  tx: Tx,
  deps: StripeDunningDeps,
  tenantId: string,
  subscriptionId: string,
  action: 'suspend' | 'terminate',
  reason: string,
  suspensionReason: SuspensionReason,
  planned: (outcome: StripeDunningAction['outcome'], detail: string) => StripeDunningAction,
): Promise<{ action: StripeDunningAction; jobs: Job[] }> {
  try {
    const job = await createLifecycleJob(tx, tenantId, subscriptionId, action, systemActor, reason, deps.maxAttempts, suspensionReason);
    return { action: planned('DONE', `job ${job.job.id}`), jobs: job.ready };
  } catch (error) {
    if (!(error instanceof AppError && error.code === 'CONFLICT')) throw error;
    return { action: planned('DEFERRED', error.message), jobs: [] };
  }
}

/** One pass; called by runBilling (billing-run.ts) after its MPANEL pass. Errors per subscription are logged and counted. */
export async function runStripeDunning(deps: StripeDunningDeps, options: { asOf: Date; tenantId?: string | undefined; dryRun?: boolean | undefined }): Promise<{ actions: StripeDunningAction[]; errors: number }> {
  const actions: StripeDunningAction[] = [];
  let errors = 0;
  for (const candidate of await candidates(deps.db, options.asOf, options.tenantId)) {
    try {
      const result = await withTenant(deps.db, candidate.tenantId, (tx) => processOne(tx, deps, candidate.tenantId, candidate.id, options.asOf, options.dryRun === true));
      if (result.jobs.length > 0) await enqueue(deps.db, deps.producer, deps.logger, result.jobs);
      if (result.action) actions.push(result.action);
    } catch (error) {
      errors += 1;
      deps.logger.error({ err: error, subscription: candidate.id, tenant: candidate.tenantId }, 'billing run (STRIPE mode): a subscription failed; the next run retries it');
    }
  }
  return { actions, errors };
}
