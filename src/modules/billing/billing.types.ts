import { z } from 'zod';
import { billingModes, invoiceKinds, invoiceStatuses, paymentSources } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { formatProblem } from './document-numbers.js';

/** Money in integer minor units (cents): never a float. */
const minor = (description: string) => z.number().int().meta({ description: `${description}, integer minor units (cents)` });
const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code, upper case').meta({ description: 'ISO 4217, e.g. EUR' });
const countryCode = z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code, upper case');
const text = (max: number) => z.string().trim().min(1).max(max);

export const billingAddress = z
  .strictObject({
    line1: text(200),
    line2: text(200).optional(),
    city: text(100),
    postalCode: text(20).optional(),
    region: text(100).optional(),
    country: countryCode,
  })
  .meta({ id: 'BillingAddress' });

const numberFormat = z
  .string()
  .superRefine((value, ctx) => {
    const problem = formatProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ description: 'Tokens {YYYY} {YY} {MM} and one counter such as {000000}, e.g. INV-{YYYY}-{000000}' });

// ---- billing settings ----

const dayList = (min: number, max: number, description: string) =>
  z
    .array(z.number().int().min(min).max(max))
    .max(6)
    .refine((days) => new Set(days).size === days.length, 'must not repeat a day')
    .meta({ description });

/** The dunning settings (modules/billing/dunning-policy.ts), in days relative to the due date. */
const dunningFields = {
  reminderDays: dayList(1, 60, 'Reminders this many days before the due date, e.g. [7, 1]').optional(),
  overdueNoticeDays: dayList(1, 365, 'Overdue notices this many days after the due date, e.g. [1, 3]').optional(),
  suspendAfterDays: z.number().int().min(0).max(365).optional().meta({ description: 'NON_PAYMENT suspension this many days after the due date' }),
  terminationEnabled: z.boolean().optional().meta({ description: 'Terminate for non-payment (off by default)' }),
  terminateAfterDays: z.number().int().min(0).max(730).optional().meta({ description: 'Termination this many days after the due date (when enabled)' }),
  terminationWarningDays: z.number().int().min(0).max(730).optional().meta({ description: 'A final notice this many days after the due date (when termination is enabled)' }),
};
const dunningView = {
  reminderDays: z.array(z.number().int()),
  overdueNoticeDays: z.array(z.number().int()),
  suspendAfterDays: z.number().int(),
  terminationEnabled: z.boolean(),
  terminateAfterDays: z.number().int(),
  terminationWarningDays: z.number().int(),
};

export const billingSettingsBody = z
  .strictObject({
    sellerName: text(200).nullable().optional(),
    sellerAddress: billingAddress.nullable().optional(),
    sellerTaxId: text(50).nullable().optional(),
    invoiceNumberFormat: numberFormat.optional(),
    creditNoteNumberFormat: numberFormat.optional(),
    renewalLeadDays: z.number().int().min(0).max(60).optional(),
    paymentTermsDays: z.number().int().min(0).max(120).optional(),
    ...dunningFields,
    cancellationRetentionDays: z.number().int().min(0).max(365).optional().meta({ description: 'A subscription cancelled at period end is terminated this many days after it' }),
  })
  .meta({ id: 'BillingSettingsUpdate' });
export type BillingSettingsBody = z.output<typeof billingSettingsBody>;

export const billingSettingsResponse = z
  .object({
    sellerName: z.string().nullable(),
    sellerAddress: billingAddress.nullable(),
    sellerTaxId: z.string().nullable(),
    invoiceNumberFormat: z.string(),
    creditNoteNumberFormat: z.string(),
    renewalLeadDays: z.number().int(),
    paymentTermsDays: z.number().int(),
    ...dunningView,
    cancellationRetentionDays: z.number().int(),
  })
  .meta({ id: 'BillingSettings' });
export type BillingSettingsView = z.output<typeof billingSettingsResponse>;

// ---- the tenant's logo on invoice PDFs ----

export const billingLogoBody = z
  .strictObject({
    image: z.base64().min(1).meta({
      description: 'The PNG or JPEG file, base64-encoded (standard alphabet, padded). At most 262144 bytes decoded (413 above), 2048 pixels a side; SVG, interlaced PNG and other formats are refused (400).',
    }),
  })
  .meta({ id: 'BillingLogoUpload' });
export type BillingLogoBody = z.output<typeof billingLogoBody>;

