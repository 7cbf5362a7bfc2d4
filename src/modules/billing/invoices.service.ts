import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import {
  billingSettings,
  creditNotes,
  customers,
  invoiceLines,
  invoices,
  subscriptions,
  taxRates,
  tenants,
  type BillingSettings,
  type CreditNote,
  type Customer,
  type CustomerSnapshot,
  type Invoice,
  type InvoiceKind,
  type InvoiceLine,
  type SellerSnapshot,
  type TaxRate,
} from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError, conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, recordAudits, type AuditActor, type AuditEntry } from '../audit/audit.service.js';
import { listPage } from '../list-page.js';
import { invoiceEvent, recordBillingEvent, recordBillingEvents } from './billing-events.js';
import type {
  CreateInvoiceBody,
  CreditNoteBody,
  CreditNoteView,
  InvoiceLineInput,
  InvoicesPage,
  InvoiceSummaryView,
  InvoiceView,
  ListCreditNotesQuery,
  ListInvoicesQuery,
} from './billing.types.js';
import { nextDocumentNumber, nextDocumentNumbers } from './document-numbers.js';
import { defaultDunningSettings } from './dunning-policy.js';
import { invoiceTotals, lineAmounts, prorate } from './money.js';

const DAY_MS = 86_400_000;

/** The tenant's billing settings, or the defaults when it never saved any. */
export async function settingsOf(tx: Tx, tenantId: string): Promise<Omit<BillingSettings, 'createdAt' | 'updatedAt'>> {
  const [row] = await tx.select().from(billingSettings).where(eq(billingSettings.tenantId, tenantId));
  return (
    row ?? {
      tenantId,
      sellerName: null,
      sellerAddress: null,
      sellerTaxId: null,
      invoiceNumberFormat: 'INV-{YYYY}-{000000}',
      creditNoteNumberFormat: 'CN-{YYYY}-{000000}',
      ...defaultDunningSettings,
      reminderDays: [...defaultDunningSettings.reminderDays],
      overdueNoticeDays: [...defaultDunningSettings.overdueNoticeDays],
    }
  );
}

/** The active rate that applies to a customer of `country`: its own, else the tenant's default (country NULL). */
export async function taxRateFor(tx: Tx, country: string | null): Promise<TaxRate | undefined> {
  const rows = await tx.select().from(taxRates).where(and(eq(taxRates.active, true), country ? sql`(${taxRates.country} = ${country} or ${taxRates.country} is null)` : isNull(taxRates.country)));
  return rows.find((rate) => rate.country === country) ?? rows.find((rate) => rate.country === null);
}

export interface DraftInput {
  readonly customerId: string;
  readonly subscriptionId?: string | null | undefined;
  readonly currency: string;
  readonly lines: readonly InvoiceLineInput[];
  readonly memo?: string | undefined;
  readonly kind?: InvoiceKind;
  readonly periodStart?: Date | null;
  readonly periodEnd?: Date | null;
  readonly dueAt?: Date | null;
}

/** A line with its rate and amounts, before it is written. */
interface PricedLine {
  readonly line: InvoiceLineInput;
  readonly rate: TaxRate | undefined;
  readonly amounts: ReturnType<typeof lineAmounts>;
}

/**
 * Amounts a column cannot hold (money.ts throws a RangeError past 2^31 - 1 minor units, e.g.
 * quantity 807 × unitAmount -1,000,000,000) are the request's error: 400 naming the line.
 */
function inRange<T>(field: string, compute: () => T): T {
  try {
    return compute();
  } catch (error) {
    if (error instanceof RangeError) throw validationFailed([{ field, message: `${error.message}: the amounts must fit in 2,147,483,647 minor units` }]);
    throw error;
  }
}

/**
 * Each line taxed (rounded half away from zero) and the totals as the exact sums. A line's rate:
 * the one named (`namedRate` answers the tenant's active rate of that id), none (null), or
 * `fallbackRate` (omitted). Throws the validation problem of the first line or total that is wrong.
 */
