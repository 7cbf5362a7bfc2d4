import { createHash } from 'node:crypto';
import { and, eq, like, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { creditNotes, invoices, payments, subscriptions, webhookEvents, type Invoice, type InvoiceKind, type InvoiceStatus, type Job, type Subscription } from '../../db/schema/index.js';
import { STRIPE_REFERENCE_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import { chargeOf, checkoutPaymentIntentOf, disputeOf, invoiceOf, subscriptionOf } from '../../providers/stripe/stripe-objects.js';
import { checkoutSessionOf } from '../../providers/stripe/stripe-webhooks.js';
import {
  INVOICE_CHECKOUT_METADATA,
  PaymentProviderError,
  StripePayloadError,
  type PaymentPort,
  type StripeEvent,
  type StripeInvoice,
  type StripeInvoiceStatus,
} from '../../providers/stripe/stripe.port.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { AppError } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { invoiceEvent, recordBillingEvent } from '../billing/billing-events.js';
import { issueCreditNote } from '../billing/invoices.service.js';
import { applyPayment, settleSubscription } from '../billing/payments.service.js';
import { recordEvent } from '../events/domain-events.js';
import type { PaymentEventOutcome } from '../orders/checkout-orders.js';
import type { OrderIntakeDeps } from '../orders/order-intake.service.js';
import { transition } from '../subscriptions/subscription-state.js';
import { resolvePublicTenant } from '../tenants/tenant-resolution.js';

/**
 * Stripe Billing's events (issue 16): STRIPE-mode subscriptions mirrored from Stripe, their invoices
 * mirrored read-only, refunds and disputes; and an mPanel invoice paid through Stripe Checkout.
 *
 * Every handler works in ONE transaction of the event's tenant, which first locks the event's
 * webhook_events row and, at the end, marks it handled: a second delivery (or a concurrent one,
 * which waits on the lock) finds it done and changes nothing. The tenant comes from the Stripe id
 * the event names (the `stripe_reference_lookup` policies).
 *
 * Order: Stripe sends events out of order and more than once, so a handler compares the object's
 * own state with what was applied, never the arrival order:
 * - an invoice moves forward only: draft < open < uncollectible < paid | void (paid and void are
 *   final), and within `open` only to a later payment attempt (attempt_count);
 * - a subscription only to the same or a later current period, and never out of `canceled`;
 * - a refund only up (Stripe's cumulative `amount_refunded`).
 * An event older than the applied state is recorded IGNORED with the reason.
 */

export interface StripeBillingDeps extends OrderIntakeDeps {
  readonly payments: PaymentPort;
}

const PROVIDER = 'stripe';
type Outcome = PaymentEventOutcome;
const ignored = (tenantId: string | null, error: string): Outcome => ({ status: 'IGNORED', tenantId, error });
const failed = (tenantId: string | null, error: string): Outcome => ({ status: 'FAILED', tenantId, error });

/**
 * The tenant whose rows recorded this Stripe reference, or null: read through the
 * `stripe_reference_lookup` policies (db/schema/rls.ts), which show only rows carrying exactly it.
 */
async function ownerOf(db: Database, kind: 'subscription' | 'payment_intent', reference: string): Promise<string | null> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${STRIPE_REFERENCE_SETTING}, ${reference}, true)`);
    if (kind === 'subscription') {
      const [row] = await tx.select({ tenantId: subscriptions.tenantId }).from(subscriptions).where(eq(subscriptions.stripeSubscriptionId, reference)).limit(1);
      return row?.tenantId ?? null;
    }
    const [payment] = await tx.select({ tenantId: payments.tenantId }).from(payments).where(and(eq(payments.source, 'STRIPE'), eq(payments.reference, reference))).limit(1);
    if (payment) return payment.tenantId;
    const [invoice] = await tx.select({ tenantId: invoices.tenantId }).from(invoices).where(eq(invoices.stripePaymentIntentId, reference)).limit(1);
    return invoice?.tenantId ?? null;
  });
}

interface Handled {
  readonly outcome: Outcome;
  readonly jobs?: readonly Job[];
}

/**
 * Runs `work` in the tenant's transaction with the event's row locked, and records its outcome in
 * that same transaction. An event another delivery already handled is answered with that outcome.
 */
async function handleInTenant(deps: StripeBillingDeps, tenantId: string, event: StripeEvent, work: (tx: Tx) => Promise<Handled>): Promise<Outcome> {
  const handled = await withTenant(deps.db, tenantId, async (tx): Promise<Handled> => {
    const [row] = await tx
      .select({ status: webhookEvents.status, error: webhookEvents.error })
      .from(webhookEvents)
      .where(and(eq(webhookEvents.provider, PROVIDER), eq(webhookEvents.eventId, event.id)))
      .for('update');
    if (row && (row.status === 'PROCESSED' || row.status === 'IGNORED')) {
      return { outcome: { status: row.status, tenantId, error: row.error ?? 'handled by a concurrent delivery of the same event' } };
    }
    const result = await work(tx);
    await tx
      .update(webhookEvents)
      .set({ status: result.outcome.status, error: result.outcome.error ?? null, tenantId, processedAt: new Date() })
      .where(and(eq(webhookEvents.provider, PROVIDER), eq(webhookEvents.eventId, event.id)));
    return result;
  });
  if (handled.jobs && handled.jobs.length > 0) await enqueue(deps.db, deps.producer, deps.logger, [...handled.jobs]);
  return handled.outcome;
}

/** Parses the event's object, or answers FAILED naming what is wrong (Stripe would resend a 4xx for days). */
function readObject<T>(event: StripeEvent, read: (object: unknown) => T): T | Outcome {
  try {
    return read(event.data.object);
  } catch (error) {
    if (error instanceof StripePayloadError) return failed(null, `data.object: ${error.message}`);
    throw error;
  }
}
const isOutcome = (value: unknown): value is Outcome => typeof value === 'object' && value !== null && 'status' in value && 'tenantId' in value;

const cause = (event: StripeEvent) => ({ paymentEventId: event.id, eventType: event.type });

async function lockStripeSubscription(tx: Tx, stripeSubscriptionId: string): Promise<Subscription | undefined> {
  const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.stripeSubscriptionId, stripeSubscriptionId)).for('update');
  return subscription;
}

// ---- customer.subscription.created | updated | deleted ----

export async function stripeSubscriptionEvent(deps: StripeBillingDeps, event: StripeEvent, actor: AuditActor): Promise<Outcome> {
  const stripe = readObject(event, (object) => subscriptionOf(object));
  if (isOutcome(stripe)) return stripe;
  const tenantId = await ownerOf(deps.db, 'subscription', stripe.id);
  // created arrives before the order its Checkout Session makes: the order records the id.
  if (!tenantId) return ignored(null, `no mPanel subscription has Stripe subscription ${stripe.id} (the order that creates it records it)`);
  return handleInTenant(deps, tenantId, event, async (tx) => {
    const subscription = await lockStripeSubscription(tx, stripe.id);
    if (!subscription) return { outcome: ignored(tenantId, `Stripe subscription ${stripe.id} is gone`) };
    if (subscription.billingMode !== 'STRIPE') return { outcome: ignored(tenantId, `subscription ${subscription.id} is billed by mPanel (MPANEL mode): Stripe's copy is not followed`) };
    const status = event.type === 'customer.subscription.deleted' ? 'canceled' : stripe.status;
    if (subscription.stripeStatus === 'canceled' && status !== 'canceled') {
      return { outcome: ignored(tenantId, `older state (${status}): the Stripe subscription is already canceled`) };
    }
    const appliedEnd = subscription.stripeCurrentPeriodEnd;
    if (appliedEnd && stripe.currentPeriodEnd && stripe.currentPeriodEnd < appliedEnd) {
      return { outcome: ignored(tenantId, `older state: period ending ${stripe.currentPeriodEnd.toISOString()}, the applied one ends ${appliedEnd.toISOString()}`) };
    }
    const cancelAtPeriodEnd = stripe.cancelAtPeriodEnd || status === 'canceled';
    const [after] = await tx
      .update(subscriptions)
      .set({
        stripeStatus: status,
        stripeCurrentPeriodEnd: stripe.currentPeriodEnd ?? appliedEnd,
        cancelAtPeriodEnd,
        ...(cancelAtPeriodEnd && !subscription.cancelAtPeriodEnd ? { cancelRequestedAt: stripe.canceledAt ?? new Date() } : {}),
      })
      .where(eq(subscriptions.id, subscription.id))
      .returning();
    await recordAudit(tx, {
      tenantId,
      actor,
      action: 'subscription.stripe_synced',
      targetType: 'subscription',
      targetId: subscription.id,
      before: { stripeStatus: subscription.stripeStatus, stripeCurrentPeriodEnd: appliedEnd?.toISOString() ?? null, cancelAtPeriodEnd: subscription.cancelAtPeriodEnd },
      after: { stripeStatus: after?.stripeStatus ?? status, stripeCurrentPeriodEnd: after?.stripeCurrentPeriodEnd?.toISOString() ?? null, cancelAtPeriodEnd },
      metadata: cause(event),
    });
    return { outcome: { status: 'PROCESSED', tenantId } };
  });
}

