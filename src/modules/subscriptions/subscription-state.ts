import { eq } from 'drizzle-orm';
import { subscriptions, type Subscription, type SubscriptionStatus, type SubscriptionStatusReason } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import type { AuditAction } from '../audit/audit-actions.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { recordEvent, type DomainEventType } from '../events/domain-events.js';

/**
 * The subscription state machine and its ONE writer (DESIGN.md): every change of
 * `subscriptions.status` — provisioning outcomes, staff lifecycle actions, an admin's retry,
 * billing — goes through `transition()`, which checks this table, writes the status with its
 * structured reason, the audit row and the domain event (the outbox of notifications), in the
 * caller's transaction.
 *
 *   PENDING → PROVISIONING → ACTIVE ⇄ SUSPENDED → TERMINATED
 *   PENDING | PROVISIONING → FAILED → PROVISIONING (retry)
 *   ACTIVE → PAST_DUE → ACTIVE (paid) | SUSPENDED
 */
export const subscriptionEvents = {
  provisioning_started: { from: ['PENDING'], to: 'PROVISIONING' },
  activated: { from: ['PROVISIONING'], to: 'ACTIVE' },
  failed: { from: ['PENDING', 'PROVISIONING'], to: 'FAILED' },
  reopened: { from: ['FAILED'], to: 'PROVISIONING' },
  suspended: { from: ['ACTIVE', 'PAST_DUE'], to: 'SUSPENDED' },
  unsuspended: { from: ['SUSPENDED'], to: 'ACTIVE' },
  terminated: { from: ['ACTIVE', 'PAST_DUE', 'SUSPENDED', 'FAILED'], to: 'TERMINATED' },
  past_due: { from: ['ACTIVE'], to: 'PAST_DUE' },
  recovered: { from: ['PAST_DUE'], to: 'ACTIVE' },
} as const satisfies Record<string, { from: readonly SubscriptionStatus[]; to: SubscriptionStatus }>;

export type SubscriptionEvent = keyof typeof subscriptionEvents;

/** The domain event (modules/events) each transition records; the two internal steps record none. */
const domainEventOf: Record<SubscriptionEvent, Exclude<Extract<DomainEventType, `subscription.${string}`>, 'subscription.plan_changed'> | null> = {
  provisioning_started: null,
  reopened: null,
  activated: 'subscription.activated',
  failed: 'subscription.failed',
  suspended: 'subscription.suspended',
  unsuspended: 'subscription.unsuspended',
  terminated: 'subscription.terminated',
  past_due: 'subscription.past_due',
  recovered: 'subscription.recovered',
};

/** Who or what caused a change, and why: stored as the subscription's status reason and audited. */
export interface TransitionCause {
  readonly actor: AuditActor;
  /** A sentence for people. */
  readonly reason: string;
  readonly jobId?: string;
  readonly jobType?: string;
  readonly paymentEventId?: string;
  readonly invoiceId?: string;
  readonly rule?: string;
}

export function canTransition(status: SubscriptionStatus, event: SubscriptionEvent): boolean {
  const allowed: readonly SubscriptionStatus[] = subscriptionEvents[event].from;
  return allowed.includes(status);
}

export interface Transitioned {
  readonly subscription: Subscription;
  readonly from: SubscriptionStatus;
}

/**
 * Applies `event` to the subscription if its current status allows it (the row is locked for
 * the transaction): status, reason, suspended/terminated time and the audit row. Returns the
 * updated row, or null when the event does not apply from the current status (nothing written):
 * callers that must refuse (a staff request) check `canTransition` first and answer 409.
 */
export async function transition(tx: Tx, target: { tenantId: string; subscriptionId: string }, event: SubscriptionEvent, cause: TransitionCause): Promise<Transitioned | null> {
  const [before] = await tx.select().from(subscriptions).where(eq(subscriptions.id, target.subscriptionId)).for('update');
  if (!before || !canTransition(before.status, event)) return null;
  const { to } = subscriptionEvents[event];
  const now = new Date();
  const statusReason: SubscriptionStatusReason = {
    event,
    reason: cause.reason,
    actorType: cause.actor.type,
    actorUserId: cause.actor.userId ?? null,
    ...(cause.jobId ? { jobId: cause.jobId } : {}),
    ...(cause.jobType ? { jobType: cause.jobType } : {}),
    ...(cause.paymentEventId ? { paymentEventId: cause.paymentEventId } : {}),
    ...(cause.invoiceId ? { invoiceId: cause.invoiceId } : {}),
    ...(cause.rule ? { rule: cause.rule } : {}),
    at: now.toISOString(),
  };
  const [after] = await tx
    .update(subscriptions)
    .set({
      status: to,
      statusReason,
      ...(to === 'SUSPENDED' ? { suspendedAt: now } : {}),
      ...(before.status === 'SUSPENDED' && to === 'ACTIVE' ? { suspendedAt: null, suspensionReason: null } : {}),
      ...(to === 'TERMINATED' ? { terminatedAt: now } : {}),
    })
    .where(eq(subscriptions.id, before.id))
    .returning();
  if (!after) throw new Error(`subscription ${before.id} vanished during its transition`);
  const { actor: _actor, reason: _reason, ...references } = cause;
  const action: AuditAction = `subscription.${event}`;
  await recordAudit(tx, {
    tenantId: target.tenantId,
    actor: cause.actor,
    action,
    targetType: 'subscription',
    targetId: before.id,
    before: { status: before.status },
    after: { status: to },
    metadata: { reason: cause.reason, ...references },
  });
  const eventType = domainEventOf[event];
  if (eventType) {
    await recordEvent(tx, target.tenantId, {
      type: eventType,
      subject: { type: 'subscription', id: before.id },
      payload: { subscriptionId: before.id, customerId: before.customerId, productId: before.productId, from: before.status, to, reason: cause.reason, ...references },
    });
  }
  return { subscription: after, from: before.status };
}