function priceLines(lines: readonly InvoiceLineInput[], fallbackRate: TaxRate | undefined, namedRate: (id: string) => TaxRate | undefined) {
  const priced: PricedLine[] = lines.map((line, index) => {
    let rate: TaxRate | undefined;
    if (line.taxRateId === undefined) rate = fallbackRate;
    else if (line.taxRateId !== null) {
      rate = namedRate(line.taxRateId);
      if (!rate) throw validationFailed([{ field: `body/lines/${index}/taxRateId`, message: 'is not an active tax rate of this tenant' }]);
    }
    const amounts = inRange(`body/lines/${index}`, () => lineAmounts({ quantity: line.quantity, unitAmount: line.unitAmount, rateBps: rate?.rateBps ?? 0, inclusive: rate?.inclusive ?? false }));
    return { line, rate, amounts };
  });
  const lineTotals = priced.map((p) => p.amounts);
  const totals = inRange('body/lines', () => invoiceTotals(lineTotals));
  if (totals.total < 0) throw validationFailed([{ field: 'body/lines', message: 'the invoice total cannot be negative (use a credit note)' }]);
  return { priced, totals };
}

/** An invoice row as a draft of `input` starts (issuing adds its number, dates and snapshots). */
function draftValues(tenantId: string, customerId: string, input: DraftInput, totals: ReturnType<typeof invoiceTotals>): typeof invoices.$inferInsert {
  return {
    tenantId,
    customerId,
    subscriptionId: input.subscriptionId ?? null,
    kind: input.kind ?? 'MANUAL',
    currency: input.currency,
    ...totals,
    periodStart: input.periodStart ?? null,
    periodEnd: input.periodEnd ?? null,
    dueAt: input.dueAt ?? null,
    memo: input.memo ?? null,
  };
}

function lineRows(tenantId: string, invoiceId: string, priced: readonly PricedLine[]): (typeof invoiceLines.$inferInsert)[] {
  return priced.map(({ line, rate, amounts }, position) => ({
    tenantId,
    invoiceId,
    position,
    description: line.description,
    quantity: line.quantity,
    unitAmount: line.unitAmount,
    taxRateId: rate?.id ?? null,
    taxName: rate?.name ?? null,
    taxRateBps: rate?.rateBps ?? 0,
    taxInclusive: rate?.inclusive ?? false,
    ...amounts,
  }));
}

/** The rate of `country` among the tenant's active rates: its own, else the default (country NULL). */
function rateOfCountry(rates: readonly TaxRate[], country: string | null): TaxRate | undefined {
  return (country ? rates.find((rate) => rate.country === country) : undefined) ?? rates.find((rate) => rate.country === null);
}

/**
 * A draft invoice with its lines, taxed per line (rounded half away from zero) and totals that are
 * the exact sums. Each line's rate: the one named, none (null), or the tenant's for the customer's
 * country (omitted).
 */
export async function createDraftInvoice(tx: Tx, tenantId: string, input: DraftInput, actor: AuditActor): Promise<Invoice> {
  const [customer] = await tx.select().from(customers).where(and(eq(customers.id, input.customerId), isNull(customers.deletedAt)));
  if (!customer) throw validationFailed([{ field: 'body/customerId', message: 'is not a customer of this tenant' }]);
  if (input.subscriptionId) {
    const [subscription] = await tx.select({ customerId: subscriptions.customerId }).from(subscriptions).where(eq(subscriptions.id, input.subscriptionId));
    if (subscription?.customerId !== customer.id) throw validationFailed([{ field: 'body/subscriptionId', message: "is not one of this customer's subscriptions" }]);
  }
  const fallbackRate = await taxRateFor(tx, customer.country);
  const named = [...new Set(input.lines.flatMap((line) => (typeof line.taxRateId === 'string' ? [line.taxRateId] : [])))];
  const namedRates = named.length > 0 ? await tx.select().from(taxRates).where(and(inArray(taxRates.id, named), eq(taxRates.active, true))) : [];
  const { priced, totals } = priceLines(input.lines, fallbackRate, (id) => namedRates.find((rate) => rate.id === id));

  const [invoice] = await tx.insert(invoices).values(draftValues(tenantId, customer.id, input, totals)).returning();
  if (!invoice) throw new Error('insert into invoices returned no row');
  await tx.insert(invoiceLines).values(lineRows(tenantId, invoice.id, priced));
  await recordAudit(tx, { tenantId, actor, action: 'invoice.created', targetType: 'invoice', targetId: invoice.id, after: { kind: invoice.kind, currency: invoice.currency, total: invoice.total } });
  return invoice;
}

export async function sellerOf(tx: Tx, tenantId: string, settings: Awaited<ReturnType<typeof settingsOf>>): Promise<SellerSnapshot> {
  const [tenant] = await tx.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, tenantId));
  return { name: settings.sellerName ?? tenant?.name ?? '', address: settings.sellerAddress, taxId: settings.sellerTaxId };
}