// ---- invoice.* ----

/** Forward order of Stripe's invoice statuses; paid and void are final and never replace each other. */
const INVOICE_RANK: Readonly<Record<StripeInvoiceStatus, number>> = { draft: 0, open: 1, uncollectible: 2, paid: 3, void: 3 };
const MIRROR_STATUS: Readonly<Record<StripeInvoiceStatus, InvoiceStatus>> = { draft: 'DRAFT', open: 'ISSUED', uncollectible: 'ISSUED', paid: 'PAID', void: 'VOID' };

function kindOf(billingReason: string | null): InvoiceKind {
  if (billingReason === 'subscription_create') return 'INITIAL';
  if (billingReason === 'subscription_cycle') return 'RENEWAL';
  if (billingReason === 'subscription_update') return 'PRORATION';
  return 'MANUAL';
}

/** Why `incoming` must not replace the applied mirror, or null when it moves it forward (or repeats it). */
function olderThanApplied(applied: Invoice, incoming: StripeInvoice): string | null {
  const appliedStatus = (applied.stripeStatus ?? 'draft') as StripeInvoiceStatus;
  const from = INVOICE_RANK[appliedStatus] ?? 0;
  const to = INVOICE_RANK[incoming.status];
  if (to < from || (to === from && to === 3 && incoming.status !== appliedStatus)) return `older state (${incoming.status}) than the applied one (${appliedStatus})`;
  if (to === from && incoming.attemptCount < (applied.stripeAttemptCount ?? 0)) {
    return `older payment attempt (${incoming.attemptCount}) than the applied one (${applied.stripeAttemptCount ?? 0})`;
  }
  return null;
}

