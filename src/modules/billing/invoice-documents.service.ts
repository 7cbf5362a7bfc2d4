import { and, asc, eq, ne } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { creditNotes, invoiceLines, invoices } from '../../db/schema/index.js';
import { withCustomer, withTenant, type Tx } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import { loadBranding } from '../events/notification-email.js';
import { invoiceSummaryView, customerSnapshotOf, sellerOf, settingsOf } from './invoices.service.js';
import { renderDocumentPdf, type PdfDocumentData } from './invoice-pdf.js';
import { logoOf } from './billing-logo.js';

/**
 * The PDFs of invoices and credit notes, for the staff API (`GET /api/invoices/:id/pdf`) and the
 * client portal (`GET /api/portal/invoices/:id/pdf`): one function, two scopes. With a customer
 * in the scope the read runs under the customer policy as well, only that customer's documents
 * are found, and drafts are not (a customer sees an invoice once it is issued).
 */
export interface DocumentScope {
  readonly tenantId: string;
  /** Set for the portal: the signed-in customer. */
  readonly customerId?: string | undefined;
}

export interface RenderedDocument {
  readonly fileName: string;
  readonly pdf: Buffer;
}

const inScope = <T>(db: Database, scope: DocumentScope, fn: (tx: Tx) => Promise<T>): Promise<T> =>
  scope.customerId ? withCustomer(db, scope.tenantId, scope.customerId, fn) : withTenant(db, scope.tenantId, fn);

/** `INV-2026-000001.pdf`; a draft, which has no number yet, by its id. */
const fileNameOf = (number: string | null, id: string, prefix: string): string => `${(number ?? `${prefix}-draft-${id}`).replace(/[^A-Za-z0-9._-]/g, '_')}.pdf`;

export async function invoicePdf(db: Database, scope: DocumentScope, invoiceId: string): Promise<RenderedDocument> {
  const data = await inScope(db, scope, async (tx): Promise<PdfDocumentData> => {
    const [invoice] = await tx
      .select()
      .from(invoices)
      .where(and(eq(invoices.id, invoiceId), ...(scope.customerId ? [eq(invoices.customerId, scope.customerId), ne(invoices.status, 'DRAFT')] : [])));
    if (!invoice) throw notFound('Invoice');
    const lines = await tx.select().from(invoiceLines).where(eq(invoiceLines.invoiceId, invoice.id)).orderBy(asc(invoiceLines.position));
    // A draft has no snapshots yet: it shows who it would be issued to, from today's data.
    const seller = invoice.sellerSnapshot ?? (await sellerOf(tx, scope.tenantId, await settingsOf(tx, scope.tenantId)));
    const customer = invoice.customerSnapshot ?? (await customerSnapshotOf(tx, invoice.customerId));
    const summary = invoiceSummaryView(invoice);
    return {
      kind: 'INVOICE',
      number: invoice.number,
      status: invoice.status,
      date: invoice.issuedAt ?? invoice.createdAt,
      dueAt: invoice.dueAt,
      periodStart: invoice.periodStart,
      periodEnd: invoice.periodEnd,
      creditedInvoiceNumber: null,
      currency: invoice.currency,
      seller,
      customer,
      lines,
      subtotal: invoice.subtotal,
      taxTotal: invoice.taxTotal,
      total: invoice.total,
      amountPaid: invoice.amountPaid,
      amountDue: summary.amountDue,
      note: invoice.memo,
      branding: await loadBranding(tx, scope.tenantId, { customerId: invoice.customerId }),
      logo: await logoOf(tx, scope.tenantId),
    };
  });
  return { fileName: fileNameOf(data.number, invoiceId, 'invoice'), pdf: await renderDocumentPdf(data) };
}

export async function creditNotePdf(db: Database, scope: DocumentScope, creditNoteId: string): Promise<RenderedDocument> {
  const data = await inScope(db, scope, async (tx): Promise<PdfDocumentData> => {
    const [found] = await tx
      .select({ note: creditNotes, invoiceNumber: invoices.number })
      .from(creditNotes)
      .innerJoin(invoices, eq(invoices.id, creditNotes.invoiceId))
      .where(and(eq(creditNotes.id, creditNoteId), ...(scope.customerId ? [eq(creditNotes.customerId, scope.customerId)] : [])));
    if (!found) throw notFound('Credit note');
    const { note } = found;
    return {
      kind: 'CREDIT_NOTE',
      number: note.number,
      status: 'ISSUED',
      date: note.issuedAt,
      dueAt: null,
      periodStart: null,
      periodEnd: null,
      creditedInvoiceNumber: found.invoiceNumber,
      currency: note.currency,
      seller: note.sellerSnapshot,
      customer: note.customerSnapshot,
      // A credit note has no lines of its own: one line says what it credits, with its tax.
      lines: [
        {
          description: `Credit against ${found.invoiceNumber ?? 'invoice'}: ${note.reason}`,
          quantity: 1,
          unitAmount: note.subtotal,
          taxName: null,
          taxRateBps: 0,
          taxInclusive: false,
          taxAmount: note.taxTotal,
          totalAmount: note.total,
        },
      ],
      subtotal: note.subtotal,
      taxTotal: note.taxTotal,
      total: note.total,
      amountPaid: null,
      amountDue: null,
      note: null,
      branding: await loadBranding(tx, scope.tenantId, { customerId: note.customerId }),
      logo: await logoOf(tx, scope.tenantId),
    };
  });
  return { fileName: fileNameOf(data.number, creditNoteId, 'credit-note'), pdf: await renderDocumentPdf(data) };
}
