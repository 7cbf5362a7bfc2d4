import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RouterDeps } from '../router-deps.js';
import { problems } from '../../shared/http/schemas.js';
import { marketingSignedRoute } from './marketing-signature.js';
import { platformHostNames } from '../domains/hosted-names.js';
import { acceptOrder } from './order-intake.service.js';
import { orderAccepted, orderBody } from './orders.types.js';

/** POST /api/orders: the marketing site's signed order webhook (no user token). */
export const orderIntakeRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, producer, logger, metrics, customerLinkMailer }) => {
  const platformNames = platformHostNames(env);
  app.post(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Accept a paid order from the marketing site (signed webhook)',
        description:
          'Authenticated only by X-Mpanel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(MARKETING_WEBHOOK_SECRET, t + "." + raw body)>, ' +
          'within 300 s of now. A missing or malformed header, or a timestamp outside the window, is 401 before the body is read; ' +
          'bodies over 64 KiB are 413. Idempotent on payment.reference: a replay answers 200 with the same body; ' +
          'the same reference with a different body is 409.',
        security: [{ marketingSignature: [] }],
        body: orderBody,
        response: { 201: orderAccepted, 200: orderAccepted, ...problems(400, 401, 404, 409, 413, 415) },
      },
      config: { public: true },
      ...marketingSignedRoute(env.MARKETING_WEBHOOK_SECRET),
    },
    async (request, reply) => {
      const actor = { type: 'WEBHOOK' as const, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
      const log = logger.child({ reqId: request.id });
      try {
        const result = await acceptOrder({ db, producer, logger: log, maxAttempts: env.JOB_MAX_ATTEMPTS, platformNames, portal: { url: env.PORTAL_URL, mailer: customerLinkMailer } }, request.body, actor);
        metrics.ordersReceived.inc({ source: 'marketing', outcome: result.created ? 'created' : 'replayed' });
        if (result.created) log.info({ orderId: result.body.orderId }, 'order accepted');
        return await reply.status(result.created ? 201 : 200).send(result.body);
      } catch (error) {
        metrics.ordersReceived.inc({ source: 'marketing', outcome: 'rejected' });
        throw error;
      }
    },
  );
};
