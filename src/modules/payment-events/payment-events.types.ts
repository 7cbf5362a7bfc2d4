import { z } from 'zod';
import { webhookEventStatuses } from '../../db/schema/index.js';

/**
 * The envelope of a Stripe event, for validation after the signature check and for the OpenAPI
 * document. Loose, unlike our own request bodies: the shape is Stripe's, it grows with every API
 * version, and the signature already proves where it came from.
 */
export const stripeEventBody = z
  .looseObject({
    id: z.string().min(1).max(255),
    type: z.string().min(1).max(255),
    data: z.looseObject({ object: z.looseObject({}) }),
  })
  .meta({ id: 'StripeEvent', description: 'A Stripe event (https://docs.stripe.com/api/events/object)' });

export const webhookEventStatus = z.enum(webhookEventStatuses);

export const stripeWebhookReply = z
  .object({
    received: z.literal(true),
    duplicate: z.boolean().meta({ description: 'true when this event id was already handled: nothing was done again' }),
    status: webhookEventStatus.meta({ description: 'PROCESSED, IGNORED (type not handled) or FAILED (the event cannot become an order)' }),
    orderId: z.uuid().optional(),
    error: z.string().optional().meta({ description: 'Why the event was FAILED or IGNORED' }),
  })
  .meta({ id: 'StripeWebhookReply' });
export type StripeWebhookReply = z.output<typeof stripeWebhookReply>;
