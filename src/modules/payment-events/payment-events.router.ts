import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { checkStripeSignatureHeader, STRIPE_SIGNATURE_HEADER, verifyStripeEvent } from '../../providers/stripe/stripe-webhooks.js';
import type { StripeEvent } from '../../providers/stripe/stripe.port.js';
import type { RouterDeps } from '../router-deps.js';
import { problems } from '../../shared/http/schemas.js';
import { platformHostNames } from '../domains/hosted-names.js';
import { receiveStripeEvent } from './payment-events.service.js';
import { stripeEventBody, stripeWebhookReply } from './payment-events.types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The event as verified by the Stripe webhook route's preValidation hook. */
    stripeEvent?: StripeEvent;
  }
}

/**
 * The largest event accepted (413 beyond). Checkout Session events are a few KB (the objects'
 * lists are not expanded in webhooks); Stripe's own limit on metadata is 50 keys of 500 characters.
 */
export const STRIPE_EVENT_BODY_LIMIT_BYTES = 64 * 1024;

/** POST /api/webhooks/stripe: Stripe's event deliveries, authenticated by their signature only. */
export const paymentEventsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, producer, logger, metrics, customerLinkMailer, payments }) => {
  app.post(
    '/webhooks/stripe',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Receive a Stripe event (signed webhook)',
        description:
          'Authenticated only by the Stripe-Signature header (STRIPE_WEBHOOK_SECRET, 300 s tolerance); a missing or wrong signature is 400 ' +
          'and nothing is stored (a missing or malformed header, or a timestamp outside the window, before the body is read). ' +
          'Bodies over 64 KiB are 413. Events are stored and de-duplicated by id. checkout.session.completed (when paid) and ' +
          'checkout.session.async_payment_succeeded create the order described by the session metadata (mpanel_tenant, mpanel_price_id, ' +
          'mpanel_domain, mpanel_mailboxes) through the same path as POST /api/orders; a session whose metadata names mpanel_invoice_id pays that ' +
          'invoice instead. customer.subscription.*, invoice.*, charge.refunded and charge.dispute.* update STRIPE-mode subscriptions and ' +
          'their mirrored invoices (README "Stripe"): an event older than the applied state is IGNORED. Other types are acknowledged and IGNORED. An event ' +
          'that cannot become an order is answered 200 with status FAILED and the reason, since Stripe would retry any other answer for days.',
        body: stripeEventBody,
        response: { 200: stripeWebhookReply, ...problems(400, 413, 415) },
      },
      config: { public: true },
      bodyLimit: STRIPE_EVENT_BODY_LIMIT_BYTES,
      // Before the body is read: a request without a plausible, fresh signature costs nothing more.
      onRequest: async (request) => {
        const header = request.headers[STRIPE_SIGNATURE_HEADER];
        checkStripeSignatureHeader(typeof header === 'string' ? header : undefined);
      },
      // Before body validation: an unsigned request is 400 whatever its body.
      preValidation: async (request) => {
        const header = request.headers[STRIPE_SIGNATURE_HEADER];
        request.stripeEvent = await verifyStripeEvent(request.rawBody, typeof header === 'string' ? header : undefined, env.STRIPE_WEBHOOK_SECRET);
      },
    },
    async (request) => {
      const event = request.stripeEvent;
      if (!event) throw new Error('POST /webhooks/stripe reached its handler without a verified event');
      const actor = { type: 'WEBHOOK' as const, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
      const log = logger.child({ reqId: request.id });
      const reply = await receiveStripeEvent({ db, producer, logger: log, maxAttempts: env.JOB_MAX_ATTEMPTS, platformNames: platformHostNames(env), portal: { url: env.PORTAL_URL, mailer: customerLinkMailer }, livemode: env.STRIPE_LIVEMODE, payments }, event, actor);
      if (reply.orderId) metrics.ordersReceived.inc({ source: 'stripe', outcome: 'processed' });
      else if (reply.status === 'FAILED') metrics.ordersReceived.inc({ source: 'stripe', outcome: 'rejected' });
      return reply;
    },
  );
};
