import { sql } from 'drizzle-orm';
import { bigint, boolean, check, customType, index, integer, jsonb, pgTable, primaryKey, text, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { customers, subscriptions, type BillingAddress } from './billing.js';
import { createdAt, id, tstz, updatedAt } from './columns.js';
import { billingModeEnum, invoiceKindEnum, invoiceStatusEnum, paymentSourceEnum } from './enums.js';
import { billingSettingsScanPolicy, customerIsolationPolicy, ownedByCustomer, stripeReferenceLookupPolicy, tenantIsolationPolicy } from './rls.js';
import { tenantId, users } from './tenancy.js';

// Invoices, credit notes, tax rates and payments (issue 16). Money is integer minor units.
// What the database itself enforces (hand-written migration "invoice_immutability"): an issued
// invoice's number, customer, currency, totals and lines never change, and it is never deleted.

/** The tenant's billing settings: the seller printed on documents, numbering formats, lead times. */
export const billingSettings = pgTable(
  'billing_settings',
  {
    tenantId: tenantId().primaryKey(),
    sellerName: text('seller_name'),
    sellerAddress: jsonb('seller_address').$type<BillingAddress>(),
    sellerTaxId: text('seller_tax_id'),
    /** Tokens: {YYYY} {YY} {MM} and {000000} (the counter, zero-padded to the width given). */
    invoiceNumberFormat: text('invoice_number_format').notNull().default('INV-{YYYY}-{000000}'),
    creditNoteNumberFormat: text('credit_note_number_format').notNull().default('CN-{YYYY}-{000000}'),
    /** The renewal invoice is issued this many days before the period ends, due at its end. */
    renewalLeadDays: integer('renewal_lead_days').notNull().default(14),
    /** Due date of a staff-issued invoice, in days after issue. */
    paymentTermsDays: integer('payment_terms_days').notNull().default(14),
    // Dunning (modules/billing/dunning-policy.ts), in days relative to the due date of the open
    // renewal invoice (= the subscription's paidThrough); a subscription may override them.
    /** Reminders this many days before the due date, e.g. {7,1}. */
    reminderDays: integer('reminder_days').array().notNull().default(sql`'{7,1}'::integer[]`),
    /** Overdue notices this many days after it, e.g. {1,3}; the last one warns of suspension. */
    overdueNoticeDays: integer('overdue_notice_days').array().notNull().default(sql`'{1,3}'::integer[]`),
    /** NON_PAYMENT suspension this many days after the due date. */
    suspendAfterDays: integer('suspend_after_days').notNull().default(7),
    /** Termination for non-payment: off by default. */
    terminationEnabled: boolean('termination_enabled').notNull().default(false),
    terminateAfterDays: integer('terminate_after_days').notNull().default(30),
    terminationWarningDays: integer('termination_warning_days').notNull().default(23),
    /** A subscription cancelled at period end is suspended (CANCELLED) then, and terminated this many days later. */
    cancellationRetentionDays: integer('cancellation_retention_days').notNull().default(30),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('billing_settings_lead_days_check', sql`${t.renewalLeadDays} between 0 and 60`),
    check('billing_settings_terms_check', sql`${t.paymentTermsDays} between 0 and 120`),
    billingSettingsScanPolicy(),
    check('billing_settings_dunning_check', sql`${t.suspendAfterDays} between 0 and 365 and ${t.terminationWarningDays} between 0 and ${t.terminateAfterDays} and ${t.terminateAfterDays} between ${t.suspendAfterDays} and 730 and ${t.cancellationRetentionDays} between 0 and 365`),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

/**
 * The tenant's logo on its invoice and credit note PDFs (modules/billing/billing-logo.ts): the
 * image itself, uploaded by staff and checked there (PNG or JPEG, at most 256 KB). Kept in the
 * database, never fetched from a URL; a table of its own so the settings read by every invoice and
 * billing run do not carry it (and writing it does not reset the run's billing_next_at).
 */
export const billingLogos = pgTable(
  'billing_logos',
  {
    tenantId: tenantId().primaryKey(),
    /** image/png | image/jpeg, from the bytes' signature. */
    contentType: text('content_type').notNull(),
    image: bytea('image').notNull(),
    /** Hex SHA-256 of the image: the ETag, and what the audit log records. */
    sha256: text('sha256').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('billing_logos_type_check', sql`${t.contentType} in ('image/png', 'image/jpeg')`),
    check('billing_logos_size_check', sql`octet_length(${t.image}) between 1 and 262144`),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

/**
 * Gap-free document numbers: one row per (tenant, kind, period), incremented by
 * `INSERT .. ON CONFLICT DO UPDATE .. RETURNING` inside the issuing transaction. The row stays
 * locked until that transaction ends, so concurrent issues queue on it, and a rollback gives the
 * number back: no gap, no reuse.
 */
export const documentSequences = pgTable(
  'document_sequences',
  {
    tenantId: tenantId(),
    /** INVOICE | CREDIT_NOTE */
    kind: text('kind').notNull(),
    /** The part of the number that restarts the counter, e.g. '2026' for {YYYY}; '' when none. */
    period: text('period').notNull(),
    lastValue: bigint('last_value', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.kind, t.period] }), tenantIsolationPolicy(t.tenantId)],
).enableRLS();

/** A tax rate of the tenant, for customers of a country (NULL = everyone else). */
export const taxRates = pgTable(
  'tax_rates',
  {
    id: id(),
    tenantId: tenantId(),
    name: text('name').notNull(),
    country: text('country'),
    /** Hundredths of a percent: 2000 = 20.00 %. */
    rateBps: integer('rate_bps').notNull(),
    /** true: line prices include the tax; false: the tax is added on top. */
    inclusive: boolean('inclusive').notNull().default(false),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('tax_rates_rate_check', sql`${t.rateBps} between 0 and 10000`),
    check('tax_rates_country_check', sql`${t.country} is null or ${t.country} ~ '^[A-Z]{2}$'`),
    // One active rate per country (and one default), so the choice is never ambiguous.
    uniqueIndex('tax_rates_active_country_unique').on(t.tenantId, sql`coalesce(${t.country}, '')`).where(sql`${t.active}`),
    index('tax_rates_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

/** Who an invoice is for, as it was when the invoice was issued. */
export interface CustomerSnapshot {
  name: string;
  email: string;
  company: string | null;
  taxId: string | null;
  country: string | null;
  address: BillingAddress | null;
}

/** The seller, as it was when the document was issued. */
export interface SellerSnapshot {
  name: string;
  address: BillingAddress | null;
  taxId: string | null;
}

export const invoices = pgTable(
  'invoices',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    subscriptionId: uuid('subscription_id').references(() => subscriptions.id),
    /** MPANEL: issued here, immutable once issued. STRIPE: a read-only mirror of Stripe's invoice. */
    billingMode: billingModeEnum('billing_mode').notNull().default('MPANEL'),
    kind: invoiceKindEnum('kind').notNull().default('MANUAL'),
    status: invoiceStatusEnum('status').notNull().default('DRAFT'),
    /** Given at issue from the tenant's gap-free sequence (Stripe's number for a mirror). */
    number: text('number'),
    currency: text('currency').notNull(),
    subtotal: integer('subtotal').notNull().default(0),
    taxTotal: integer('tax_total').notNull().default(0),
    total: integer('total').notNull().default(0),
    amountPaid: integer('amount_paid').notNull().default(0),
    /** The service period the invoice pays for (renewals, prorations). */
    periodStart: tstz('period_start'),
    periodEnd: tstz('period_end'),
    dueAt: tstz('due_at'),
    issuedAt: tstz('issued_at'),
    paidAt: tstz('paid_at'),
    voidedAt: tstz('voided_at'),
    /** Set once, by the payment that extended the subscription's paidThrough: never twice. */
    paidThroughAppliedAt: tstz('paid_through_applied_at'),
    customerSnapshot: jsonb('customer_snapshot').$type<CustomerSnapshot>(),
    sellerSnapshot: jsonb('seller_snapshot').$type<SellerSnapshot>(),
    memo: text('memo'),
    stripeInvoiceId: text('stripe_invoice_id'),
    stripeStatus: text('stripe_status'),
    /** STRIPE mirror: Stripe's attempt count and next scheduled retry (null: none scheduled; suspension waits while one is). */
    stripeAttemptCount: integer('stripe_attempt_count'),
    stripeNextPaymentAttempt: tstz('stripe_next_payment_attempt'),
    /** The PaymentIntent that paid it (STRIPE mirror): refunds and disputes name it. */
    stripePaymentIntentId: text('stripe_payment_intent_id'),
    /** Refunded so far (STRIPE mirror: Stripe's charge.amount_refunded). */
    amountRefunded: integer('amount_refunded').notNull().default(0),
    hostedUrl: text('hosted_url'),
    pdfUrl: text('pdf_url'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('invoices_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('invoices_totals_check', sql`${t.total} = ${t.subtotal} + ${t.taxTotal} and ${t.total} >= 0 and ${t.amountPaid} >= 0`),
    check('invoices_issued_number_check', sql`${t.status} = 'DRAFT' or ${t.number} is not null`),
    unique('invoices_tenant_number_unique').on(t.tenantId, t.number),
    unique('invoices_tenant_stripe_unique').on(t.tenantId, t.stripeInvoiceId),
    // One live renewal invoice per subscription period: a second run or a second worker cannot bill twice.
    uniqueIndex('invoices_renewal_period_unique')
      .on(t.subscriptionId, t.periodStart)
      .where(sql`${t.kind} in ('RENEWAL', 'INITIAL') and ${t.status} <> 'VOID'`),
    index('invoices_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('invoices_subscription_idx').on(t.subscriptionId),
    index('invoices_stripe_payment_intent_idx').on(t.stripePaymentIntentId).where(sql`${t.stripePaymentIntentId} is not null`),
    index('invoices_open_due_idx').on(t.dueAt).where(sql`${t.status} = 'ISSUED'`),
    stripeReferenceLookupPolicy(t.stripeInvoiceId, t.stripePaymentIntentId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

export const invoiceLines = pgTable(
  'invoice_lines',
  {
    id: id(),
    tenantId: tenantId(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    description: text('description').notNull(),
    quantity: integer('quantity').notNull().default(1),
    /** Per unit, as entered: tax included when taxInclusive. May be negative (a credit line). */
    unitAmount: integer('unit_amount').notNull(),
    taxRateId: uuid('tax_rate_id').references(() => taxRates.id),
    taxName: text('tax_name'),
    taxRateBps: integer('tax_rate_bps').notNull().default(0),
    taxInclusive: boolean('tax_inclusive').notNull().default(false),
    netAmount: integer('net_amount').notNull(),
    taxAmount: integer('tax_amount').notNull(),
    totalAmount: integer('total_amount').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    check('invoice_lines_quantity_check', sql`${t.quantity} > 0`),
    check('invoice_lines_sum_check', sql`${t.totalAmount} = ${t.netAmount} + ${t.taxAmount}`),
    unique('invoice_lines_position_unique').on(t.invoiceId, t.position),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from invoices where invoices.id = ${t.invoiceId})`),
  ],
).enableRLS();

/** A correction of an issued invoice (a refund, a goodwill credit): its own gap-free sequence. */
export const creditNotes = pgTable(
  'credit_notes',
  {
    id: id(),
    tenantId: tenantId(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    number: text('number').notNull(),
    currency: text('currency').notNull(),
    subtotal: integer('subtotal').notNull(),
    taxTotal: integer('tax_total').notNull(),
    total: integer('total').notNull(),
    reason: text('reason').notNull(),
    /** What caused it outside mPanel (a Stripe refund id): one credit note per refund. */
    sourceReference: text('source_reference'),
    customerSnapshot: jsonb('customer_snapshot').$type<CustomerSnapshot>().notNull(),
    sellerSnapshot: jsonb('seller_snapshot').$type<SellerSnapshot>().notNull(),
    issuedAt: tstz('issued_at').notNull().defaultNow(),
    createdAt: createdAt(),
  },
  (t) => [
    check('credit_notes_totals_check', sql`${t.total} = ${t.subtotal} + ${t.taxTotal} and ${t.total} > 0`),
    unique('credit_notes_tenant_number_unique').on(t.tenantId, t.number),
    unique('credit_notes_tenant_source_unique').on(t.tenantId, t.sourceReference),
    index('credit_notes_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('credit_notes_invoice_idx').on(t.invoiceId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

/** Money received against an invoice. (source, reference) is the idempotency key. */
export const payments = pgTable(
  'payments',
  {
    id: id(),
    tenantId: tenantId(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id),
    source: paymentSourceEnum('source').notNull(),
    reference: text('reference').notNull(),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull(),
    /** Hash of the normalised request: the same reference with another body is a conflict. */
    requestHash: text('request_hash').notNull(),
    recordedBy: uuid('recorded_by').references(() => users.id),
    receivedAt: tstz('received_at').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    check('payments_amount_check', sql`${t.amount} > 0`),
    unique('payments_tenant_source_reference_unique').on(t.tenantId, t.source, t.reference),
    index('payments_invoice_idx').on(t.invoiceId),
    index('payments_source_reference_idx').on(t.source, t.reference),
    index('payments_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    // Only Stripe's payments are found by their reference (a PaymentIntent id).
    stripeReferenceLookupPolicy(sql`(case when ${t.source} = 'STRIPE' then ${t.reference} end)`),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from invoices where invoices.id = ${t.invoiceId})`),
  ],
).enableRLS();

/**
 * The billing run's ledger (modules/billing/billing-run.ts): one row per action taken (or skipped
 * as superseded) for one subscription period. `key` is unique per subscription: a notice is written
 * in the transaction that records its domain event, so a second run, a second worker or a run
 * resumed after a crash never sends it twice.
 */
export const billingActions = pgTable(
  'billing_actions',
  {
    id: id(),
    tenantId: tenantId(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => subscriptions.id),
    invoiceId: uuid('invoice_id').references(() => invoices.id),
    /** e.g. `2026-01-01T00:00:00.000Z:reminder:7` (the period start, the rule, its day). */
    key: text('key').notNull(),
    /** The rule: renewal_issued, reminder, overdue, past_due, suspend, termination_warning, terminate, cancel_suspend, cancel_terminate, unsuspend, recovered. */
    action: text('action').notNull(),
    /** DONE, or SKIPPED when a later notice of the same kind was due too (a scheduler that was down sends the latest only). */
    outcome: text('outcome').notNull().default('DONE'),
    /** When the rule said it was due, and the run that acted. */
    dueAt: tstz('due_at').notNull(),
    runId: uuid('run_id'),
    createdAt: createdAt(),
  },
  (t) => [
    check('billing_actions_outcome_check', sql`${t.outcome} in ('DONE', 'SKIPPED')`),
    unique('billing_actions_subscription_key_unique').on(t.subscriptionId, t.key),
    index('billing_actions_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from subscriptions where subscriptions.id = ${t.subscriptionId})`),
  ],
).enableRLS();

/**
 * One billing run (scheduler or CLI): not tenant data — counts only — so no RLS, like
 * webhook_events. The last finished run feeds /metrics and /ready.
 */
export const billingRuns = pgTable(
  'billing_runs',
  {
    id: id(),
    /** scheduler | cli */
    trigger: text('trigger').notNull(),
    /** The clock the run acted at (`--as-of`). */
    asOf: tstz('as_of').notNull(),
    /** One tenant (CLI --tenant), or null for all. */
    tenantId: uuid('tenant_id'),
    dryRun: boolean('dry_run').notNull().default(false),
    /** RUNNING | SUCCEEDED | FAILED */
    status: text('status').notNull().default('RUNNING'),
    counts: jsonb('counts').$type<Record<string, number>>().notNull().default({}),
    error: text('error'),
    startedAt: tstz('started_at').notNull().defaultNow(),
    finishedAt: tstz('finished_at'),
  },
  (t) => [check('billing_runs_status_check', sql`${t.status} in ('RUNNING', 'SUCCEEDED', 'FAILED')`), index('billing_runs_started_idx').on(t.startedAt)],
);

export type BillingAction = typeof billingActions.$inferSelect;
export type BillingRun = typeof billingRuns.$inferSelect;
export type BillingSettings = typeof billingSettings.$inferSelect;
export type TaxRate = typeof taxRates.$inferSelect;
export type Invoice = typeof invoices.$inferSelect;
export type InvoiceLine = typeof invoiceLines.$inferSelect;
export type CreditNote = typeof creditNotes.$inferSelect;
export type Payment = typeof payments.$inferSelect;