export async function stripeInvoiceEvent(deps: StripeBillingDeps, event: StripeEvent, actor: AuditActor): Promise<Outcome> {
  let stripe = readObject(event, (object) => invoiceOf(object));
  if (isOutcome(stripe)) return stripe;
  const stripeSubscriptionId = stripe.stripeSubscriptionId;
  if (!stripeSubscriptionId) return ignored(null, `Stripe invoice ${stripe.id} is not a subscription's: mPanel mirrors the invoices of STRIPE-mode subscriptions only`);
  const tenantId = await ownerOf(deps.db, 'subscription', stripeSubscriptionId);
  if (!tenantId) return failed(null, `no mPanel subscription has Stripe subscription ${stripeSubscriptionId} yet: resend this event once its order is in`);
  if (stripe.status === 'paid' && !stripe.paymentIntentId) {
    // Webhooks do not carry the invoice's payments; the PaymentIntent is what refunds and disputes name.
    try {
      const current = await deps.payments.retrieveInvoice(stripe.id);
      if (current.paymentIntentId) stripe = { ...stripe, paymentIntentId: current.paymentIntentId };
    } catch (error) {
      if (!(error instanceof PaymentProviderError)) throw error;
      deps.logger.warn({ err: error, invoice: stripe.id }, 'Stripe invoice: its PaymentIntent could not be read; refunds of it will not be matched');
    }
  }
  const incoming = stripe;
  return handleInTenant(deps, tenantId, event, async (tx) => {
    const subscription = await lockStripeSubscription(tx, stripeSubscriptionId);
    if (!subscription) return { outcome: ignored(tenantId, `Stripe subscription ${stripeSubscriptionId} is gone`) };
    if (subscription.billingMode !== 'STRIPE') return { outcome: ignored(tenantId, `subscription ${subscription.id} is billed by mPanel (MPANEL mode): Stripe's invoices are not mirrored`) };
    const [applied] = await tx.select().from(invoices).where(eq(invoices.stripeInvoiceId, incoming.id)).for('update');
    if (applied) {
      const older = olderThanApplied(applied, incoming);
      if (older) return { outcome: ignored(tenantId, older) };
    }
    const status = MIRROR_STATUS[incoming.status];
    const mirror = {
      status,
      number: incoming.number ?? (status === 'DRAFT' ? null : incoming.id),
      currency: incoming.currency,
      subtotal: incoming.subtotal,
      taxTotal: incoming.taxTotal,
      total: incoming.total,
      amountPaid: incoming.amountPaid,
      periodStart: incoming.periodStart,
      periodEnd: incoming.periodEnd,
      dueAt: incoming.dueAt,
      issuedAt: status === 'DRAFT' ? null : (applied?.issuedAt ?? incoming.createdAt),
      paidAt: status === 'PAID' ? (incoming.paidAt ?? new Date()) : null,
      voidedAt: status === 'VOID' ? (applied?.voidedAt ?? new Date()) : null,
      stripeStatus: incoming.status,
      stripeAttemptCount: incoming.attemptCount,
      // A final invoice has no retry scheduled whatever the event says.
      stripeNextPaymentAttempt: incoming.status === 'open' ? incoming.nextPaymentAttempt : null,
      stripePaymentIntentId: incoming.paymentIntentId ?? applied?.stripePaymentIntentId ?? null,
      hostedUrl: incoming.hostedUrl,
      pdfUrl: incoming.pdfUrl,
    };
    const [invoice] = applied
      ? await tx.update(invoices).set(mirror).where(eq(invoices.id, applied.id)).returning()
      : await tx
          .insert(invoices)
          .values({ ...mirror, tenantId, customerId: subscription.customerId, subscriptionId: subscription.id, billingMode: 'STRIPE', kind: kindOf(incoming.billingReason), stripeInvoiceId: incoming.id })
          .returning();
    if (!invoice) throw new Error(`the mirror of Stripe invoice ${incoming.id} was not written`);
    await recordAudit(tx, {
      tenantId,
      actor,
      action: 'invoice.stripe_synced',
      targetType: 'invoice',
      targetId: invoice.id,
      before: applied ? { stripeStatus: applied.stripeStatus, attemptCount: applied.stripeAttemptCount } : null,
      after: { stripeStatus: incoming.status, attemptCount: incoming.attemptCount, nextPaymentAttempt: mirror.stripeNextPaymentAttempt?.toISOString() ?? null },
      metadata: { ...cause(event), stripeInvoiceId: incoming.id, number: invoice.number },
    });

    const jobs: Job[] = [];
    const now = new Date();
    const becamePaid = status === 'PAID' && applied?.status !== 'PAID';
    if (becamePaid) {
      await recordBillingEvent(tx, tenantId, invoiceEvent('invoice.paid', invoice));
      await extendToInvoicePeriod(tx, invoice, subscription, now);
      jobs.push(
        ...(await settleSubscription(tx, tenantId, subscription.id, { actor, invoiceId: invoice.id, paymentEventId: event.id, reason: `Stripe invoice ${invoice.number ?? incoming.id} paid` }, deps.maxAttempts, now)),
      );
    } else if (status === 'VOID' && applied?.status !== 'VOID') {
      await recordBillingEvent(tx, tenantId, invoiceEvent('invoice.voided', invoice));
    } else if (event.type === 'invoice.payment_failed' && incoming.status === 'open') {
      await recordEvent(tx, tenantId, {
        type: 'payment.failed',
        subject: { type: 'invoice', id: invoice.id },
        payload: {
          customerId: invoice.customerId,
          subscriptionId: subscription.id,
          invoiceId: invoice.id,
          amount: { amount: invoice.total, currency: invoice.currency },
          reason: incoming.nextPaymentAttempt ? `Stripe retries on ${incoming.nextPaymentAttempt.toISOString()}` : 'no retry scheduled',
        },
      });
      await transition(tx, { tenantId, subscriptionId: subscription.id }, 'past_due', {
        actor,
        reason: `Stripe invoice ${invoice.number ?? incoming.id}: payment attempt ${incoming.attemptCount} failed`,
        invoiceId: invoice.id,
        paymentEventId: event.id,
        rule: 'stripe.invoice.payment_failed',
      });
    }
    return { outcome: { status: 'PROCESSED', tenantId }, jobs };
  });
}

