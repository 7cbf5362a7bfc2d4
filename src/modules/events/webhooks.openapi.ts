import { z } from 'zod';
import { DOMAIN_EVENT_VERSION, domainEventCatalogue, domainEventTypes, type DomainEventType } from './domain-events.js';
import { emailAudience } from './notification-email.js';
import { TEST_EVENT_TYPE } from './webhooks.types.js';

/** What `POST /api/webhook-endpoints/:id/test` sends: no endpoint subscribes to it. */
const testEventPayload = z.strictObject({ endpointId: z.uuid() });

/**
 * The OpenAPI 3.1 `webhooks` section: one entry per domain event type, the request mPanel sends
 * to an endpoint subscribed to it, with the payload schema from the catalogue (so the document
 * and what is sent cannot drift apart) and the Standard Webhooks headers.
 */

const signatureHeaders = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    description: 'The delivery id: the same on every attempt of this delivery (use it to drop duplicates).',
    schema: { type: 'string', format: 'uuid' },
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    description: 'Unix seconds when this attempt was signed. Refuse messages too far from your clock (replays).',
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    description:
      'Space-separated `v1,<base64 HMAC-SHA256>` signatures of `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the base64-decoded part of ' +
      'the endpoint secret after `whsec_` (Standard Webhooks). Two signatures for 24 hours after a rotation: accept the message if one matches.',
    schema: { type: 'string' },
  },
];

function operationIdOf(type: string): string {
  return `webhook${type
    .split(/[._]/)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}`;
}

/** The body of one event type: the envelope with `data` the catalogue's payload schema. */
export function webhookPayloadSchema(type: DomainEventType | typeof TEST_EVENT_TYPE): Record<string, unknown> {
  const { $schema: _dialect, ...data } = z.toJSONSchema(type === TEST_EVENT_TYPE ? testEventPayload : domainEventCatalogue[type], { unrepresentable: 'any' });
  return {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', 'version', 'timestamp', 'data'],
    properties: {
      id: { type: 'string', format: 'uuid', description: 'The event id (the same for every endpoint that receives the event)' },
      type: { type: 'string', const: type },
      version: { type: 'integer', const: DOMAIN_EVENT_VERSION, description: 'The payload schema version: a change a receiver would notice is a new version' },
      timestamp: { type: 'string', format: 'date-time', description: 'When the event happened' },
      data: data,
    },
  };
}

export function webhooksSection(): Record<string, unknown> {
  return Object.fromEntries([
    ...domainEventTypes.map((type): [string, unknown] => {
      const audience = emailAudience[type];
      return [
        type,
        {
          post: {
            operationId: operationIdOf(type),
            summary: `The ${type} event`,
            description:
              `Sent to each enabled endpoint subscribed to ${type}${audience ? ` (also emailed to the ${audience === 'staff' ? "tenant's ADMIN and BILLING users" : 'customer'})` : ''}. ` +
              'A 2xx answer within 10 seconds acknowledges it; anything else (redirects are not followed) is retried with exponential backoff for up to 3 days.',
            tags: ['webhook-endpoints'],
            security: [],
            parameters: signatureHeaders,
            requestBody: { required: true, content: { 'application/json': { schema: webhookPayloadSchema(type) } } },
            responses: {
              '200': { description: 'Received (any 2xx)' },
              default: { description: 'Any answer outside 2xx (or none) is a failure: the delivery is retried' },
            },
          },
        },
      ];
    }),
    [
      TEST_EVENT_TYPE,
      {
        post: {
          operationId: operationIdOf(TEST_EVENT_TYPE),
          summary: `The ${TEST_EVENT_TYPE} event`,
          description:
            'Sent to one endpoint when a user asks for it (POST /api/webhook-endpoints/{id}/test), signed like every delivery. Not subscribable, not retried: ' +
            'the answer (status, duration, error) is returned to the user and kept in the delivery log.',
          tags: ['webhook-endpoints'],
          security: [],
          parameters: signatureHeaders,
          requestBody: { required: true, content: { 'application/json': { schema: webhookPayloadSchema(TEST_EVENT_TYPE) } } },
          responses: {
            '200': { description: 'Received (any 2xx)' },
            default: { description: 'Any answer outside 2xx (or none): the test delivery is FAILED' },
          },
        },
      },
    ],
  ]);
}