export async function customerSnapshotOf(tx: Tx, customerId: string): Promise<CustomerSnapshot> {
  const [customer] = await tx.select().from(customers).where(eq(customers.id, customerId));
  if (!customer) throw new Error(`customer ${customerId} vanished`);
  return snapshotOf(customer);
}

function snapshotOf(customer: Customer): CustomerSnapshot {
  return { name: customer.name, email: customer.email, company: customer.company, taxId: customer.taxId, country: customer.country, address: customer.billingAddress };
}

/**
 * Issues a draft: its number from the tenant's gap-free sequence (the sequence row stays locked
 * until this transaction commits), the customer's tax id and billing address and the seller copied
 * onto it, the due date (kept when set, else issue + payment terms). From here the database refuses
 * any change of its number, customer, lines or totals.
 */
export async function issueInvoice(tx: Tx, tenantId: string, invoiceId: string, actor: AuditActor, now = new Date()): Promise<Invoice> {
  const [draft] = await tx.select().from(invoices).where(eq(invoices.id, invoiceId)).for('update');
  if (!draft) throw notFound('Invoice');
  if (draft.billingMode !== 'MPANEL') throw conflict('A Stripe invoice is a read-only mirror: Stripe issues it');
  if (draft.status !== 'DRAFT') throw conflict(`The invoice is already ${draft.status}`);
  const settings = await settingsOf(tx, tenantId);
  const number = await nextDocumentNumber(tx, tenantId, 'INVOICE', settings.invoiceNumberFormat, now);
  const [issued] = await tx
    .update(invoices)
    .set({
      status: 'ISSUED',
      number,
      issuedAt: now,
      dueAt: draft.dueAt ?? new Date(now.getTime() + settings.paymentTermsDays * DAY_MS),
      customerSnapshot: await customerSnapshotOf(tx, draft.customerId),
      sellerSnapshot: await sellerOf(tx, tenantId, settings),
    })
    .where(eq(invoices.id, draft.id))
    .returning();
  if (!issued) throw new Error(`invoice ${draft.id} vanished while being issued`);
  await recordAudit(tx, { tenantId, actor, action: 'invoice.issued', targetType: 'invoice', targetId: issued.id, before: { status: 'DRAFT' }, after: { status: 'ISSUED', number, total: issued.total } });
  await recordBillingEvent(tx, tenantId, invoiceEvent('invoice.issued', issued));
  return issued;
}

/**
 * Creates and issues several invoices in one go (a batch of the billing run's renewals): for each,
 * what createDraftInvoice then issueInvoice do — the same checks, taxes, numbers, snapshots, audit
 * rows and events — with the tenant's settings, seller, tax rates and the customers read once, and
 * each write one statement for the whole batch. Returns the issued invoices in the order of
 * `inputs`; throws the validation problem of the first one that is wrong (nothing is written).
 *
 * The numbers are one block of the gap-free sequence (nextDocumentNumbers, under its lock), given
 * in the order of `inputs`: all are used by this transaction or returned by its rollback. Each
 * invoice is inserted as a draft that already carries what its issue sets, its lines are added
 * while it is a draft (the database refuses lines on an issued invoice), then one update issues
 * them all: from there the immutability trigger guards them like any issued invoice. Each
 * invoice's audit rows (`invoice.created`, then `invoice.issued`) and its `invoice.issued` event
 * come in the order of `inputs`.
 */
