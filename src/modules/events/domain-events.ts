import { z } from 'zod';
import { domainEvents, type DomainEventRow } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';

/**
 * The catalogue of domain events: what mPanel tells people (email) and the tenant's systems
 * (webhooks) about. Each type has a versioned payload schema; receivers switch on (type, version).
 * A payload carries ids and the few facts a message needs, never a secret. Changing a payload in
 * a way a receiver would notice means a new version, not an edit.
 *
 * Events are written by `recordEvent()` in the transaction of the change that caused them (the
 * outbox); nothing is sent from a transaction. Subscription events are recorded by the state
 * machine itself (modules/subscriptions/subscription-state.ts), so no caller can forget one.
 */
const id = z.uuid();
const money = z.strictObject({ amount: z.number().int(), currency: z.string().length(3) });
const isoTime = z.iso.datetime({ offset: true });

const subscriptionChange = z.strictObject({
  subscriptionId: id,
  customerId: id,
  productId: id,
  from: z.string(),
  to: z.string(),
  reason: z.string(),
  jobId: id.optional(),
  jobType: z.string().optional(),
  invoiceId: id.optional(),
  paymentEventId: z.string().optional(),
  rule: z.string().optional(),
});

const invoiceFacts = z.strictObject({
  invoiceId: id,
  customerId: id,
  subscriptionId: id.nullable(),
  number: z.string().nullable(),
  total: money,
  dueAt: isoTime.nullable(),
});

const paymentFacts = z.strictObject({
  customerId: id,
  subscriptionId: id.nullable(),
  invoiceId: id.nullable(),
  amount: money,
  reason: z.string().optional(),
});

const disputeFacts = z.strictObject({
  subscriptionId: id.nullable(),
  customerId: id.nullable(),
  disputeId: z.string(),
  amount: money,
  reason: z.string(),
});

const certificateFacts = z.strictObject({
  certificateId: id,
  subscriptionId: id.nullable(),
  names: z.array(z.string()).min(1),
  notAfter: isoTime.nullable(),
  error: z.string().optional(),
});

export const domainEventCatalogue = {
  'order.received': z.strictObject({
    orderId: id,
    subscriptionId: id,
    customerId: id,
    domain: z.string(),
    amount: money,
    steps: z.array(z.string()),
  }),
  'subscription.activated': subscriptionChange,
  'subscription.failed': subscriptionChange,
  'subscription.suspended': subscriptionChange,
  'subscription.unsuspended': subscriptionChange,
  'subscription.terminated': subscriptionChange,
  'subscription.past_due': subscriptionChange,
  'subscription.recovered': subscriptionChange,
  /** A new plan (price) took effect: an upgrade at once (with its proration invoice), a downgrade at the end of the paid period. */
  'subscription.plan_changed': z.strictObject({
    subscriptionId: id,
    customerId: id,
    fromPriceId: id,
    toPriceId: id,
    fromProductId: id,
    toProductId: id,
    fromProductName: z.string(),
    toProductName: z.string(),
    fromAmount: money,
    toAmount: money,
    kind: z.enum(['upgrade', 'downgrade', 'same_price']),
    effectiveAt: isoTime,
    invoiceId: id.nullable(),
    reason: z.string(),
  }),
  'invoice.issued': invoiceFacts,
  'invoice.paid': invoiceFacts,
  'invoice.reminder': invoiceFacts,
  /** An overdue notice of the billing run; the service is suspended at `suspendAt` if the invoice is still unpaid. */
  'invoice.overdue': invoiceFacts.extend({ suspendAt: isoTime }),
  /** The billing run's warning before a termination for non-payment (when the tenant turned terminations on). */
  'invoice.termination_warning': invoiceFacts.extend({ terminateAt: isoTime }),
  'invoice.voided': invoiceFacts,
  'payment.failed': paymentFacts,
  'payment.refunded': paymentFacts,
  'dispute.opened': disputeFacts,
  'dispute.closed': disputeFacts,
  'certificate.issued': certificateFacts,
  'certificate.renewed': certificateFacts,
  'certificate.failed': certificateFacts,
  /** Close to notAfter and still not renewed (renewals failing, or no worker taking them): staff must act. */
  'certificate.expiring': certificateFacts,
  'mailbox.created': z.strictObject({ mailboxId: id, subscriptionId: id.nullable(), address: z.string() }),
  'job.failed': z.strictObject({
    jobId: id,
    jobType: z.string(),
    subscriptionId: id.nullable(),
    orderId: id.nullable(),
    attempts: z.number().int(),
    error: z.string(),
  }),
  /** An endpoint whose deliveries kept failing for WEBHOOK_DISABLE_AFTER was disabled (modules/events/webhook-deliveries.ts). */
  'webhook_endpoint.disabled': z.strictObject({
    endpointId: id,
    url: z.string(),
    failingSince: isoTime,
    error: z.string(),
  }),
} as const satisfies Record<string, z.ZodType<Record<string, unknown>>>;

export type DomainEventType = keyof typeof domainEventCatalogue;
export const domainEventTypes = Object.keys(domainEventCatalogue) as DomainEventType[];

/** Every payload is version 1 today; bump per type when its schema changes incompatibly. */
export const DOMAIN_EVENT_VERSION = 1;

export type DomainEventPayload<T extends DomainEventType> = z.input<(typeof domainEventCatalogue)[T]>;

/** One event to record: its type, what it is about, and its payload (checked against the catalogue). */
export type DomainEvent = {
  [T in DomainEventType]: {
    readonly type: T;
    readonly subject: { readonly type: string; readonly id: string };
    readonly payload: DomainEventPayload<T>;
  };
}[DomainEventType];

/**
 * Writes one event to the outbox in the caller's transaction. The payload is parsed against the
 * catalogue: a wrong payload is a programming error and aborts the transaction, so an event is
 * never delivered in a shape its schema does not promise.
 */
export async function recordEvent(tx: Tx, tenantId: string, event: DomainEvent): Promise<DomainEventRow> {
  const [row] = await tx.insert(domainEvents).values(eventRow(tenantId, event)).returning();
  if (!row) throw new Error('insert into domain_events returned no row');
  return row;
}

/** Several events in one statement, each parsed like recordEvent's; their `seq` (delivery order) is the order given. */
export async function recordEvents(tx: Tx, tenantId: string, events: readonly DomainEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(domainEvents).values(events.map((event) => eventRow(tenantId, event)));
}

function eventRow(tenantId: string, event: DomainEvent): typeof domainEvents.$inferInsert {
  return {
    tenantId,
    type: event.type,
    version: DOMAIN_EVENT_VERSION,
    subjectType: event.subject.type,
    subjectId: event.subject.id,
    payload: domainEventCatalogue[event.type].parse(event.payload),
  };
}
