import { z } from 'zod';
import { deliveryStatuses } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { domainEventTypes } from './domain-events.js';

export const endpointUrl = z
  .string()
  .min(1)
  .max(2000)
  .meta({ description: 'https:// URL of the receiver. It must resolve to public addresses only (checked at save and again before every delivery); http:// and loopback only in development and tests.' });

const eventTypeList = z
  .array(z.enum(domainEventTypes))
  .min(1)
  .max(domainEventTypes.length)
  .refine((types) => new Set(types).size === types.length, 'must not repeat a type')
  .meta({ description: 'The domain event types this endpoint receives (see the document\'s `webhooks` for each payload)' });

const description = z.string().min(1).max(200).regex(/^[^\r\n]+$/, 'must be one line');

export const createEndpointBody = z.strictObject({
  url: endpointUrl,
  eventTypes: eventTypeList,
  description: description.optional(),
  enabled: z.boolean().optional().meta({ description: 'Default true' }),
});
export type CreateEndpointBody = z.infer<typeof createEndpointBody>;

export const updateEndpointBody = z
  .strictObject({
    url: endpointUrl.optional(),
    eventTypes: eventTypeList.optional(),
    description: description.nullable().optional(),
    enabled: z.boolean().optional().meta({ description: 'true re-enables an endpoint that was disabled after failing' }),
  })
  .refine((body) => Object.keys(body).length > 0, 'must change at least one field');
export type UpdateEndpointBody = z.infer<typeof updateEndpointBody>;

export const endpointParams = z.strictObject({ id: z.uuid() });
export const deliveryParams = z.strictObject({ id: z.uuid(), deliveryId: z.uuid() });

export const endpointView = z.object({
  id: z.uuid(),
  url: z.string(),
  description: z.string().nullable(),
  eventTypes: z.array(z.string()),
  enabled: z.boolean(),
  failingSince: timestamp.nullable().meta({ description: 'First failed attempt since the last success; null when healthy' }),
  disabledAt: timestamp.nullable(),
  disabledReason: z.string().nullable(),
  previousSecretExpiresAt: timestamp.nullable().meta({ description: 'After a rotation, the previous secret also signs until then' }),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type EndpointView = z.infer<typeof endpointView>;

export const endpointWithSecret = endpointView.extend({
  secret: z.string().meta({ description: 'whsec_ + base64 key: shown this once, never again (rotate to get a new one)' }),
});

export const endpointList = z.object({ items: z.array(endpointView) });

export const rotatedSecret = z.object({
  secret: z.string().meta({ description: 'The new secret, shown this once' }),
  previousSecretExpiresAt: timestamp.meta({ description: 'Until then messages carry a signature with each secret' }),
});

export const listDeliveriesQuery = z.strictObject({
  status: z.enum(deliveryStatuses).optional(),
  ...paginationQuery,
});
export type ListDeliveriesQuery = z.output<typeof listDeliveriesQuery>;

export const attemptView = z.object({
  attempt: z.number().int(),
  status: z.number().int().nullable().meta({ description: 'HTTP status; null when there was no answer' }),
  latencyMs: z.number().int(),
  response: z.string().nullable().meta({ description: 'The first 1,000 characters of the answer' }),
  error: z.string().nullable(),
  at: timestamp,
});

export const deliveryView = z.object({
  id: z.uuid().meta({ description: 'Also the webhook-id header: the same on every attempt' }),
  eventId: z.uuid(),
  eventType: z.string(),
  status: z.enum(deliveryStatuses),
  attempts: z.number().int(),
  nextAttemptAt: timestamp.nullable(),
  lastStatus: z.number().int().nullable(),
  lastLatencyMs: z.number().int().nullable(),
  lastResponse: z.string().nullable(),
  lastError: z.string().nullable(),
  deliveredAt: timestamp.nullable(),
  createdAt: timestamp,
});
export type DeliveryView = z.infer<typeof deliveryView>;

export const deliveryPage = pageOf(deliveryView);
export const deliveryDetail = deliveryView.extend({ attemptLog: z.array(attemptView) });

/** The type of the event `POST /:id/test` sends; no endpoint subscribes to it, it goes only where it is asked for. */
export const TEST_EVENT_TYPE = 'webhook.test';

export const testDeliveryView = z.object({
  deliveryId: z.uuid().meta({ description: 'The delivery (also the webhook-id header), in the endpoint\'s delivery log' }),
  eventId: z.uuid(),
  status: z.enum(['DELIVERED', 'FAILED']).meta({ description: 'DELIVERED on a 2xx answer; anything else is FAILED (a test is not retried)' }),
  httpStatus: z.number().int().nullable().meta({ description: 'The HTTP status answered; null when there was no answer (refused address, timeout, connection error)' }),
  durationMs: z.number().int().meta({ description: 'From the request sent to the answer read (0 when nothing was sent)' }),
  response: z.string().nullable().meta({ description: 'The first 1,000 characters of the answer' }),
  error: z.string().nullable(),
});
export type TestDeliveryView = z.infer<typeof testDeliveryView>;