export async function issueInvoices(tx: Tx, tenantId: string, inputs: readonly DraftInput[], actor: AuditActor, now = new Date()): Promise<Invoice[]> {
  if (inputs.length === 0) return [];
  const settings = await settingsOf(tx, tenantId);
  const seller = await sellerOf(tx, tenantId, settings);
  const rates = await tx.select().from(taxRates).where(eq(taxRates.active, true));
  const customerIds = [...new Set(inputs.map((input) => input.customerId))];
  const customerRows = await tx.select().from(customers).where(and(inArray(customers.id, customerIds), isNull(customers.deletedAt)));
  const customerById = new Map(customerRows.map((customer) => [customer.id, customer]));
  const subscriptionIds = [...new Set(inputs.flatMap((input) => (input.subscriptionId ? [input.subscriptionId] : [])))];
  const subscriptionRows =
    subscriptionIds.length > 0 ? await tx.select({ id: subscriptions.id, customerId: subscriptions.customerId }).from(subscriptions).where(inArray(subscriptions.id, subscriptionIds)) : [];
  const customerOfSubscription = new Map(subscriptionRows.map((row) => [row.id, row.customerId]));
  const activeRate = (id: string) => rates.find((rate) => rate.id === id);

  const drafts = inputs.map((input) => {
    const customer = customerById.get(input.customerId);
    if (!customer) throw validationFailed([{ field: 'body/customerId', message: 'is not a customer of this tenant' }]);
    if (input.subscriptionId && customerOfSubscription.get(input.subscriptionId) !== customer.id) {
      throw validationFailed([{ field: 'body/subscriptionId', message: "is not one of this customer's subscriptions" }]);
    }
    return { id: randomUUID(), input, customer, ...priceLines(input.lines, rateOfCountry(rates, customer.country), activeRate) };
  });
  const numbers = await nextDocumentNumbers(tx, tenantId, 'INVOICE', settings.invoiceNumberFormat, now, drafts.length);
  await tx.insert(invoices).values(
    drafts.map(({ id, input, customer, totals }, position) => ({
      id,
      ...draftValues(tenantId, customer.id, input, totals),
      number: numbers[position] ?? null,
      issuedAt: now,
      dueAt: input.dueAt ?? new Date(now.getTime() + settings.paymentTermsDays * DAY_MS),
      customerSnapshot: snapshotOf(customer),
      sellerSnapshot: seller,
    })),
  );
  await tx.insert(invoiceLines).values(drafts.flatMap(({ id, priced }) => lineRows(tenantId, id, priced)));
  const rows = await tx
    .update(invoices)
    .set({ status: 'ISSUED' })
    .where(and(inArray(invoices.id, drafts.map((draft) => draft.id)), eq(invoices.status, 'DRAFT')))
    .returning();
  const issuedById = new Map(rows.map((invoice) => [invoice.id, invoice]));
  const issued = drafts.map((draft) => {
    const invoice = issuedById.get(draft.id);
    if (!invoice) throw new Error(`invoice ${draft.id} vanished while being issued`);
    return invoice;
  });
  await recordAudits(
    tx,
    issued.flatMap((invoice): AuditEntry[] => [
      { tenantId, actor, action: 'invoice.created', targetType: 'invoice', targetId: invoice.id, after: { kind: invoice.kind, currency: invoice.currency, total: invoice.total } },
      { tenantId, actor, action: 'invoice.issued', targetType: 'invoice', targetId: invoice.id, before: { status: 'DRAFT' }, after: { status: 'ISSUED', number: invoice.number, total: invoice.total } },
    ]),
  );
  await recordBillingEvents(
    tx,
    tenantId,
    issued.map((invoice) => invoiceEvent('invoice.issued', invoice)),
  );
  return issued;
}

/** Voids an issued (unpaid) invoice, or discards a draft's use. A paid invoice is corrected with a credit note. */
export async function voidInvoice(tx: Tx, tenantId: string, invoiceId: string, reason: string, actor: AuditActor, now = new Date()): Promise<Invoice> {
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, invoiceId)).for('update');
  if (!invoice) throw notFound('Invoice');
  if (invoice.billingMode !== 'MPANEL') throw conflict('A Stripe invoice is a read-only mirror: void it in Stripe');
  if (invoice.status === 'VOID') return invoice;
  if (invoice.status === 'PAID') throw conflict('A paid invoice cannot be voided: issue a credit note');
  if (invoice.amountPaid > 0) throw conflict('A partly paid invoice cannot be voided: issue a credit note');
  const [voided] = await tx.update(invoices).set({ status: 'VOID', voidedAt: now }).where(eq(invoices.id, invoice.id)).returning();
  if (!voided) throw new Error(`invoice ${invoice.id} vanished while being voided`);
  await recordAudit(tx, { tenantId, actor, action: 'invoice.voided', targetType: 'invoice', targetId: invoice.id, before: { status: invoice.status }, after: { status: 'VOID' }, metadata: { reason } });
  if (invoice.status === 'ISSUED') await recordBillingEvent(tx, tenantId, invoiceEvent('invoice.voided', voided));
  return voided;
}

