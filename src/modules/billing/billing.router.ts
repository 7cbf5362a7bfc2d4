import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import {
  createTaxRate,
  getBillingSettings,
  getCustomerBilling,
  listTaxRates,
  updateBillingSettings,
  updateCustomerBilling,
  updateTaxRate,
} from './billing-settings.service.js';
import {
  billingScheduleResponse,
  billingSettingsBody,
  billingSettingsResponse,
  subscriptionBillingBody,
  createInvoiceBody,
  creditNoteBody,
  creditNoteResponse,
  creditNotesPage,
  customerBillingBody,
  customerBillingResponse,
  invoiceResponse,
  invoicesPage,
  listCreditNotesQuery,
  listInvoicesQuery,
  listTaxRatesQuery,
  taxRateBody,
  taxRatePatch,
  taxRateResponse,
  taxRatesPage,
  paymentResponse,
  paymentWebhookBody,
  staffPaymentBody,
  voidInvoiceBody,
} from './billing.types.js';
import { creditNotePdf, invoicePdf } from './invoice-documents.service.js';
import { pdfFile, sendPdf } from '../../shared/http/send-pdf.js';
import { receivePaymentWebhook, recordStaffPayment } from './payments.service.js';
import { getBillingSchedule, updateSubscriptionBilling } from './subscription-billing.service.js';
import { marketingSignedRoute } from '../orders/marketing-signature.js';
import {
  createInvoice,
  creditInvoice,
  deleteDraft,
  getCreditNote,
  getInvoice,
  issueInvoiceById,
  listCreditNotes,
  listInvoices,
  voidInvoiceById,
} from './invoices.service.js';

const tags = ['billing'];
const read = { permission: 'billing:read' } as const;
const write = { permission: 'billing:write' } as const;
const deleted = z.null().meta({ description: 'Deleted' });

