import { and, eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { subscriptions, type DunningOverride, type Subscription } from '../../db/schema/index.js';
import { withCustomer, withTenant, type Tx } from '../../db/tenant-tx.js';
import { conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { ledgerKeys, openRenewalInvoice, policyInputs } from './billing-run.js';
import type { BillingScheduleView, SubscriptionBillingBody } from './billing.types.js';
import { dunningProblems, timeline } from './dunning-policy.js';

type Auth = Pick<AuthContext, 'tenantId'>;
/** The client portal's door: the signed-in customer, whose subscriptions only are found (under the customer RLS policy too). */
type Scope = Auth & { readonly customerId?: string | undefined };

/** What the billing run will do to the subscription from `now` on (the same policy, not a copy of it). */
async function scheduleOf(tx: Tx, tenantId: string, subscription: Subscription, now: Date): Promise<BillingScheduleView> {
  const { settings, sources, sub, price } = await policyInputs(tx, tenantId, subscription);
  const invoice = await openRenewalInvoice(tx, subscription);
  const live = subscription.billingMode === 'MPANEL' && ['ACTIVE', 'PAST_DUE', 'SUSPENDED'].includes(subscription.status);
  const steps = live && sub ? timeline(sub, invoice ? { id: invoice.id, status: invoice.status, dueAt: invoice.dueAt, issuedAt: invoice.issuedAt } : null, settings, now, await ledgerKeys(tx, subscription.id)) : [];
  return {
    subscriptionId: subscription.id,
    billingMode: subscription.billingMode,
    status: subscription.status,
    paidThrough: subscription.paidThrough,
    billingHoldUntil: subscription.billingHoldUntil,
    cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
    dunningOverride: subscription.dunningOverride,
    dunningOverrides: { product: price.productDunningOverride, customer: price.customerDunningOverride },
    settings: {
      renewalLeadDays: settings.renewalLeadDays,
      paymentTermsDays: settings.paymentTermsDays,
      cancellationRetentionDays: settings.cancellationRetentionDays,
      reminderDays: [...settings.reminderDays],
      overdueNoticeDays: [...settings.overdueNoticeDays],
      suspendAfterDays: settings.suspendAfterDays,
      terminationEnabled: settings.terminationEnabled,
      terminateAfterDays: settings.terminateAfterDays,
      terminationWarningDays: settings.terminationWarningDays,
    },
    settingSources: sources,
    openInvoice: invoice ? { id: invoice.id, number: invoice.number, status: invoice.status, dueAt: invoice.dueAt } : null,
    steps: steps.map((step) => ({ action: step.action, at: step.at, outcome: step.outcome, rule: step.rule })),
  };
}

/** GET /api/subscriptions/:id/billing-schedule */
export async function getBillingSchedule(db: Database, auth: Auth, subscriptionId: string, now = new Date()): Promise<BillingScheduleView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId));
    if (!subscription) throw notFound('Subscription');
    return scheduleOf(tx, auth.tenantId, subscription, now);
  });
}

/**
 * PATCH /api/subscriptions/:id/billing: a staff hold, a dunning override, cancellation at period
 * end (or taking it back). Audited with before and after; answers the new schedule.
 */
export async function updateSubscriptionBilling(db: Database, auth: Scope, subscriptionId: string, body: SubscriptionBillingBody, actor: AuditActor, now = new Date()): Promise<BillingScheduleView> {
  const { customerId } = auth;
  const inScope = (fn: (tx: Tx) => Promise<BillingScheduleView>) => (customerId ? withCustomer(db, auth.tenantId, customerId, fn) : withTenant(db, auth.tenantId, fn));
  return inScope(async (tx) => {
    const [before] = await tx
      .select()
      .from(subscriptions)
      .where(and(eq(subscriptions.id, subscriptionId), customerId ? eq(subscriptions.customerId, customerId) : undefined))
      .for('update');
    if (!before) throw notFound('Subscription');
    if (before.status === 'TERMINATED' || before.status === 'FAILED') throw conflict(`A ${before.status} subscription has no billing to change`);
    if (before.billingMode !== 'MPANEL' && body.cancelAtPeriodEnd !== undefined) throw conflict('A Stripe-billed subscription is cancelled in Stripe');
    if (body.cancelAtPeriodEnd === false && before.status === 'SUSPENDED' && before.suspensionReason === 'CANCELLED') {
      throw conflict('The cancellation already took effect (suspended at period end): unsuspend and bill the subscription again instead');
    }
    let override: DunningOverride | null | undefined;
    if (body.dunningOverride !== undefined) {
      override = body.dunningOverride === null ? null : Object.fromEntries(Object.entries(body.dunningOverride).filter(([, value]) => value !== undefined));
      if (override) {
        const { settings } = await policyInputs(tx, auth.tenantId, { ...before, dunningOverride: override });
        const problems = dunningProblems(settings, 'body/dunningOverride');
        if (problems.length > 0) throw validationFailed(problems);
      }
    }
    const changes = {
      ...(body.billingHoldUntil !== undefined ? { billingHoldUntil: body.billingHoldUntil === null ? null : new Date(body.billingHoldUntil) } : {}),
      ...(override !== undefined ? { dunningOverride: override } : {}),
      ...(body.cancelAtPeriodEnd !== undefined ? { cancelAtPeriodEnd: body.cancelAtPeriodEnd, cancelRequestedAt: body.cancelAtPeriodEnd ? now : null } : {}),
    };
    const [after] = await tx.update(subscriptions).set(changes).where(eq(subscriptions.id, before.id)).returning();
    if (!after) throw notFound('Subscription');
    const view = (row: Subscription) => ({ billingHoldUntil: row.billingHoldUntil, dunningOverride: row.dunningOverride, cancelAtPeriodEnd: row.cancelAtPeriodEnd });
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'subscription.billing_updated', targetType: 'subscription', targetId: before.id, before: view(before), after: view(after) });
    if (body.cancelAtPeriodEnd !== undefined && body.cancelAtPeriodEnd !== before.cancelAtPeriodEnd) {
      await recordAudit(tx, {
        tenantId: auth.tenantId,
        actor,
        action: 'subscription.cancel_requested',
        targetType: 'subscription',
        targetId: before.id,
        before: { cancelAtPeriodEnd: before.cancelAtPeriodEnd },
        after: { cancelAtPeriodEnd: after.cancelAtPeriodEnd },
        metadata: { at: 'period_end', paidThrough: after.paidThrough?.toISOString() ?? null },
      });
    }
    return scheduleOf(tx, auth.tenantId, after, now);
  });
}