/**
 * A credit note against an issued or paid invoice, numbered from its own sequence. Its tax is the
 * invoice's, in proportion; the credited total never exceeds the invoice's. `sourceReference`
 * (a Stripe refund id) makes it idempotent: the same reference again returns the earlier note.
 */
export async function issueCreditNote(
  tx: Tx,
  tenantId: string,
  invoiceId: string,
  input: CreditNoteBody & { sourceReference?: string },
  actor: AuditActor,
  now = new Date(),
): Promise<CreditNote> {
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, invoiceId)).for('update');
  if (!invoice) throw notFound('Invoice');
  if (input.sourceReference) {
    const [earlier] = await tx.select().from(creditNotes).where(eq(creditNotes.sourceReference, input.sourceReference));
    if (earlier) return earlier;
  }
  if (invoice.billingMode !== 'MPANEL') throw conflict('A Stripe invoice is corrected in Stripe (its credit notes are mirrored)');
  if (invoice.status !== 'ISSUED' && invoice.status !== 'PAID') throw conflict(`A ${invoice.status} invoice cannot be credited`);
  const [credited] = await tx.select({ total: sql<number>`coalesce(sum(${creditNotes.total}), 0)::int` }).from(creditNotes).where(eq(creditNotes.invoiceId, invoice.id));
  const remaining = invoice.total - (credited?.total ?? 0);
  const total = input.amount ?? remaining;
  if (total <= 0 || total > remaining) {
    throw validationFailed([{ field: 'body/amount', message: `must be between 1 and ${remaining} (the invoice total not yet credited)` }]);
  }
  const taxTotal = invoice.total === 0 ? 0 : prorate(invoice.taxTotal, total, invoice.total);
  const settings = await settingsOf(tx, tenantId);
  const number = await nextDocumentNumber(tx, tenantId, 'CREDIT_NOTE', settings.creditNoteNumberFormat, now);
  const [note] = await tx
    .insert(creditNotes)
    .values({
      tenantId,
      invoiceId: invoice.id,
      customerId: invoice.customerId,
      number,
      currency: invoice.currency,
      subtotal: total - taxTotal,
      taxTotal,
      total,
      reason: input.reason,
      sourceReference: input.sourceReference ?? null,
      customerSnapshot: invoice.customerSnapshot ?? (await customerSnapshotOf(tx, invoice.customerId)),
      sellerSnapshot: await sellerOf(tx, tenantId, settings),
      issuedAt: now,
    })
    .returning();
  if (!note) throw new Error('insert into credit_notes returned no row');
  await recordAudit(tx, { tenantId, actor, action: 'credit_note.issued', targetType: 'credit_note', targetId: note.id, after: { number, invoiceId: invoice.id, total }, metadata: { reason: input.reason } });
  return note;
}

// ---- views and the routes' entry points ----

export function invoiceSummaryView(invoice: Invoice): InvoiceSummaryView {
  const settled = invoice.status === 'PAID' || invoice.status === 'VOID' || invoice.status === 'DRAFT';
  return {
    id: invoice.id,
    number: invoice.number,
    status: invoice.status,
    billingMode: invoice.billingMode,
    kind: invoice.kind,
    customerId: invoice.customerId,
    subscriptionId: invoice.subscriptionId,
    currency: invoice.currency,
    subtotal: invoice.subtotal,
    taxTotal: invoice.taxTotal,
    total: invoice.total,
    amountPaid: invoice.amountPaid,
    amountDue: settled ? 0 : Math.max(0, invoice.total - invoice.amountPaid),
    periodStart: invoice.periodStart,
    periodEnd: invoice.periodEnd,
    dueAt: invoice.dueAt,
    issuedAt: invoice.issuedAt,
    paidAt: invoice.paidAt,
    voidedAt: invoice.voidedAt,
    memo: invoice.memo,
    hostedUrl: invoice.hostedUrl,
    pdfUrl: invoice.pdfUrl,
    createdAt: invoice.createdAt,
    updatedAt: invoice.updatedAt,
  };
}

function lineView(line: InvoiceLine): InvoiceView['lines'][number] {
  return {
    id: line.id,
    position: line.position,
    description: line.description,
    quantity: line.quantity,
    unitAmount: line.unitAmount,
    taxRateId: line.taxRateId,
    taxName: line.taxName,
    taxRateBps: line.taxRateBps,
    taxInclusive: line.taxInclusive,
    netAmount: line.netAmount,
    taxAmount: line.taxAmount,
    totalAmount: line.totalAmount,
  };
}

