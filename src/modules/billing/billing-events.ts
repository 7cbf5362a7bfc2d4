import type { Invoice } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import { recordEvent, recordEvents, type DomainEvent } from '../events/domain-events.js';

/**
 * Billing's domain events, written to the outbox (modules/events) in the transaction of the change
 * that causes them: nothing is sent from a transaction. Subscription events are recorded by the
 * state machine itself.
 */
type InvoiceEventType = 'invoice.issued' | 'invoice.paid' | 'invoice.reminder' | 'invoice.voided';

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

export function invoiceEvent(type: InvoiceEventType, invoice: Invoice): DomainEvent {
  return { type, subject: { type: 'invoice', id: invoice.id }, payload: invoiceFacts(invoice) };
}

/** An overdue notice, with when the service is suspended if the invoice stays unpaid. */
export function overdueEvent(invoice: Invoice, suspendAt: Date): DomainEvent {
  return { type: 'invoice.overdue', subject: { type: 'invoice', id: invoice.id }, payload: { ...invoiceFacts(invoice), suspendAt: suspendAt.toISOString() } };
}

/** The warning before a termination for non-payment, with its date. */
export function terminationWarningEvent(invoice: Invoice, terminateAt: Date): DomainEvent {
  return { type: 'invoice.termination_warning', subject: { type: 'invoice', id: invoice.id }, payload: { ...invoiceFacts(invoice), terminateAt: terminateAt.toISOString() } };
}

export async function recordBillingEvent(tx: Tx, tenantId: string, event: DomainEvent): Promise<void> {
  await recordEvent(tx, tenantId, event);
}

export async function recordBillingEvents(tx: Tx, tenantId: string, events: readonly DomainEvent[]): Promise<void> {
  await recordEvents(tx, tenantId, events);
}