export const billingLogoResponse = z
  .object({
    contentType: z.enum(['image/png', 'image/jpeg']),
    bytes: z.number().int(),
    width: z.number().int(),
    height: z.number().int(),
    sha256: z.string().meta({ description: 'Hex SHA-256 of the image' }),
    updatedAt: timestamp,
  })
  .meta({ id: 'BillingLogo' });
export type BillingLogoView = z.output<typeof billingLogoResponse>;

// ---- customer billing details ----

export const customerBillingBody = z
  .strictObject({
    taxId: text(50).nullable().optional(),
    country: countryCode.nullable().optional(),
    billingAddress: billingAddress.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'name at least one of taxId, country, billingAddress')
  .meta({ id: 'CustomerBillingDetailsUpdate' });
export type CustomerBillingBody = z.output<typeof customerBillingBody>;

export const customerBillingResponse = z
  .object({ customerId: z.uuid(), taxId: z.string().nullable(), country: z.string().nullable(), billingAddress: billingAddress.nullable() })
  .meta({ id: 'CustomerBillingDetails' });
export type CustomerBillingView = z.output<typeof customerBillingResponse>;

// ---- tax rates ----

export const taxRateBody = z
  .strictObject({
    name: text(100),
    country: countryCode.nullable().default(null).meta({ description: "Customers of this country; null: every customer whose country has no rate of its own" }),
    rateBps: z.number().int().min(0).max(10_000).meta({ description: 'Hundredths of a percent: 2000 = 20.00 %' }),
    inclusive: z.boolean().default(false).meta({ description: 'true: line prices include the tax; false: it is added on top' }),
  })
  .meta({ description: 'A new tax rate' });
export type TaxRateBody = z.output<typeof taxRateBody>;

export const taxRatePatch = z
  .strictObject({ name: text(100).optional(), active: z.boolean().optional() })
  .refine((body) => Object.keys(body).length > 0, 'name or active is required')
  .meta({ id: 'TaxRateUpdate', description: 'A rate in use is never changed: deactivate it and create another' });
export type TaxRatePatch = z.output<typeof taxRatePatch>;

export const taxRateResponse = z
  .object({
    id: z.uuid(),
    name: z.string(),
    country: z.string().nullable(),
    rateBps: z.number().int(),
    inclusive: z.boolean(),
    active: z.boolean(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'TaxRate' });
export type TaxRateView = z.output<typeof taxRateResponse>;
export const taxRatesPage = pageOf(taxRateResponse);
export const listTaxRatesQuery = z.strictObject({ active: z.enum(['true', 'false']).optional(), ...paginationQuery });
export type ListTaxRatesQuery = z.output<typeof listTaxRatesQuery>;

// ---- invoices ----

export const invoiceLineInput = z
  .strictObject({
    description: text(500),
    quantity: z.number().int().min(1).max(100_000).default(1),
    unitAmount: z.number().int().min(-1_000_000_000).max(1_000_000_000).meta({ description: 'Per unit, integer minor units; tax included when the rate is inclusive' }),
    taxRateId: z.uuid().nullable().optional().meta({
      description: "Omitted: the tenant's active rate for the customer's country (or its default rate); null: no tax",
    }),
  })
  .meta({ description: 'A line of a draft invoice' });
export type InvoiceLineInput = z.output<typeof invoiceLineInput>;

export const createInvoiceBody = z
  .strictObject({
    customerId: z.uuid(),
    subscriptionId: z.uuid().optional(),
    currency: currencyCode,
    lines: z.array(invoiceLineInput).min(1).max(100),
    memo: text(1000).optional(),
  })
  .meta({ description: 'A draft invoice; it gets its number when issued' });
export type CreateInvoiceBody = z.output<typeof createInvoiceBody>;

export const voidInvoiceBody = z.strictObject({ reason: text(500) }).meta({ id: 'InvoiceVoid' });

export const invoiceLineResponse = z
  .object({
    id: z.uuid(),
    position: z.number().int(),
    description: z.string(),
    quantity: z.number().int(),
    unitAmount: minor('Per unit'),
    taxRateId: z.uuid().nullable(),
    taxName: z.string().nullable(),
    taxRateBps: z.number().int(),
    taxInclusive: z.boolean(),
    netAmount: minor('Net'),
    taxAmount: minor('Tax'),
    totalAmount: minor('Net + tax'),
  })
  .meta({ id: 'InvoiceLine' });

const partySnapshot = z.object({
  name: z.string(),
  email: z.string().optional(),
  company: z.string().nullable().optional(),
  taxId: z.string().nullable(),
  country: z.string().nullable().optional(),
  address: billingAddress.nullable(),
});

export const invoiceResponse = z
  .object({
    id: z.uuid(),
    number: z.string().nullable().meta({ description: 'Given at issue; null for a draft' }),
    status: z.enum(invoiceStatuses),
    billingMode: z.enum(billingModes).meta({ description: 'STRIPE: a read-only mirror of a Stripe invoice' }),
    kind: z.enum(invoiceKinds),
    customerId: z.uuid(),
    subscriptionId: z.uuid().nullable(),
    currency: z.string(),
    subtotal: minor('Sum of the lines net'),
    taxTotal: minor('Sum of the lines tax'),
    total: minor('subtotal + taxTotal'),
    amountPaid: minor('Received so far'),
    amountDue: minor('total - amountPaid (0 once paid or void)'),
    periodStart: timestamp.nullable(),
    periodEnd: timestamp.nullable(),
    dueAt: timestamp.nullable(),
    issuedAt: timestamp.nullable(),
    paidAt: timestamp.nullable(),
    voidedAt: timestamp.nullable(),
    customer: partySnapshot.nullable().meta({ description: 'The customer as at issue (tax id, billing address); null for a draft' }),
    seller: partySnapshot.nullable(),
    memo: z.string().nullable(),
    hostedUrl: z.string().nullable(),
    pdfUrl: z.string().nullable(),
    lines: z.array(invoiceLineResponse),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Invoice' });
export type InvoiceView = z.output<typeof invoiceResponse>;

export const invoiceSummary = invoiceResponse.omit({ lines: true, customer: true, seller: true }).meta({ id: 'InvoiceSummary' });
export type InvoiceSummaryView = z.output<typeof invoiceSummary>;
export const invoicesPage = pageOf(invoiceSummary);
export type InvoicesPage = z.output<typeof invoicesPage>;

export const listInvoicesQuery = z.strictObject({
  status: z.enum(invoiceStatuses).optional(),
  customerId: z.uuid().optional(),
  subscriptionId: z.uuid().optional(),
  ...paginationQuery,
});
export type ListInvoicesQuery = z.output<typeof listInvoicesQuery>;

// ---- credit notes ----

export const creditNoteBody = z
  .strictObject({
    amount: z.number().int().min(1).optional().meta({ description: 'Total to credit, tax included, integer minor units; default: all not yet credited' }),
    reason: text(500),
  })
  .meta({ id: 'CreditNoteCreate' });
export type CreditNoteBody = z.output<typeof creditNoteBody>;

export const creditNoteResponse = z
  .object({
    id: z.uuid(),
    number: z.string(),
    invoiceId: z.uuid(),
    customerId: z.uuid(),
    currency: z.string(),
    subtotal: minor('Net credited'),
    taxTotal: minor('Tax credited'),
    total: minor('subtotal + taxTotal'),
    reason: z.string(),
    sourceReference: z.string().nullable(),
    issuedAt: timestamp,
    createdAt: timestamp,
  })
  .meta({ id: 'CreditNote' });
export type CreditNoteView = z.output<typeof creditNoteResponse>;
export const creditNotesPage = pageOf(creditNoteResponse);
export const listCreditNotesQuery = z.strictObject({ invoiceId: z.uuid().optional(), ...paginationQuery });
export type ListCreditNotesQuery = z.output<typeof listCreditNotesQuery>;

// ---- payments ----

export const staffPaymentBody = z
  .strictObject({
    amount: z.number().int().min(1).meta({ description: 'Integer minor units' }),
    currency: currencyCode,
    reference: text(200).meta({ description: 'The bank transfer reference: the idempotency key' }),
    receivedAt: z.iso.datetime({ offset: true }).optional(),
  })
  .meta({ id: 'StaffPayment' });
export type StaffPaymentBody = z.output<typeof staffPaymentBody>;

export const paymentResponse = z
  .object({
    id: z.uuid(),
    invoiceId: z.uuid(),
    source: z.enum(paymentSources),
    reference: z.string(),
    amount: minor('Received'),
    currency: z.string(),
    receivedAt: timestamp,
    invoiceStatus: z.enum(invoiceStatuses),
    subscriptionPaidThrough: timestamp.nullable().meta({ description: "The subscription's paidThrough after this payment" }),
  })
  .meta({ id: 'Payment' });
export type PaymentView = z.output<typeof paymentResponse>;

export const paymentWebhookBody = z
  .strictObject({
    tenant: z.string().min(1).max(63).optional().meta({ description: 'Tenant slug; optional when the install has one tenant' }),
    invoiceId: z.uuid(),
    reference: text(200).meta({ description: "The payment provider's reference: the idempotency key" }),
    amount: z.number().int().min(1).meta({ description: 'Integer minor units' }),
    currency: currencyCode,
    paidAt: z.iso.datetime({ offset: true }).optional(),
  })
  .meta({ id: 'PaymentWebhook' });
export type PaymentWebhookBody = z.output<typeof paymentWebhookBody>;

// ---- a subscription's billing: hold, dunning override, cancellation, schedule ----

export const subscriptionBillingBody = z
  .strictObject({
    billingHoldUntil: z.iso
      .datetime({ offset: true })
      .nullable()
      .optional()
      .meta({ description: 'No dunning action (notice, PAST_DUE, suspension, termination) before this instant; null lifts the hold' }),
    dunningOverride: z
      .strictObject(dunningFields)
      .nullable()
      .optional()
      .meta({ description: "Replaces the tenant's dunning settings for this subscription (fields left out: the tenant's); null removes the override" }),
    cancelAtPeriodEnd: z
      .boolean()
      .optional()
      .meta({ description: 'true: no renewal; suspended (CANCELLED) when the paid period ends and terminated after the retention. Immediate cancellation is POST /api/subscriptions/{id}/terminate' }),
  })
  .refine((body) => Object.keys(body).length > 0, 'name at least one of billingHoldUntil, dunningOverride, cancelAtPeriodEnd')
  .meta({ id: 'SubscriptionBillingUpdate' });
export type SubscriptionBillingBody = z.output<typeof subscriptionBillingBody>;

// ---- product and customer dunning overrides ----

export const dunningOverrideBody = z
  .strictObject(dunningFields)
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'name at least one setting (DELETE removes the override)')
  .meta({
    id: 'DunningOverrideUpdate',
    description:
      "Replaces the override (fields left out: the layer below's). Merged field by field: tenant < product < customer < subscription, the most specific wins. Same bounds as a subscription's override.",
  });
export type DunningOverrideBody = z.output<typeof dunningOverrideBody>;

const dunningOverrideView = z.object(dunningFields).nullable();

export const dunningOverrideResponse = z
  .object({ id: z.uuid().meta({ description: 'The product or customer' }), dunningOverride: dunningOverrideView.meta({ description: 'null: none (the layer below applies)' }) })
  .meta({ id: 'DunningOverride' });
export type DunningOverrideView = z.output<typeof dunningOverrideResponse>;

const dunningSource = z.enum(['tenant', 'product', 'customer', 'subscription']);

export const billingScheduleResponse = z
  .object({
    subscriptionId: z.uuid(),
    billingMode: z.enum(billingModes),
    status: z.string(),
    paidThrough: timestamp.nullable(),
    billingHoldUntil: timestamp.nullable(),
    cancelAtPeriodEnd: z.boolean(),
    dunningOverride: dunningOverrideView.meta({ description: "The subscription's own override" }),
    dunningOverrides: z
      .object({ product: dunningOverrideView, customer: dunningOverrideView })
      .meta({ description: "The overrides of the subscription's product and customer, under its own (tenant < product < customer < subscription)" }),
    settings: z.object({ renewalLeadDays: z.number().int(), paymentTermsDays: z.number().int(), cancellationRetentionDays: z.number().int(), ...dunningView }),
    settingSources: z
      .object({
        reminderDays: dunningSource,
        overdueNoticeDays: dunningSource,
        suspendAfterDays: dunningSource,
        terminationEnabled: dunningSource,
        terminateAfterDays: dunningSource,
        terminationWarningDays: dunningSource,
      })
      .meta({ description: 'Where each effective dunning setting comes from: the most specific layer that sets it' }),
    openInvoice: z.object({ id: z.uuid(), number: z.string().nullable(), status: z.enum(invoiceStatuses), dueAt: timestamp.nullable() }).nullable(),
    steps: z.array(
      z.object({
        action: z.string().meta({ description: 'issue_renewal, reminder, past_due, overdue, suspend, termination_warning, terminate, recover, cancel_suspend, cancel_terminate' }),
        at: timestamp,
        outcome: z.enum(['DONE', 'SKIPPED']).meta({ description: 'DONE: it will happen; SKIPPED: superseded (a later notice of the same kind is due too)' }),
        rule: z.string(),
      }),
    ),
  })
  .meta({ id: 'BillingSchedule', description: 'What the billing run will do to this subscription, and when (a dry run): steps from now on, in order' });
export type BillingScheduleView = z.output<typeof billingScheduleResponse>;