export async function invoiceView(tx: Tx, invoice: Invoice): Promise<InvoiceView> {
  const lines = await tx.select().from(invoiceLines).where(eq(invoiceLines.invoiceId, invoice.id)).orderBy(asc(invoiceLines.position));
  return { ...invoiceSummaryView(invoice), customer: invoice.customerSnapshot, seller: invoice.sellerSnapshot, lines: lines.map(lineView) };
}

export function creditNoteView(note: CreditNote): CreditNoteView {
  return {
    id: note.id,
    number: note.number,
    invoiceId: note.invoiceId,
    customerId: note.customerId,
    currency: note.currency,
    subtotal: note.subtotal,
    taxTotal: note.taxTotal,
    total: note.total,
    reason: note.reason,
    sourceReference: note.sourceReference,
    issuedAt: note.issuedAt,
    createdAt: note.createdAt,
  };
}

type Auth = Pick<AuthContext, 'tenantId'>;

export async function listInvoices(db: Database, auth: Auth, query: ListInvoicesQuery): Promise<InvoicesPage> {
  return listPage(db, auth.tenantId, query, {
    table: invoices,
    filters: [
      query.status === undefined ? undefined : eq(invoices.status, query.status),
      query.customerId === undefined ? undefined : eq(invoices.customerId, query.customerId),
      query.subscriptionId === undefined ? undefined : eq(invoices.subscriptionId, query.subscriptionId),
    ],
    rows: (tx, q) => tx.select().from(invoices).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: invoiceSummaryView,
  });
}

export async function findInvoice(tx: Tx, id: string): Promise<Invoice> {
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, id));
  if (!invoice) throw notFound('Invoice');
  return invoice;
}

export async function getInvoice(db: Database, auth: Auth, id: string): Promise<InvoiceView> {
  return withTenant(db, auth.tenantId, async (tx) => invoiceView(tx, await findInvoice(tx, id)));
}

export async function createInvoice(db: Database, auth: Auth, body: CreateInvoiceBody, actor: AuditActor): Promise<InvoiceView> {
  return withTenant(db, auth.tenantId, async (tx) => invoiceView(tx, await createDraftInvoice(tx, auth.tenantId, body, actor)));
}

export async function issueInvoiceById(db: Database, auth: Auth, id: string, actor: AuditActor): Promise<InvoiceView> {
  return withTenant(db, auth.tenantId, async (tx) => invoiceView(tx, await issueInvoice(tx, auth.tenantId, id, actor)));
}

export async function voidInvoiceById(db: Database, auth: Auth, id: string, reason: string, actor: AuditActor): Promise<InvoiceView> {
  return withTenant(db, auth.tenantId, async (tx) => invoiceView(tx, await voidInvoice(tx, auth.tenantId, id, reason, actor)));
}

export async function deleteDraft(db: Database, auth: Auth, id: string, actor: AuditActor): Promise<void> {
  await withTenant(db, auth.tenantId, async (tx) => {
    const invoice = await findInvoice(tx, id);
    if (invoice.status !== 'DRAFT') throw new AppError('CONFLICT', `A ${invoice.status} invoice cannot be deleted (void it or issue a credit note)`);
    await tx.delete(invoices).where(eq(invoices.id, id));
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'invoice.deleted', targetType: 'invoice', targetId: id, before: { status: 'DRAFT', total: invoice.total } });
  });
}

export async function creditInvoice(db: Database, auth: Auth, invoiceId: string, body: CreditNoteBody, actor: AuditActor): Promise<CreditNoteView> {
  return withTenant(db, auth.tenantId, async (tx) => creditNoteView(await issueCreditNote(tx, auth.tenantId, invoiceId, body, actor)));
}

export async function listCreditNotes(db: Database, auth: Auth, query: ListCreditNotesQuery) {
  return listPage(db, auth.tenantId, query, {
    table: creditNotes,
    filters: [query.invoiceId === undefined ? undefined : eq(creditNotes.invoiceId, query.invoiceId)],
    rows: (tx, q) => tx.select().from(creditNotes).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: creditNoteView,
  });
}

export async function getCreditNote(db: Database, auth: Auth, id: string): Promise<CreditNoteView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [note] = await tx.select().from(creditNotes).where(eq(creditNotes.id, id));
    if (!note) throw notFound('Credit note');
    return creditNoteView(note);
  });
}
