import { z } from 'zod';
import { StripePayloadError, type StripeInvoice, type StripeInvoiceStatus, type StripeSubscription, type StripeSubscriptionStatus } from './stripe.port.js';

/**
 * Stripe's objects read into our own types, from an event's `data.object` or an API answer alike.
 * Loose: Stripe adds fields with every API version; only what mPanel uses is checked. Fields that
 * moved between API versions are read from both places (an invoice's subscription is
 * `parent.subscription_details.subscription` since 2025-03, `subscription` before; a subscription's
 * period is per item since then).
 */

/** An expandable Stripe reference: an id, or the expanded object carrying it. */
const expandable = z
  .union([z.string(), z.looseObject({ id: z.string() })])
  .nullish()
  .transform((value) => (value == null ? null : typeof value === 'string' ? value : value.id));

const unixTime = z.number().int().nonnegative();
const toDate = (seconds: number) => new Date(seconds * 1000);
const optionalDate = (seconds: number | null | undefined) => (seconds == null ? null : toDate(seconds));

const invoiceStatuses = ['draft', 'open', 'paid', 'uncollectible', 'void'] as const satisfies readonly StripeInvoiceStatus[];
const subscriptionStatuses = ['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'] as const satisfies readonly StripeSubscriptionStatus[];

const invoiceObject = z.looseObject({
  object: z.literal('invoice'),
  id: z.string().min(1),
  status: z.enum(invoiceStatuses),
  number: z.string().nullish(),
  currency: z.string().regex(/^[a-zA-Z]{3}$/),
  total: z.number().int(),
  amount_paid: z.number().int().nullish(),
  total_taxes: z.array(z.looseObject({ amount: z.number().int() })).nullish(),
  tax: z.number().int().nullish(),
  period_start: unixTime,
  period_end: unixTime,
  due_date: unixTime.nullish(),
  created: unixTime,
  status_transitions: z.looseObject({ paid_at: unixTime.nullish() }).nullish(),
  attempt_count: z.number().int().nonnegative().nullish(),
  next_payment_attempt: unixTime.nullish(),
  billing_reason: z.string().nullish(),
  customer: expandable,
  subscription: expandable,
  parent: z.looseObject({ subscription_details: z.looseObject({ subscription: expandable }).nullish() }).nullish(),
  lines: z.looseObject({ data: z.array(z.looseObject({ period: z.looseObject({ start: unixTime, end: unixTime }).nullish() })) }).nullish(),
  payments: z
    .looseObject({
      data: z.array(z.looseObject({ status: z.string().nullish(), payment: z.looseObject({ payment_intent: expandable }).nullish() })),
    })
    .nullish(),
  payment_intent: expandable,
  hosted_invoice_url: z.string().nullish(),
  invoice_pdf: z.string().nullish(),
});

