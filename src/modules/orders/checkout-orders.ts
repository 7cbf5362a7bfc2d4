import type { WebhookEventStatus } from '../../db/schema/index.js';
import { checkoutSessionOf } from '../../providers/stripe/stripe-webhooks.js';
import { CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED, StripePayloadError, type CheckoutSession, type StripeEvent } from '../../providers/stripe/stripe.port.js';
import { AppError, type ErrorCode } from '../../shared/errors/app-error.js';
import type { AuditActor } from '../audit/audit.service.js';
import { resolvePublicTenant } from '../tenants/tenant-resolution.js';
import { acceptOrder, type OrderIntakeDeps } from './order-intake.service.js';
import { orderBody } from './orders.types.js';

/**
 * The Checkout Session metadata that carries an order (Stripe metadata values are strings). The
 * marketing site sets them when it creates the session; everything else comes from the session:
 * customer email, name and phone from `customer_details`, payment reference = session id,
 * amount = `amount_total`, currency = `currency` (upper-cased by the order schema).
 */
export const CHECKOUT_METADATA = {
  /** Tenant slug; optional while the install has one tenant. */
  tenant: 'mpanel_tenant',
  priceId: 'mpanel_price_id',
  domain: 'mpanel_domain',
  /** Mailbox local parts, comma-separated ("info,sales"); optional. */
  mailboxes: 'mpanel_mailboxes',
} as const;

/** Where each order field comes from in the session, to name it in an error. */
const ORDER_FIELD_SOURCES: Readonly<Record<string, string>> = {
  tenant: `metadata.${CHECKOUT_METADATA.tenant}`,
  priceId: `metadata.${CHECKOUT_METADATA.priceId}`,
  domain: `metadata.${CHECKOUT_METADATA.domain}`,
  mailboxes: `metadata.${CHECKOUT_METADATA.mailboxes}`,
  'customer.email': 'customer_details.email',
  'customer.name': 'customer_details.name',
  'customer.phone': 'customer_details.phone',
  'payment.reference': 'id',
  'payment.amount': 'amount_total',
  'payment.currency': 'currency',
  'payment.stripeCustomerId': 'customer',
  'payment.stripeSubscriptionId': 'subscription',
};

function sourceOf(path: readonly PropertyKey[]): string {
  const keys = path.map(String);
  for (let length = keys.length; length > 0; length--) {
    const source = ORDER_FIELD_SOURCES[keys.slice(0, length).join('.')];
    if (source) return source;
  }
  return keys.join('.') || 'data.object';
}

/** The order the session describes, before validation (absent values stay undefined). */
function orderCandidate(session: CheckoutSession): unknown {
  const metadata = session.metadata;
  const mailboxes = metadata[CHECKOUT_METADATA.mailboxes];
  return {
    tenant: metadata[CHECKOUT_METADATA.tenant],
    customer: {
      email: session.customerEmail ?? undefined,
      name: session.customerName ?? undefined,
      phone: session.customerPhone ?? undefined,
    },
    priceId: metadata[CHECKOUT_METADATA.priceId],
    domain: metadata[CHECKOUT_METADATA.domain],
    payment: {
      provider: 'stripe',
      reference: session.id,
      amount: session.amountTotal ?? undefined,
      currency: session.currency ?? undefined,
      stripeCustomerId: session.stripeCustomerId ?? undefined,
      stripeSubscriptionId: session.stripeSubscriptionId ?? undefined,
    },
    mailboxes:
      mailboxes === undefined
        ? undefined
        : mailboxes
            .split(',')
            .map((localPart) => localPart.trim())
            .filter((localPart) => localPart.length > 0)
            .map((localPart) => ({ localPart })),
  };
}

/** Order intake's answers that mean "this event can never become an order as it stands". */
const REJECTIONS: ReadonlySet<ErrorCode> = new Set(['VALIDATION_FAILED', 'NOT_FOUND', 'CONFLICT']);

function describeRejection(error: AppError): string {
  if (error.fields.length === 0) return error.message;
  const fields = error.fields.map((field) => {
    const path = field.field.startsWith('body/') ? sourceOf(field.field.slice('body/'.length).split('/')) : field.field;
    return `${path}: ${field.message}`;
  });
  return `${error.message} (${fields.join('; ')})`;
}

/** What became of a payment event, for its webhook_events row. */
export interface PaymentEventOutcome {
  status: Exclude<WebhookEventStatus, 'RECEIVED'>;
  tenantId: string | null;
  orderId?: string;
  error?: string;
}

/** A paid Checkout Session becomes an order through the same path as POST /api/orders. */
export async function orderFromCheckout(deps: OrderIntakeDeps, event: StripeEvent, actor: AuditActor): Promise<PaymentEventOutcome> {
  let session: CheckoutSession;
  try {
    session = checkoutSessionOf(event);
  } catch (error) {
    if (error instanceof StripePayloadError) return { status: 'FAILED', tenantId: null, error: error.message };
    throw error;
  }
  if (session.paymentStatus === 'unpaid') {
    return {
      status: 'IGNORED',
      tenantId: null,
      error: `The session is not paid yet (payment_status unpaid): the order is made on ${CHECKOUT_SESSION_ASYNC_PAYMENT_SUCCEEDED}`,
    };
  }

  const parsed = orderBody.safeParse(orderCandidate(session));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${sourceOf(issue.path)}: ${issue.message}`);
    return { status: 'FAILED', tenantId: null, error: `The session does not describe a valid order: ${issues.join('; ')}` };
  }

  let tenantId: string | null = null;
  try {
    tenantId = (await resolvePublicTenant(deps.db, parsed.data.tenant, `metadata.${CHECKOUT_METADATA.tenant}`)).id;
    const result = await acceptOrder(deps, parsed.data, actor);
    return { status: 'PROCESSED', tenantId, orderId: result.body.orderId };
  } catch (error) {
    if (!(error instanceof AppError) || !REJECTIONS.has(error.code)) throw error;
    if (error.code === 'CONFLICT' && error.fields.some((field) => field.field === 'body/payment/reference')) {
      // The marketing site already sent this payment (with details of its own): that order stands.
      return { status: 'IGNORED', tenantId, error: 'An order for this Checkout Session already exists (received from the marketing site)' };
    }
    return { status: 'FAILED', tenantId, error: describeRejection(error) };
  }
}
