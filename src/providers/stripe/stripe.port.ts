/**
 * Stripe as the rest of mPanel sees it: our own types, never the SDK's. The SDK is imported only
 * by stripe-webhooks.ts beside this file.
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
