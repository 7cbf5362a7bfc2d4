import Stripe from 'stripe';

/**
 * A valid Stripe-Signature header for `payload`, made by the SDK's own test helper (the API
 * verifies it with the same SDK, providers/stripe/stripe-webhooks.ts).
 */
export function stripeTestSignatureHeader(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp === undefined ? {} : { timestamp }) });
}