function parse<T extends z.ZodType>(schema: T, object: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(object);
  if (!parsed.success) throw new StripePayloadError(`not a Stripe ${what} mPanel can read: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** A Stripe invoice; StripePayloadError when the object is not one (or of a status mPanel does not know). */
export function invoiceOf(object: unknown): StripeInvoice {
  const invoice = parse(invoiceObject, object, 'invoice');
  const periods = (invoice.lines?.data ?? []).flatMap((line) => (line.period ? [line.period] : []));
  // The service period: a subscription invoice's own period_start/end is the period *before* it
  // (usage), its lines carry the period it bills.
  const periodStart = periods.length > 0 ? Math.min(...periods.map((period) => period.start)) : invoice.period_start;
  const periodEnd = periods.length > 0 ? Math.max(...periods.map((period) => period.end)) : invoice.period_end;
  const taxTotal = invoice.total_taxes ? invoice.total_taxes.reduce((sum, tax) => sum + tax.amount, 0) : (invoice.tax ?? 0);
  const paidPayment = invoice.payments?.data.find((payment) => payment.status === 'paid') ?? invoice.payments?.data[0];
  return {
    id: invoice.id,
    status: invoice.status,
    number: invoice.number ?? null,
    currency: invoice.currency.toUpperCase(),
    // Our invoices keep total = subtotal + tax; Stripe's subtotal is before discounts, so the
    // mirror's subtotal is the total without tax (net of discounts).
    subtotal: invoice.total - taxTotal,
    taxTotal,
    total: invoice.total,
    amountPaid: invoice.amount_paid ?? 0,
    periodStart: toDate(periodStart),
    periodEnd: toDate(periodEnd),
    dueAt: optionalDate(invoice.due_date),
    createdAt: toDate(invoice.created),
    paidAt: optionalDate(invoice.status_transitions?.paid_at),
    attemptCount: invoice.attempt_count ?? 0,
    nextPaymentAttempt: optionalDate(invoice.next_payment_attempt),
    billingReason: invoice.billing_reason ?? null,
    stripeSubscriptionId: invoice.parent?.subscription_details?.subscription ?? invoice.subscription,
    stripeCustomerId: invoice.customer,
    paymentIntentId: paidPayment?.payment?.payment_intent ?? invoice.payment_intent,
    hostedUrl: invoice.hosted_invoice_url ?? null,
    pdfUrl: invoice.invoice_pdf ?? null,
  };
}

const subscriptionObject = z.looseObject({
  object: z.literal('subscription'),
  id: z.string().min(1),
  status: z.enum(subscriptionStatuses),
  customer: expandable,
  current_period_end: unixTime.nullish(),
  items: z.looseObject({ data: z.array(z.looseObject({ current_period_end: unixTime.nullish() })) }).nullish(),
  cancel_at_period_end: z.boolean().nullish(),
  canceled_at: unixTime.nullish(),
});

/** A Stripe subscription; StripePayloadError when the object is not one. */
export function subscriptionOf(object: unknown): StripeSubscription {
  const subscription = parse(subscriptionObject, object, 'subscription');
  const ends = (subscription.items?.data ?? []).flatMap((item) => (item.current_period_end == null ? [] : [item.current_period_end]));
  const end = ends.length > 0 ? Math.max(...ends) : subscription.current_period_end;
  return {
    id: subscription.id,
    status: subscription.status,
    stripeCustomerId: subscription.customer,
    currentPeriodEnd: optionalDate(end),
    cancelAtPeriodEnd: subscription.cancel_at_period_end ?? false,
    canceledAt: optionalDate(subscription.canceled_at),
  };
}

/** What mPanel reads from a charge (refunds). */
export interface StripeCharge {
  readonly id: string;
  readonly paymentIntentId: string | null;
  readonly amount: number;
  readonly amountRefunded: number;
  readonly currency: string;
  /** The charge's refunds (ids) as Stripe lists them. */
  readonly refundIds: readonly string[];
}

const chargeObject = z.looseObject({
  object: z.literal('charge'),
  id: z.string().min(1),
  payment_intent: expandable,
  amount: z.number().int().nonnegative(),
  amount_refunded: z.number().int().nonnegative(),
  currency: z.string().regex(/^[a-zA-Z]{3}$/),
  refunds: z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) }).nullish(),
});

export function chargeOf(object: unknown): StripeCharge {
  const charge = parse(chargeObject, object, 'charge');
  return {
    id: charge.id,
    paymentIntentId: charge.payment_intent,
    amount: charge.amount,
    amountRefunded: charge.amount_refunded,
    currency: charge.currency.toUpperCase(),
    refundIds: (charge.refunds?.data ?? []).map((refund) => refund.id),
  };
}

/** What mPanel reads from a dispute (chargeback). */
export interface StripeDispute {
  readonly id: string;
  readonly chargeId: string | null;
  readonly paymentIntentId: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly status: string;
  readonly reason: string;
}

const disputeObject = z.looseObject({
  object: z.literal('dispute'),
  id: z.string().min(1),
  charge: expandable,
  payment_intent: expandable,
  amount: z.number().int().nonnegative(),
  currency: z.string().regex(/^[a-zA-Z]{3}$/),
  status: z.string().min(1),
  reason: z.string().nullish(),
});

export function disputeOf(object: unknown): StripeDispute {
  const dispute = parse(disputeObject, object, 'dispute');
  return {
    id: dispute.id,
    chargeId: dispute.charge,
    paymentIntentId: dispute.payment_intent,
    amount: dispute.amount,
    currency: dispute.currency.toUpperCase(),
    status: dispute.status,
    reason: dispute.reason ?? 'unknown',
  };
}

/** The PaymentIntent of a Checkout Session (raw object): the reference of the payment it made. */
export function checkoutPaymentIntentOf(object: unknown): string | null {
  const parsed = z.looseObject({ payment_intent: expandable }).safeParse(object);
  return parsed.success ? parsed.data.payment_intent : null;
}