/** STRIPE mode: paidThrough moves to the paid invoice's period end, once per invoice, never back. */
async function extendToInvoicePeriod(tx: Tx, invoice: Invoice, subscription: Subscription, now: Date): Promise<void> {
  if (invoice.paidThroughAppliedAt || !invoice.periodEnd) return;
  await tx
    .update(subscriptions)
    .set({ paidThrough: sql`greatest(coalesce(${subscriptions.paidThrough}, ${invoice.periodEnd}), ${invoice.periodEnd})` })
    .where(eq(subscriptions.id, subscription.id));
  await tx.update(invoices).set({ paidThroughAppliedAt: now }).where(eq(invoices.id, invoice.id));
}

// ---- charge.refunded ----

export async function stripeRefundEvent(deps: StripeBillingDeps, event: StripeEvent, actor: AuditActor): Promise<Outcome> {
  const charge = readObject(event, (object) => chargeOf(object));
  if (isOutcome(charge)) return charge;
  const paymentIntentId = charge.paymentIntentId;
  if (!paymentIntentId) return ignored(null, `charge ${charge.id} has no PaymentIntent: not a payment mPanel recorded`);
  const tenantId = await ownerOf(deps.db, 'payment_intent', paymentIntentId);
  if (!tenantId) return ignored(null, `PaymentIntent ${paymentIntentId} paid nothing mPanel knows`);
  return handleInTenant(deps, tenantId, event, async (tx) => {
    const [payment] = await tx.select().from(payments).where(and(eq(payments.source, 'STRIPE'), eq(payments.reference, paymentIntentId)));
    if (payment) {
      // An mPanel invoice paid through Checkout: the refund becomes a credit note, for what is new
      // in Stripe's cumulative amount_refunded (an older event credits nothing).
      const prefix = `${charge.id}:`;
      const [credited] = await tx
        .select({ total: sql<number>`coalesce(sum(${creditNotes.total}), 0)::int` })
        .from(creditNotes)
        .where(and(eq(creditNotes.invoiceId, payment.invoiceId), like(creditNotes.sourceReference, `${prefix}%`)));
      const amount = charge.amountRefunded - (credited?.total ?? 0);
      if (amount <= 0) return { outcome: ignored(tenantId, `older state: ${charge.amountRefunded} refunded, ${credited?.total ?? 0} already credited`) };
      const note = await issueCreditNote(tx, tenantId, payment.invoiceId, { amount, reason: `Refunded in Stripe (charge ${charge.id}, event ${event.id})`, sourceReference: `${prefix}${charge.amountRefunded}` }, actor);
      await refunded(tx, tenantId, actor, event, payment.invoiceId, charge.amountRefunded, amount, charge.currency, note.id);
      return { outcome: { status: 'PROCESSED', tenantId } };
    }
    const [mirror] = await tx.select().from(invoices).where(eq(invoices.stripePaymentIntentId, paymentIntentId)).for('update');
    if (!mirror) return { outcome: ignored(tenantId, `PaymentIntent ${paymentIntentId}: its invoice is gone`) };
    if (charge.amountRefunded <= mirror.amountRefunded) return { outcome: ignored(tenantId, `older state: ${charge.amountRefunded} refunded, ${mirror.amountRefunded} already mirrored`) };
    await tx.update(invoices).set({ amountRefunded: charge.amountRefunded }).where(eq(invoices.id, mirror.id));
    await refunded(tx, tenantId, actor, event, mirror.id, charge.amountRefunded, charge.amountRefunded - mirror.amountRefunded, charge.currency, null);
    return { outcome: { status: 'PROCESSED', tenantId } };
  });
}

