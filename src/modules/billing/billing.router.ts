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
  billingLogoBody,
  billingLogoResponse,
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
  dunningOverrideBody,
  dunningOverrideResponse,
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
import { deleteBillingLogo, getBillingLogo, LOGO_BODY_LIMIT, putBillingLogo } from './billing-logo.js';
import { getDunningOverride, setDunningOverride, type OverrideTarget } from './dunning-overrides.js';
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
/** The logo as stored: a Buffer skips the serializer. */
const imageFile = z.custom<Buffer>((value) => Buffer.isBuffer(value)).meta({ type: 'string', format: 'binary', description: 'The image (image/png or image/jpeg)' });

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
    '/billing/settings/logo',
    {
      schema: {
        tags,
        summary: "The tenant's logo on invoice and credit note PDFs",
        description: 'The image as uploaded, with its type (image/png or image/jpeg). 404 when there is none.',
        produces: ['image/png', 'image/jpeg'],
        response: { 200: imageFile, ...authProblems },
      },
      config: read,
    },
    async (request, reply) => {
      const logo = await getBillingLogo(db, authOf(request));
      return reply
        .type(logo.contentType)
        .header('cache-control', 'private, no-cache')
        .header('etag', `"${logo.sha256}"`)
        .header('x-content-type-options', 'nosniff')
        .header('content-disposition', 'inline')
        .send(logo.image);
    },
  );
  app.put(
    '/billing/settings/logo',
    {
      schema: {
        tags,
        summary: 'Set the logo printed on invoice and credit note PDFs',
        description:
          'JSON with the PNG or JPEG file base64-encoded in `image`. Checked by its bytes (signature, readable by the PDF renderer, at most 2048 pixels a side); ' +
          'SVG and other formats are refused (400, field body/image); more than 262144 bytes is 413. Stored in the database, never fetched from a URL. ' +
          'Drawn at the top of every PDF rendered from now on, scaled to fit a fixed box. Audited.',
        body: billingLogoBody,
        response: { 200: billingLogoResponse, ...authProblems, ...problems(413) },
      },
      config: write,
      bodyLimit: LOGO_BODY_LIMIT,
    },
    async (request) => putBillingLogo(db, authOf(request), request.body, actorOf(request)),
  );
  app.delete(
    '/billing/settings/logo',
    { schema: { tags, summary: 'Remove the logo from invoice and credit note PDFs', description: 'Audited. 404 when there is none.', response: { 204: deleted, ...authProblems } }, config: write },
    async (request, reply) => {
      await deleteBillingLogo(db, authOf(request), actorOf(request));
      return reply.code(204).send(null);
    },
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

  // A product's or a customer's dunning override: between the tenant's settings and a subscription's own.
  const overrideRoutes = (target: OverrideTarget, path: string, noun: string) => {
    app.get(
      `${path}/:id/dunning-override`,
      { schema: { tags, summary: `A ${noun}'s dunning override`, params: idParams, response: { 200: dunningOverrideResponse, ...authProblems, ...problems(404) } }, config: read },
      async (request) => getDunningOverride(db, authOf(request), target, request.params.id),
    );
    app.put(
      `${path}/:id/dunning-override`,
      {
        schema: {
          tags,
          summary: `Set a ${noun}'s dunning override`,
          description:
            `Dunning settings for the ${noun}'s subscriptions, merged field by field: tenant < product < customer < subscription (the most specific wins). ` +
            "Replaces the whole override; the days must keep their order over the tenant's settings (terminateAfterDays >= suspendAfterDays >= 0, terminationWarningDays <= terminateAfterDays). " +
            'The next billing run looks at the subscriptions concerned again. Audited.',
          params: idParams,
          body: dunningOverrideBody,
          response: { 200: dunningOverrideResponse, ...authProblems, ...problems(404) },
        },
        config: write,
      },
      async (request) => setDunningOverride(db, authOf(request), target, request.params.id, request.body, actorOf(request)),
    );
    app.delete(
      `${path}/:id/dunning-override`,
      {
        schema: { tags, summary: `Remove a ${noun}'s dunning override (the layer below applies again)`, description: 'Audited.', params: idParams, response: { 200: dunningOverrideResponse, ...authProblems, ...problems(404) } },
        config: write,
      },
      async (request) => setDunningOverride(db, authOf(request), target, request.params.id, null, actorOf(request)),
    );
  };
  overrideRoutes('product', '/products', 'product');
  overrideRoutes('customer', '/customers', 'customer');

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
