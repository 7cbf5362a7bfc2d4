import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { pdfFile, sendPdf } from '../../shared/http/send-pdf.js';
import { customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { creditNoteDocument, getInvoice, invoiceDocument, listInvoices, setCancelAtPeriodEnd } from './portal-billing.service.js';
import { cancelServiceBody, portalInvoice, portalInvoicesPage, portalInvoicesQuery, serviceCancellation } from './portal-billing.types.js';

const tags = ['portal billing'];
const billing = { portal: 'portal:billing' } as const;

/** /api/portal: the customer's invoices and credit notes (with PDFs), and cancellation at period end. */
export const portalBillingRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
  app.get(
    '/invoices',
    { schema: { tags, summary: "The account's invoices, newest first (drafts are not shown)", querystring: portalInvoicesQuery, response: { 200: portalInvoicesPage, ...authProblems } }, config: billing },
    async (request) => listInvoices(db, customerOf(request), request.query),
  );

  app.get(
    '/invoices/:id',
    { schema: { tags, summary: 'An invoice with its lines and credit notes', params: idParams, response: { 200: portalInvoice, ...authProblems } }, config: billing },
    async (request) => getInvoice(db, customerOf(request), request.params.id),
  );

  app.get(
    '/invoices/:id/pdf',
    {
      schema: { tags, summary: 'The invoice as a PDF', description: 'The same PDF staff get (GET /api/invoices/{id}/pdf).', params: idParams, produces: ['application/pdf'], response: { 200: pdfFile, ...authProblems } },
      config: billing,
    },
    async (request, reply) => sendPdf(reply, await invoiceDocument(db, customerOf(request), request.params.id)),
  );

  app.get(
    '/credit-notes/:id/pdf',
    { schema: { tags, summary: 'A credit note as a PDF', params: idParams, produces: ['application/pdf'], response: { 200: pdfFile, ...authProblems } }, config: billing },
    async (request, reply) => sendPdf(reply, await creditNoteDocument(db, customerOf(request), request.params.id)),
  );

  app.post(
    '/services/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a service at the end of its paid period, or take the cancellation back',
        description:
          'The same change as staff PATCH /api/subscriptions/{id}/billing {cancelAtPeriodEnd}: no renewal invoice; when the paid period ends the service is suspended, and after the retention period it is deleted with its data. ' +
          'Taking it back works until the service was suspended (then 409). Audited with the customer as actor. A Stripe-billed service is cancelled in Stripe (409).',
        params: idParams,
        body: cancelServiceBody,
        response: { 200: serviceCancellation, ...authProblems, ...problems(409) },
      },
      config: billing,
    },
    async (request) => setCancelAtPeriodEnd(db, customerOf(request), customerActorOf(request), request.params.id, request.body.cancelAtPeriodEnd),
  );
};