async function refunded(tx: Tx, tenantId: string, actor: AuditActor, event: StripeEvent, invoiceId: string, totalRefunded: number, amount: number, currency: string, creditNoteId: string | null) {
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, invoiceId));
  if (!invoice) return;
  await recordAudit(tx, { tenantId, actor, action: 'payment.refunded', targetType: 'invoice', targetId: invoiceId, after: { amountRefunded: totalRefunded, creditNoteId }, metadata: { ...cause(event), amount } });
  await recordEvent(tx, tenantId, {
    type: 'payment.refunded',
    subject: { type: 'invoice', id: invoiceId },
    payload: { customerId: invoice.customerId, subscriptionId: invoice.subscriptionId, invoiceId, amount: { amount, currency }, reason: `Stripe event ${event.id}` },
  });
}

// ---- charge.dispute.created | closed ----

/**
 * A dispute flags the subscription (`disputedAt`) and raises an admin alert (the `dispute.opened`
 * domain event); it suspends and terminates nothing. Closing it clears the flag (`dispute.closed`,
 * with Stripe's outcome): what to do about a lost dispute is staff's decision.
 */
export async function stripeDisputeEvent(deps: StripeBillingDeps, event: StripeEvent, actor: AuditActor): Promise<Outcome> {
  const dispute = readObject(event, (object) => disputeOf(object));
  if (isOutcome(dispute)) return dispute;
  const paymentIntentId = dispute.paymentIntentId;
  if (!paymentIntentId) return ignored(null, `dispute ${dispute.id} names no PaymentIntent`);
  const tenantId = await ownerOf(deps.db, 'payment_intent', paymentIntentId);
  if (!tenantId) return ignored(null, `PaymentIntent ${paymentIntentId} paid nothing mPanel knows`);
  const closed = event.type === 'charge.dispute.closed';
  return handleInTenant(deps, tenantId, event, async (tx) => {
    const [payment] = await tx.select({ invoiceId: payments.invoiceId }).from(payments).where(and(eq(payments.source, 'STRIPE'), eq(payments.reference, paymentIntentId)));
    const [invoice] = payment
      ? await tx.select().from(invoices).where(eq(invoices.id, payment.invoiceId))
      : await tx.select().from(invoices).where(eq(invoices.stripePaymentIntentId, paymentIntentId));
    if (!invoice) return { outcome: ignored(tenantId, `PaymentIntent ${paymentIntentId}: its invoice is gone`) };
    const subscriptionId = invoice.subscriptionId;
    if (subscriptionId) {
      const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId)).for('update');
      if (subscription) {
        if (!closed && subscription.disputedAt === null) await tx.update(subscriptions).set({ disputedAt: new Date() }).where(eq(subscriptions.id, subscriptionId));
        if (closed && subscription.disputedAt !== null) await tx.update(subscriptions).set({ disputedAt: null }).where(eq(subscriptions.id, subscriptionId));
        await recordAudit(tx, {
          tenantId,
          actor,
          action: closed ? 'subscription.dispute_closed' : 'subscription.disputed',
          targetType: 'subscription',
          targetId: subscriptionId,
          before: { disputed: subscription.disputedAt !== null },
          after: { disputed: !closed },
          metadata: { ...cause(event), disputeId: dispute.id, status: dispute.status, reason: dispute.reason, amount: dispute.amount, currency: dispute.currency },
        });
      }
    }
    await recordEvent(tx, tenantId, {
      type: closed ? 'dispute.closed' : 'dispute.opened',
      subject: subscriptionId ? { type: 'subscription', id: subscriptionId } : { type: 'invoice', id: invoice.id },
      payload: {
        subscriptionId,
        customerId: invoice.customerId,
        disputeId: dispute.id,
        amount: { amount: dispute.amount, currency: dispute.currency },
        reason: closed ? `closed: ${dispute.status} (${dispute.reason})` : dispute.reason,
      },
    });
    return { outcome: { status: 'PROCESSED', tenantId } };
  });
}

