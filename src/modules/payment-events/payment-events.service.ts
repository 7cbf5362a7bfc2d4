import { and, eq, inArray } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { webhookEvents, type WebhookEventStatus } from '../../db/schema/index.js';
import { CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED, CHECKOUT_SESSION_COMPLETED, type StripeEvent } from '../../providers/stripe/stripe.port.js';
import type { AuditActor } from '../audit/audit.service.js';
import { orderFromCheckout, type PaymentEventOutcome } from '../orders/checkout-orders.js';
import { invoicePaymentFromCheckout, namesInvoice, stripeDisputeEvent, stripeInvoiceEvent, stripeRefundEvent, stripeSubscriptionEvent, type StripeBillingDeps } from './stripe-billing.js';
import type { StripeWebhookReply } from './payment-events.types.js';

const PROVIDER = 'stripe';

export interface StripeEventDeps extends StripeBillingDeps {
  /** The configured mode (STRIPE_LIVEMODE): events of the other mode are ignored. */
  livemode: boolean;
}

type PaymentEventHandler = (deps: StripeBillingDeps, event: StripeEvent, actor: AuditActor) => Promise<PaymentEventOutcome>;

/** A paid Checkout Session is an order (marketing site), or the payment of an mPanel invoice (portal). */
const checkoutCompleted: PaymentEventHandler = (deps, event, actor) => (namesInvoice(event) ? invoicePaymentFromCheckout(deps, event, actor) : orderFromCheckout(deps, event, actor));

/** The event types mPanel acts on, each with the feature that handles it; any other is acknowledged and IGNORED. */
const handlers: Readonly<Record<string, PaymentEventHandler>> = {
  [CHECKOUT_SESSION_COMPLETED]: checkoutCompleted,
  [CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED]: checkoutCompleted,
  'customer.subscription.created': stripeSubscriptionEvent,
  'customer.subscription.updated': stripeSubscriptionEvent,
  'customer.subscription.deleted': stripeSubscriptionEvent,
  'invoice.created': stripeInvoiceEvent,
  'invoice.finalized': stripeInvoiceEvent,
  'invoice.paid': stripeInvoiceEvent,
  'invoice.payment_failed': stripeInvoiceEvent,
  'invoice.payment_action_required': stripeInvoiceEvent,
  'invoice.voided': stripeInvoiceEvent,
  'invoice.marked_uncollectible': stripeInvoiceEvent,
  'charge.refunded': stripeRefundEvent,
  'charge.dispute.created': stripeDisputeEvent,
  'charge.dispute.closed': stripeDisputeEvent,
};

async function handleEvent(deps: StripeEventDeps, event: StripeEvent, actor: AuditActor): Promise<PaymentEventOutcome> {
  if (event.livemode !== deps.livemode) {
    // Signed with our secret, so not forged; a test-mode event on a live install (or the reverse)
    // must never become a paid order. 200: Stripe would resend a refusal for days.
    const mode = (live: boolean) => (live ? 'live' : 'test');
    return { status: 'IGNORED', tenantId: null, error: `a ${mode(event.livemode)}-mode event; this install takes ${mode(deps.livemode)}-mode events (STRIPE_LIVEMODE)` };
  }
  const handler = Object.hasOwn(handlers, event.type) ? handlers[event.type] : undefined;
  return handler ? handler(deps, event, actor) : { status: 'IGNORED', tenantId: null };
}

/** Stores the event; returns the earlier row when this event id was already received. */
async function storeEvent(db: Database, event: StripeEvent): Promise<{ status: WebhookEventStatus; error: string | null } | undefined> {
  const [inserted] = await db
    .insert(webhookEvents)
    .values({ provider: PROVIDER, eventId: event.id, type: event.type, payload: event.raw })
    .onConflictDoNothing({ target: [webhookEvents.provider, webhookEvents.eventId] })
    .returning({ id: webhookEvents.id });
  if (inserted) return undefined;
  const [existing] = await db
    .select({ status: webhookEvents.status, error: webhookEvents.error })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.provider, PROVIDER), eq(webhookEvents.eventId, event.id)));
  if (!existing) throw new Error(`webhook event ${event.id} conflicted on insert but cannot be read`);
  return existing;
}

/**
 * POST /api/webhooks/stripe, after the signature check. Every event is stored in webhook_events,
 * de-duplicated by event id:
 * - PROCESSED or IGNORED before: a duplicate delivery, answered 200 and not handled again.
 * - RECEIVED: an earlier delivery did not finish (crash, 500, or running right now); handled
 *   again, which is safe because order intake is idempotent on the session id.
 * - FAILED: handled again. Stripe does not redeliver a 2xx on its own, so this is someone
 *   resending the event after fixing its cause (a price, a tenant); it may succeed now.
 *
 * An event of the other Stripe mode than the install's (`livemode`, STRIPE_LIVEMODE) is recorded
 * IGNORED with the reason and answered 200: it never becomes an order.
 *
 * An event that cannot become an order (bad metadata, unknown price, amount mismatch, domain
 * taken...) is marked FAILED with the reason and answered 200, not 4xx: Stripe retries non-2xx
 * answers for days, and the same event would fail the same way each time. The reason is in the
 * webhook_events row and in the reply (which Stripe's dashboard shows). Only unexpected errors
 * (database down...) answer 5xx, so that Stripe retries them.
 */
export async function receiveStripeEvent(deps: StripeEventDeps, event: StripeEvent, actor: AuditActor): Promise<StripeWebhookReply> {
  const earlier = await storeEvent(deps.db, event);
  if (earlier && (earlier.status === 'PROCESSED' || earlier.status === 'IGNORED')) {
    deps.logger.info({ eventId: event.id, type: event.type, status: earlier.status }, 'duplicate Stripe event ignored');
    return { received: true, duplicate: true, status: earlier.status, ...(earlier.error === null ? {} : { error: earlier.error }) };
  }

  const outcome = await handleEvent(deps, event, actor);
  await deps.db
    .update(webhookEvents)
    .set({ status: outcome.status, error: outcome.error ?? null, tenantId: outcome.tenantId, processedAt: new Date() })
    .where(and(eq(webhookEvents.provider, PROVIDER), eq(webhookEvents.eventId, event.id), inArray(webhookEvents.status, ['RECEIVED', 'FAILED'])));

  const log = { eventId: event.id, type: event.type, status: outcome.status, orderId: outcome.orderId, error: outcome.error };
  if (outcome.status === 'FAILED') deps.logger.warn(log, `Stripe event ${event.id} FAILED: ${outcome.error ?? ''}`);
  else deps.logger.info(log, `Stripe event ${event.id} ${outcome.status}`);
  return {
    received: true,
    duplicate: false,
    status: outcome.status,
    ...(outcome.orderId === undefined ? {} : { orderId: outcome.orderId }),
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
  };
}
