import { and, asc, eq, ne } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { creditNotes, invoices } from '../../db/schema/index.js';
import { withCustomer } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import type { AuditActor } from '../audit/audit.service.js';
import { creditNotePdf, invoicePdf, type RenderedDocument } from '../billing/invoice-documents.service.js';
import { creditNoteView, invoiceSummaryView, invoiceView } from '../billing/invoices.service.js';
import { updateSubscriptionBilling } from '../billing/subscription-billing.service.js';
import type { CustomerAuthContext } from '../customer-auth/customer-auth-context.js';
import { listPage } from '../list-page.js';
import type { PortalInvoice, PortalInvoicesQuery, ServiceCancellation } from './portal-billing.types.js';

/**
 * The customer's billing in the portal: the staff billing services behind a second door. Every
 * read names the customer from the token AND runs under the customer RLS policy; drafts are the
 * tenant's work in progress and never shown (404, like another customer's invoice).
 */
type Account = Pick<CustomerAuthContext, 'tenantId' | 'customerId'>;

export async function listInvoices(db: Database, auth: Account, query: PortalInvoicesQuery) {
  return listPage(db, auth.tenantId, query, {
    customerId: auth.customerId,
    table: invoices,
    filters: [eq(invoices.customerId, auth.customerId), ne(invoices.status, 'DRAFT'), query.status === undefined ? undefined : eq(invoices.status, query.status)],
    rows: (tx, q) => tx.select().from(invoices).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: invoiceSummaryView,
  });
}

export async function getInvoice(db: Database, auth: Account, id: string): Promise<PortalInvoice> {
  return withCustomer(db, auth.tenantId, auth.customerId, async (tx) => {
    const [invoice] = await tx
      .select()
      .from(invoices)
      .where(and(eq(invoices.tenantId, auth.tenantId), eq(invoices.customerId, auth.customerId), eq(invoices.id, id), ne(invoices.status, 'DRAFT')));
    if (!invoice) throw notFound('Invoice');
    const notes = await tx.select().from(creditNotes).where(and(eq(creditNotes.invoiceId, invoice.id), eq(creditNotes.customerId, auth.customerId))).orderBy(asc(creditNotes.createdAt));
    return { ...(await invoiceView(tx, invoice)), creditNotes: notes.map(creditNoteView) };
  });
}

export const invoiceDocument = (db: Database, auth: Account, id: string): Promise<RenderedDocument> => invoicePdf(db, { tenantId: auth.tenantId, customerId: auth.customerId }, id);

export const creditNoteDocument = (db: Database, auth: Account, id: string): Promise<RenderedDocument> => creditNotePdf(db, { tenantId: auth.tenantId, customerId: auth.customerId }, id);

/**
 * Cancel at the end of the paid period, or take it back: the staff `PATCH /api/subscriptions/:id/billing
 * {cancelAtPeriodEnd}` (same function, same rules and audit rows), with the customer as the actor.
 */
export async function setCancelAtPeriodEnd(db: Database, auth: Account, actor: AuditActor, serviceId: string, cancelAtPeriodEnd: boolean): Promise<ServiceCancellation> {
  const schedule = await updateSubscriptionBilling(db, { tenantId: auth.tenantId, customerId: auth.customerId }, serviceId, { cancelAtPeriodEnd }, actor);
  return {
    serviceId: schedule.subscriptionId,
    status: schedule.status,
    cancelAtPeriodEnd: schedule.cancelAtPeriodEnd,
    paidThrough: schedule.paidThrough,
    endsAt: schedule.cancelAtPeriodEnd ? schedule.paidThrough : null,
    deletedAfterDays: schedule.settings.cancellationRetentionDays,
  };
}
