import { z } from 'zod';
import { AppError } from '../../shared/errors/app-error.js';
import { StripePayloadError, type CheckoutSession, type StripeEvent } from './stripe.port.js';

export const STRIPE_SIGNATURE_HEADER = 'stripe-signature';
/** The SDK's default tolerance for the signature's timestamp. */
export const STRIPE_SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * The checks on Stripe-Signature that need no body (`t=<unix seconds>,v1=<hex>[,v1=...][,v0=...]`):
 * present, with a timestamp and at least one v1 signature, the timestamp within the tolerance.
 * Run before the body is read; verifyStripeEvent then checks the HMAC with the SDK. Other
 * schemes (v0, future ones) are ignored, as the SDK ignores them.
 */
export function checkStripeSignatureHeader(header: string | undefined, nowSeconds = Date.now() / 1000): void {
  if (!header) throw new AppError('BAD_REQUEST', 'Invalid Stripe-Signature: the header is missing');
  let timestamp: number | undefined;
  let signatures = 0;
  for (const item of header.split(',')) {
    const [key, value] = item.trim().split('=', 2);
    if (key === 't' && value !== undefined && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value)) signatures += 1;
  }
  if (timestamp === undefined || signatures === 0) throw new AppError('BAD_REQUEST', 'Invalid Stripe-Signature: expected t=<unix seconds>,v1=<hex>');
  if (Math.abs(nowSeconds - timestamp) > STRIPE_SIGNATURE_TOLERANCE_SECONDS) {
    throw new AppError('BAD_REQUEST', `Invalid Stripe-Signature: the timestamp is more than ${STRIPE_SIGNATURE_TOLERANCE_SECONDS} s from now`);
  }
}

const eventEnvelope = z.looseObject({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
  created: z.number().int(),
  livemode: z.boolean(),
  data: z.looseObject({ object: z.record(z.string(), z.unknown()) }),
});

/**
 * Verifies a webhook delivery with the SDK (HMAC over the exact bytes received, timestamp within
 * the SDK's 300 s tolerance) and returns it in our own type. A missing or wrong signature is a
 * 400, as Stripe expects; nothing about the body is trusted before this returns.
 */
export async function verifyStripeEvent(rawBody: Buffer | undefined, signatureHeader: string | undefined, secret: string): Promise<StripeEvent> {
  if (!signatureHeader) throw new AppError('BAD_REQUEST', 'Invalid Stripe-Signature: the header is missing');
  if (!rawBody) throw new AppError('BAD_REQUEST', 'Invalid Stripe-Signature: the request has no JSON body');
  // The SDK is loaded at the first delivery, not at start-up: it is ~21 MB of the API's RSS.
  const { default: Stripe } = await import('stripe');
  let verified: unknown;
  try {
    verified = Stripe.webhooks.constructEvent(rawBody, signatureHeader, secret, STRIPE_SIGNATURE_TOLERANCE_SECONDS);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
      throw new AppError('BAD_REQUEST', 'Invalid Stripe-Signature: it does not match the body, or its timestamp is too old', { cause: error });
    }
    throw error;
  }
  const envelope = eventEnvelope.safeParse(verified);
  if (!envelope.success) {
    // Signed by Stripe but not an event: nothing to store under an event id.
    throw new AppError('BAD_REQUEST', `The signed body is not a Stripe event: ${z.prettifyError(envelope.error)}`);
  }
  // The event is stored as jsonb: serialising it recurses once per level, and thousands of levels
  // overflow the stack (a 500, which Stripe would retry for days). No Stripe object comes close.
  if (exceedsDepth(verified, MAX_EVENT_DEPTH)) {
    throw new AppError('BAD_REQUEST', `The signed body is not a Stripe event: nested deeper than ${MAX_EVENT_DEPTH} levels`);
  }
  const event = envelope.data;
  return { id: event.id, type: event.type, createdAt: new Date(event.created * 1000), livemode: event.livemode, data: { object: event.data.object }, raw: event };
}

const MAX_EVENT_DEPTH = 64;

/** True when `value` nests objects or arrays deeper than `limit`; walks without recursion. */
function exceedsDepth(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [node, depth] = next;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return false;
}

/** An expandable Stripe reference: an id, or the expanded object carrying it. */
const expandable = z
  .union([z.string(), z.looseObject({ id: z.string() })])
  .nullish()
  .transform((value) => (value == null ? null : typeof value === 'string' ? value : value.id));

const checkoutSessionObject = z.looseObject({
  object: z.literal('checkout.session'),
  id: z.string().min(1),
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']),
  amount_total: z.number().int().nullish(),
  currency: z.string().nullish(),
  customer: expandable,
  customer_email: z.string().nullish(),
  customer_details: z.looseObject({ email: z.string().nullish(), name: z.string().nullish(), phone: z.string().nullish() }).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  subscription: expandable,
});

/** The Checkout Session of a `checkout.session.*` event; StripePayloadError when it is not one. */
export function checkoutSessionOf(event: StripeEvent): CheckoutSession {
  const parsed = checkoutSessionObject.safeParse(event.data.object);
  if (!parsed.success) throw new StripePayloadError(`data.object is not a Checkout Session: ${z.prettifyError(parsed.error)}`);
  const session = parsed.data;
  return {
    id: session.id,
    paymentStatus: session.payment_status,
    amountTotal: session.amount_total ?? null,
    currency: session.currency ?? null,
    customerEmail: session.customer_details?.email ?? session.customer_email ?? null,
    customerName: session.customer_details?.name ?? null,
    customerPhone: session.customer_details?.phone ?? null,
    stripeCustomerId: session.customer,
    stripeSubscriptionId: session.subscription,
    metadata: session.metadata ?? {},
  };
}