/** What the domain event of an applied plan change tells: both plans and how the change was billed. */
export interface PlanChangeFacts {
  readonly from: { readonly priceId: string; readonly productId: string; readonly productName: string; readonly amount: number; readonly currency: string };
  readonly to: { readonly priceId: string; readonly productId: string; readonly productName: string; readonly amount: number; readonly currency: string };
  readonly kind: 'upgrade' | 'downgrade' | 'same_price';
  /** The proration invoice of an upgrade, if one was issued. */
  readonly invoiceId: string | null;
  /** Now for an upgrade; the end of the paid period for a downgrade. */
  readonly effectiveAt: Date;
}

/**
 * A change of the subscription's plan (modules/billing/plan-change.service.ts decides which):
 * - `apply`: the new price and product take effect now (`subscription.plan_changed` audited and
 *   written to the events outbox), and any pending change is dropped;
 * - `schedule`: a downgrade waits for `at` (the end of the paid period);
 * - `unschedule`: the pending change is withdrawn.
 * Like `transition()`, the row is locked and the audit row written in the caller's transaction.
 */
export type PlanChange =
  | { readonly kind: 'apply'; readonly facts: PlanChangeFacts }
  | { readonly kind: 'schedule'; readonly priceId: string; readonly at: Date }
  | { readonly kind: 'unschedule' };

export async function changePlan(tx: Tx, target: { tenantId: string; subscriptionId: string }, change: PlanChange, cause: TransitionCause): Promise<Subscription> {
  const [before] = await tx.select().from(subscriptions).where(eq(subscriptions.id, target.subscriptionId)).for('update');
  if (!before) throw new Error(`subscription ${target.subscriptionId} vanished during its plan change`);
  const set =
    change.kind === 'apply'
      ? { priceId: change.facts.to.priceId, productId: change.facts.to.productId, pendingPriceId: null, pendingPlanChangeAt: null }
      : change.kind === 'schedule'
        ? { pendingPriceId: change.priceId, pendingPlanChangeAt: change.at }
        : { pendingPriceId: null, pendingPlanChangeAt: null };
  const [after] = await tx.update(subscriptions).set(set).where(eq(subscriptions.id, before.id)).returning();
  if (!after) throw new Error(`subscription ${before.id} vanished during its plan change`);
  const { actor: _actor, reason: _reason, ...references } = cause;
  const plan = (row: Subscription) => ({ priceId: row.priceId, productId: row.productId, pendingPriceId: row.pendingPriceId, pendingPlanChangeAt: row.pendingPlanChangeAt?.toISOString() ?? null });
  const action: AuditAction = change.kind === 'apply' ? 'subscription.plan_changed' : change.kind === 'schedule' ? 'subscription.plan_change_scheduled' : 'subscription.plan_change_cancelled';
  await recordAudit(tx, {
    tenantId: target.tenantId,
    actor: cause.actor,
    action,
    targetType: 'subscription',
    targetId: before.id,
    before: plan(before),
    after: plan(after),
    metadata: { reason: cause.reason, ...references, ...(change.kind === 'apply' ? { kind: change.facts.kind } : {}) },
  });
  if (change.kind === 'apply') {
    const { from, to } = change.facts;
    await recordEvent(tx, target.tenantId, {
      type: 'subscription.plan_changed',
      subject: { type: 'subscription', id: before.id },
      payload: {
        subscriptionId: before.id,
        customerId: before.customerId,
        fromPriceId: from.priceId,
        toPriceId: to.priceId,
        fromProductId: from.productId,
        toProductId: to.productId,
        fromProductName: from.productName,
        toProductName: to.productName,
        fromAmount: { amount: from.amount, currency: from.currency },
        toAmount: { amount: to.amount, currency: to.currency },
        kind: change.facts.kind,
        effectiveAt: change.facts.effectiveAt.toISOString(),
        invoiceId: change.facts.invoiceId,
        reason: cause.reason,
      },
    });
  }
  return after;
}
