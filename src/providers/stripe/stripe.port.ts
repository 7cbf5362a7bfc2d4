/**
 * Stripe as the rest of mPanel sees it: our own types, never the SDK's. The SDK is imported only
 * by stripe-webhooks.ts (signatures) and stripe-payments.ts (API calls) beside this file; Stripe's
 * objects are read into these types by stripe-objects.ts.
 */

/** A verified webhook event. `data.object` is the Stripe object the event is about, unparsed. */
export interface StripeEvent {
  readonly id: string;
  readonly type: string;
  readonly createdAt: Date;
  readonly livemode: boolean;
  readonly data: { readonly object: Readonly<Record<string, unknown>> };
  /** The event exactly as Stripe sent it (parsed JSON), for storage. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** The event types that carry a paid (or payable) Checkout Session. */
export const CHECKOUT_SESSION_COMPLETED = 'checkout.session.completed';
export const CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED = 'checkout.session.async_payment_succeeded';

export type CheckoutPaymentStatus = 'paid' | 'unpaid' | 'no_payment_required';

/** What mPanel reads from a Checkout Session. Amounts are minor units; `currency` as Stripe sends it. */
export interface CheckoutSession {
  readonly id: string;
  readonly paymentStatus: CheckoutPaymentStatus;
  readonly amountTotal: number | null;
  readonly currency: string | null;
  readonly customerEmail: string | null;
  readonly customerName: string | null;
  readonly customerPhone: string | null;
  readonly stripeCustomerId: string | null;
  readonly stripeSubscriptionId: string | null;
  /** Stripe metadata: string keys and string values only. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** A verified event whose object is not what its type promises (or not what mPanel can read). */
export class StripePayloadError extends Error {
  override name = 'StripePayloadError';
}

// The payment port: what mPanel asks Stripe (issue 16). The adapter (stripe-payments.ts) is built
// on the SDK and pointed at STRIPE_API_BASE; tests point it at a loopback stand-in.

/** Stripe's invoice status (`null` on a deleted draft), and any status a newer API adds. */
export type StripeInvoiceStatus = 'draft' | 'open' | 'paid' | 'uncollectible' | 'void';

/** What mPanel reads from a Stripe invoice. Amounts are minor units; times are Dates. */
export interface StripeInvoice {
  readonly id: string;
  readonly status: StripeInvoiceStatus;
  readonly number: string | null;
  /** Upper case, e.g. EUR. */
  readonly currency: string;
  readonly subtotal: number;
  readonly taxTotal: number;
  readonly total: number;
  readonly amountPaid: number;
  /** The service period it bills: the subscription lines' period when it has some, else the invoice's own. */
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly dueAt: Date | null;
  readonly createdAt: Date;
  readonly paidAt: Date | null;
  readonly attemptCount: number;
  /** The next automatic retry Stripe has scheduled; null when none (no suspension while one is). */
  readonly nextPaymentAttempt: Date | null;
  readonly billingReason: string | null;
  readonly stripeSubscriptionId: string | null;
  readonly stripeCustomerId: string | null;
  /** The PaymentIntent that paid it, when known (the `payments` list, expanded on retrieve). */
  readonly paymentIntentId: string | null;
  readonly hostedUrl: string | null;
  readonly pdfUrl: string | null;
}

export type StripeSubscriptionStatus = 'incomplete' | 'incomplete_expired' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid' | 'paused';

/** What mPanel reads from a Stripe subscription. */
export interface StripeSubscription {
  readonly id: string;
  readonly status: StripeSubscriptionStatus;
  readonly stripeCustomerId: string | null;
  /** The latest of its items' current periods (the API has periods per item). */
  readonly currentPeriodEnd: Date | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAt: Date | null;
}

/** A hosted payment page (Stripe Checkout, mode payment) for one mPanel invoice. */
export interface InvoiceCheckoutRequest {
  readonly tenantSlug: string;
  readonly tenantId: string;
  readonly invoiceId: string;
  readonly invoiceNumber: string;
  /** Minor units still due, and the currency (upper case). */
  readonly amount: number;
  readonly currency: string;
  readonly customerEmail: string;
  readonly stripeCustomerId: string | null;
  readonly successUrl: string;
  readonly cancelUrl: string;
  /** Sent as Stripe's Idempotency-Key: the same request twice gives one session. */
  readonly idempotencyKey: string;
}

export interface HostedCheckout {
  readonly sessionId: string;
  readonly url: string;
  readonly expiresAt: Date | null;
}

/** Stripe answered with an error (4xx/5xx) or could not be reached: the caller decides (a 502 to a customer). */
export class PaymentProviderError extends Error {
  override name = 'PaymentProviderError';
  constructor(
    message: string,
    readonly status: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PaymentPort {
  retrieveSubscription(id: string): Promise<StripeSubscription>;
  retrieveInvoice(id: string): Promise<StripeInvoice>;
  createInvoiceCheckout(request: InvoiceCheckoutRequest): Promise<HostedCheckout>;
}

/** Checkout Session metadata naming the mPanel invoice a payment is for (set by createInvoiceCheckout). */
export const INVOICE_CHECKOUT_METADATA = {
  tenant: 'mpanel_tenant',
  invoiceId: 'mpanel_invoice_id',
} as const;
