import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { createInvoiceCheckout, type PortalPaymentDeps } from './portal-payments.service.js';
import { invoiceCheckout } from './portal-payments.types.js';

/** /api/portal/invoices/:id/checkout: the customer pays an open invoice on a hosted payment page. */
export const portalPaymentsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env, payments }) => {
  const deps: PortalPaymentDeps = { db, payments, successUrl: env.STRIPE_CHECKOUT_SUCCESS_URL, cancelUrl: env.STRIPE_CHECKOUT_CANCEL_URL };
  app.post(
    '/invoices/:id/checkout',
    {
      schema: {
        tags: ['portal billing'],
        summary: 'Pay an open invoice: the hosted payment page to send the customer to',
        description:
          'Only an ISSUED invoice of the signed-in customer (404 for any other, 409 when it is paid, void or nothing is due). An mPanel invoice ' +
          'gets a Stripe Checkout Session for the amount still due (the same one when asked again the same day); its payment arrives as a ' +
          "Stripe event and marks the invoice paid. A STRIPE-mode invoice answers Stripe's own hosted invoice page. 503 when Stripe cannot be reached.",
        params: idParams,
        response: { 200: invoiceCheckout, ...authProblems, ...problems(409, 503) },
      },
      config: { portal: 'portal:billing' },
    },
    async (request) => createInvoiceCheckout(deps, customerOf(request), request.params.id, customerActorOf(request)),
  );
};