// ---- an mPanel invoice paid through Stripe Checkout ----

/** True when a Checkout Session names an mPanel invoice (portal "pay an open invoice"), not an order. */
export function namesInvoice(event: StripeEvent): boolean {
  const metadata = event.data.object.metadata;
  return typeof metadata === 'object' && metadata !== null && INVOICE_CHECKOUT_METADATA.invoiceId in metadata;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * checkout.session.completed (or async_payment_succeeded) for an mPanel invoice: the payment is
 * recorded through the payments service (source STRIPE, reference = the PaymentIntent), which is
 * idempotent on that reference, in the same transaction as the event's row.
 */
export async function invoicePaymentFromCheckout(deps: StripeBillingDeps, event: StripeEvent, actor: AuditActor): Promise<Outcome> {
  let session;
  try {
    session = checkoutSessionOf(event);
  } catch (error) {
    if (error instanceof StripePayloadError) return failed(null, error.message);
    throw error;
  }
  if (session.paymentStatus !== 'paid') return ignored(null, `The session is not paid (payment_status ${session.paymentStatus})`);
  const slug = session.metadata[INVOICE_CHECKOUT_METADATA.tenant];
  const invoiceId = session.metadata[INVOICE_CHECKOUT_METADATA.invoiceId] ?? '';
  if (!slug || !UUID.test(invoiceId)) return failed(null, `metadata.${INVOICE_CHECKOUT_METADATA.tenant} and metadata.${INVOICE_CHECKOUT_METADATA.invoiceId} must name a tenant and an invoice id`);
  if (session.amountTotal === null || !session.currency) return failed(null, 'the session has no amount_total or currency');
  let tenant: { id: string };
  try {
    tenant = await resolvePublicTenant(deps.db, slug, `metadata.${INVOICE_CHECKOUT_METADATA.tenant}`);
  } catch (error) {
    if (error instanceof AppError && (error.code === 'NOT_FOUND' || error.code === 'VALIDATION_FAILED')) return failed(null, error.message);
    throw error;
  }
  const reference = checkoutPaymentIntentOf(event.data.object) ?? session.id;
  const input = {
    invoiceId,
    source: 'STRIPE' as const,
    reference,
    amount: session.amountTotal,
    currency: session.currency.toUpperCase(),
    receivedAt: event.createdAt,
    requestHash: createHash('sha256').update(canonicalJson({ invoiceId, reference, amount: session.amountTotal, currency: session.currency.toUpperCase() })).digest('hex'),
  };
  try {
    return await handleInTenant(deps, tenant.id, event, async (tx) => {
      const applied = await applyPayment(tx, tenant.id, input, actor, deps.maxAttempts);
      return { outcome: applied.created ? { status: 'PROCESSED', tenantId: tenant.id } : ignored(tenant.id, `payment ${reference} was already recorded`), jobs: applied.jobs };
    });
  } catch (error) {
    // Not found, not payable any more (void, paid by other means), wrong currency: the event can
    // never apply as it stands. Staff see it FAILED with the reason (and refund in Stripe).
    if (error instanceof AppError && (error.code === 'NOT_FOUND' || error.code === 'CONFLICT' || error.code === 'VALIDATION_FAILED')) {
      return failed(tenant.id, `invoice ${invoiceId}: ${error.message}`);
    }
    throw error;
  }
}