/** Invoices, credit notes, tax rates and billing settings: BILLING and ADMIN write, everyone reads. */
export const billingRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env, producer, logger }) => {
  const paymentDeps = (requestId: string) => ({ db, producer, logger: logger.child({ reqId: requestId }), maxAttempts: env.JOB_MAX_ATTEMPTS });

  app.post(
    '/payments',
    {
      schema: {
        tags,
        summary: 'A payment for an invoice (signed webhook, like POST /api/orders)',
        description:
          'Authenticated only by X-Mpanel-Signature (as POST /api/orders: HMAC-SHA256 with MARKETING_WEBHOOK_SECRET over t + "." + raw body, within 300 s). ' +
          'Idempotent on reference: a replay answers 200 with the same body; the same reference with a different body is 409. ' +
          "Paying a renewal invoice extends the subscription's paidThrough by its period, once.",
        security: [{ marketingSignature: [] }],
        body: paymentWebhookBody,
        response: { 201: paymentResponse, 200: paymentResponse, ...problems(400, 401, 404, 409, 413, 415) },
      },
      config: { public: true },
      ...marketingSignedRoute(env.MARKETING_WEBHOOK_SECRET),
    },
    async (request, reply) => {
      const actor = { type: 'WEBHOOK' as const, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
      const result = await receivePaymentWebhook(paymentDeps(request.id), request.body, actor);
      return reply.status(result.created ? 201 : 200).send(result.view);
    },
  );

  app.get(
    '/billing/settings',
    { schema: { tags, summary: "The tenant's billing settings (seller, numbering, lead times)", response: { 200: billingSettingsResponse, ...authProblems } }, config: read },
    async (request) => getBillingSettings(db, authOf(request)),
  );
  app.patch(
    '/billing/settings',
    {
      schema: {
        tags,
        summary: 'Change the billing settings',
        description: 'Applies to documents issued from now on; issued invoices keep the seller and number they were issued with.',
        body: billingSettingsBody,
        response: { 200: billingSettingsResponse, ...authProblems },
      },
      config: write,
    },
    async (request) => updateBillingSettings(db, authOf(request), request.body, actorOf(request)),
  );

  app.get(
    '/subscriptions/:id/billing-schedule',
    {
      schema: {
        tags,
        summary: 'What the billing run will do to this subscription, and when',
        description:
          'A dry run of the billing run for this subscription from now on: the next renewal invoice, reminders, PAST_DUE, overdue notices, suspension, termination, cancellation at period end. ' +
          'Computed by the same policy the run acts on (modules/billing/dunning-policy.ts).',
        params: idParams,
        response: { 200: billingScheduleResponse, ...authProblems, ...problems(404) },
      },
      config: read,
    },
    async (request) => getBillingSchedule(db, authOf(request), request.params.id),
  );
  app.patch(
    '/subscriptions/:id/billing',
    {
      schema: {
        tags,
        summary: "A subscription's billing hold, dunning override, or cancellation at period end",
        description:
          'billingHoldUntil: no dunning action before it. dunningOverride: replaces the tenant dunning settings for this subscription. ' +
          'cancelAtPeriodEnd: no renewal; suspended (reason CANCELLED) when the paid period ends, terminated after cancellationRetentionDays. Audited. Answers the new schedule.',
        params: idParams,
        body: subscriptionBillingBody,
        response: { 200: billingScheduleResponse, ...authProblems, ...problems(404, 409) },
      },
      config: write,
    },
    async (request) => updateSubscriptionBilling(db, authOf(request), request.params.id, request.body, actorOf(request)),
  );

  app.get(
    '/tax-rates',
    { schema: { tags, summary: "The tenant's tax rates, newest first", querystring: listTaxRatesQuery, response: { 200: taxRatesPage, ...authProblems } }, config: read },
    async (request) => listTaxRates(db, authOf(request), request.query),
  );
  app.post(
    '/tax-rates',
    {
      schema: { tags, summary: 'Create a tax rate (one active rate per country, and one default)', body: taxRateBody, response: { 201: taxRateResponse, ...authProblems, ...problems(409) } },
      config: write,
    },
    async (request, reply) => reply.status(201).send(await createTaxRate(db, authOf(request), request.body, actorOf(request))),
  );
  app.patch(
    '/tax-rates/:id',
    {
      schema: { tags, summary: 'Rename, deactivate or reactivate a tax rate', params: idParams, body: taxRatePatch, response: { 200: taxRateResponse, ...authProblems, ...problems(409) } },
      config: write,
    },
    async (request) => updateTaxRate(db, authOf(request), request.params.id, request.body, actorOf(request)),
  );

  app.get(
    '/customers/:id/billing',
    { schema: { tags, summary: "A customer's tax id, country and billing address", params: idParams, response: { 200: customerBillingResponse, ...authProblems } }, config: read },
    async (request) => getCustomerBilling(db, authOf(request), request.params.id),
  );
  app.patch(
    '/customers/:id/billing',
    {
      schema: {
        tags,
        summary: "Change a customer's tax id, country or billing address",
        description: 'Copied onto each invoice when it is issued: invoices already issued keep what they had.',
        params: idParams,
        body: customerBillingBody,
        response: { 200: customerBillingResponse, ...authProblems },
      },
      config: write,
    },
    async (request) => updateCustomerBilling(db, authOf(request), request.params.id, request.body, actorOf(request)),
  );

  app.get(
    '/invoices',
    { schema: { tags, summary: 'Invoices, newest first', querystring: listInvoicesQuery, response: { 200: invoicesPage, ...authProblems } }, config: read },
    async (request) => listInvoices(db, authOf(request), request.query),
  );
  app.post(
    '/invoices',
    {
      schema: {
        tags,
        summary: 'Create a draft invoice',
        description: 'Lines in integer minor units; each line taxed with its rate (default: the rate for the customer country), rounded per line. The number is given at issue.',
        body: createInvoiceBody,
        response: { 201: invoiceResponse, ...authProblems },
      },
      config: write,
    },
    async (request, reply) => reply.status(201).send(await createInvoice(db, authOf(request), request.body, actorOf(request))),
  );
  app.get(
    '/invoices/:id',
    { schema: { tags, summary: 'An invoice with its lines', params: idParams, response: { 200: invoiceResponse, ...authProblems } }, config: read },
    async (request) => getInvoice(db, authOf(request), request.params.id),
  );
  app.get(
    '/invoices/:id/pdf',
    {
      schema: {
        tags,
        summary: 'The invoice as a PDF',
        description:
          "Branded with the tenant's name and colours; the seller and customer as at issue; amounts from the stored minor units in the tenant's locale. " +
          'A draft says DRAFT across the page. The same invoice always gives the same bytes (its issue date is the PDF creation date).',
        params: idParams,
        produces: ['application/pdf'],
        response: { 200: pdfFile, ...authProblems },
      },
      config: read,
    },
    async (request, reply) => sendPdf(reply, await invoicePdf(db, authOf(request), request.params.id)),
  );
  app.delete(
    '/invoices/:id',
    {
      schema: { tags, summary: 'Delete a draft invoice', description: 'An issued invoice is never deleted (409): void it or credit it.', params: idParams, response: { 204: deleted, ...authProblems, ...problems(409) } },
      config: write,
    },
    async (request, reply) => {
      await deleteDraft(db, authOf(request), request.params.id, actorOf(request));
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/invoices/:id/issue',
    {
      schema: {
        tags,
        summary: 'Issue a draft: number, customer details and seller fixed from now on',
        description: "The number comes from the tenant's gap-free sequence (billing settings' format). An issued invoice is immutable: the database refuses changes.",
        params: idParams,
        response: { 200: invoiceResponse, ...authProblems, ...problems(409) },
      },
      config: write,
    },
    async (request) => issueInvoiceById(db, authOf(request), request.params.id, actorOf(request)),
  );
  app.post(
    '/invoices/:id/void',
    {
      schema: { tags, summary: 'Void an unpaid invoice', description: 'A paid or partly paid invoice is corrected with a credit note (409).', params: idParams, body: voidInvoiceBody, response: { 200: invoiceResponse, ...authProblems, ...problems(409) } },
      config: write,
    },
    async (request) => voidInvoiceById(db, authOf(request), request.params.id, request.body.reason, actorOf(request)),
  );
  app.post(
    '/invoices/:id/credit-notes',
    {
      schema: {
        tags,
        summary: 'Credit an issued invoice (its own gap-free sequence)',
        params: idParams,
        body: creditNoteBody,
        response: { 201: creditNoteResponse, ...authProblems, ...problems(409) },
      },
      config: write,
    },
    async (request, reply) => reply.status(201).send(await creditInvoice(db, authOf(request), request.params.id, request.body, actorOf(request))),
  );

  app.post(
    '/invoices/:id/payments',
    {
      schema: {
        tags,
        summary: 'Record a payment received outside mPanel (bank transfer)',
        description: 'Idempotent on reference. Paying the whole amount marks the invoice PAID and, for a renewal, extends paidThrough once.',
        params: idParams,
        body: staffPaymentBody,
        response: { 201: paymentResponse, 200: paymentResponse, ...authProblems, ...problems(409) },
      },
      config: write,
    },
    async (request, reply) => {
      const result = await recordStaffPayment(paymentDeps(request.id), authOf(request).tenantId, request.params.id, request.body, actorOf(request));
      return reply.status(result.created ? 201 : 200).send(result.view);
    },
  );

  app.get(
    '/credit-notes',
    { schema: { tags, summary: 'Credit notes, newest first', querystring: listCreditNotesQuery, response: { 200: creditNotesPage, ...authProblems } }, config: read },
    async (request) => listCreditNotes(db, authOf(request), request.query),
  );
  app.get(
    '/credit-notes/:id/pdf',
    {
      schema: {
        tags,
        summary: 'The credit note as a PDF',
        description: 'Branded like the invoice PDF; names the invoice it credits, with the credited tax.',
        params: idParams,
        produces: ['application/pdf'],
        response: { 200: pdfFile, ...authProblems },
      },
      config: read,
    },
    async (request, reply) => sendPdf(reply, await creditNotePdf(db, authOf(request), request.params.id)),
  );
  app.get(
    '/credit-notes/:id',
    { schema: { tags, summary: 'A credit note', params: idParams, response: { 200: creditNoteResponse, ...authProblems } }, config: read },
    async (request) => getCreditNote(db, authOf(request), request.params.id),
  );
};
