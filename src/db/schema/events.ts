import { sql } from 'drizzle-orm';
import { bigserial, boolean, check, index, integer, jsonb, pgTable, smallint, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, id, tstz, updatedAt } from './columns.js';
import { eventDeliveryScanPolicy, eventDispatchScanPolicy, tenantIsolationPolicy } from './rls.js';
import { tenantId } from './tenancy.js';

/**
 * The events outbox: one row per domain event (invoice issued, subscription suspended, job failed
 * for good...), written in the SAME transaction as the change that caused it, never sent from
 * there. Delivery (email, webhooks) happens in workers from these rows; `dispatched_at` is set
 * once every delivery of the event has been planned, so a crash in between loses nothing.
 * `seq` orders a tenant's events as they were committed-ish (a bigserial, not gap-free).
 */
export const domainEvents = pgTable(
  'domain_events',
  {
    id: id(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    tenantId: tenantId(),
    /** `noun.verb`, one of modules/events/domain-events.ts's catalogue. */
    type: text('type').notNull(),
    /** The payload schema's version: consumers (webhook receivers) switch on (type, version). */
    version: smallint('version').notNull().default(1),
    /** What the event is about, for lookups ("the events of this invoice"). */
    subjectType: text('subject_type').notNull(),
    subjectId: uuid('subject_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    occurredAt: tstz('occurred_at').notNull().defaultNow(),
    dispatchedAt: tstz('dispatched_at'),
  },
  (t) => [
    check('domain_events_type_check', sql`${t.type} ~ '^[a-z_]+\\.[a-z_]+$'`),
    // Not tenant-scoped on purpose: the dispatcher scans every tenant for undispatched events.
    index('domain_events_undispatched_idx').on(t.seq).where(sql`${t.dispatchedAt} is null`),
    index('domain_events_tenant_seq_idx').on(t.tenantId, t.seq),
    index('domain_events_subject_idx').on(t.tenantId, t.subjectType, t.subjectId),
    tenantIsolationPolicy(t.tenantId),
    eventDispatchScanPolicy(t.dispatchedAt),
  ],
).enableRLS();

export type DomainEventRow = typeof domainEvents.$inferSelect;

export const deliveryChannels = ['email', 'webhook'] as const;
export type DeliveryChannel = (typeof deliveryChannels)[number];
export const deliveryStatuses = ['PENDING', 'SENDING', 'DELIVERED', 'FAILED'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

/**
 * One message to one recipient about one event: planned by the dispatcher in the transaction that
 * marks the event dispatched, sent by a delivery worker afterwards. The unique (event, channel,
 * recipient) key is what makes a reminder go out once however often the dispatcher runs.
 * PENDING (due at `next_attempt_at`) → SENDING (claimed until `lease_until`; a worker that dies
 * leaves it to be claimed again after the lease) → DELIVERED, or FAILED for good.
 */
export const eventDeliveries = pgTable(
  'event_deliveries',
  {
    id: id(),
    tenantId: tenantId(),
    eventId: uuid('event_id')
      .notNull()
      .references(() => domainEvents.id, { onDelete: 'cascade' }),
    channel: text('channel').$type<DeliveryChannel>().notNull(),
    /** A lower-cased email address, or a webhook endpoint's id. */
    recipient: text('recipient').notNull(),
    /** How the message greets them (the customer's or the user's name), fixed when planned. */
    recipientName: text('recipient_name'),
    status: text('status').$type<DeliveryStatus>().notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: tstz('next_attempt_at').notNull().defaultNow(),
    leaseUntil: tstz('lease_until'),
    lastError: text('last_error'),
    /** The SMTP reply code or the HTTP status of the last attempt. */
    lastStatus: integer('last_status'),
    lastLatencyMs: integer('last_latency_ms'),
    /** The first bytes of the last answer (SMTP reply or HTTP body). */
    lastResponse: text('last_response'),
    deliveredAt: tstz('delivered_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('event_deliveries_key_unique').on(t.eventId, t.channel, t.recipient),
    check('event_deliveries_channel_check', sql`${t.channel} in ('email', 'webhook')`),
    check('event_deliveries_status_check', sql`${t.status} in ('PENDING', 'SENDING', 'DELIVERED', 'FAILED')`),
    index('event_deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} in ('PENDING', 'SENDING')`),
    index('event_deliveries_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
    eventDeliveryScanPolicy(t.status),
  ],
).enableRLS();

export type EventDeliveryRow = typeof eventDeliveries.$inferSelect;

/**
 * A tenant's look and voice in the emails mPanel sends for it: sender name, reply-to, brand and
 * the locale dates and money are written in. No row: the tenant's name and mPanel's defaults.
 */
export const notificationSettings = pgTable(
  'notification_settings',
  {
    tenantId: tenantId().primaryKey(),
    senderName: text('sender_name'),
    replyTo: text('reply_to'),
    brandName: text('brand_name'),
    logoUrl: text('logo_url'),
    primaryColor: text('primary_color'),
    footerAddress: text('footer_address'),
    /** A BCP 47 tag (en-GB, fr-FR...), for Intl date and money formats. */
    locale: text('locale').notNull().default('en-US'),
    /** IANA time zone for dates in messages. */
    timeZone: text('time_zone').notNull().default('UTC'),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('notification_settings_color_check', sql`${t.primaryColor} is null or ${t.primaryColor} ~ '^#[0-9a-fA-F]{6}$'`),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

/** A tenant's own wording of one event's email (subject, text and HTML body), checked at save. */
export const notificationTemplates = pgTable(
  'notification_templates',
  {
    id: id(),
    tenantId: tenantId(),
    eventType: text('event_type').notNull(),
    subject: text('subject').notNull(),
    text: text('text').notNull(),
    html: text('html').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('notification_templates_tenant_event_unique').on(t.tenantId, t.eventType), tenantIsolationPolicy(t.tenantId)],
).enableRLS();

/**
 * A URL of the tenant's own systems that receives the events it subscribes to, signed per the
 * Standard Webhooks specification with the endpoint's secret (sealed with SECRETS_ENCRYPTION_KEY,
 * shown once). After a rotation the previous secret also signs until `previous_secret_expires_at`,
 * so receivers can switch without losing messages. `failing_since`: the first failed attempt
 * since the last success; an endpoint failing for WEBHOOK_DISABLE_AFTER is disabled.
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: id(),
    tenantId: tenantId(),
    url: text('url').notNull(),
    description: text('description'),
    /** Domain event types this endpoint receives (non-empty). */
    eventTypes: text('event_types').array().notNull(),
    enabled: boolean('enabled').notNull().default(true),
    secretSealed: text('secret_sealed').notNull(),
    previousSecretSealed: text('previous_secret_sealed'),
    previousSecretExpiresAt: tstz('previous_secret_expires_at'),
    failingSince: tstz('failing_since'),
    disabledAt: tstz('disabled_at'),
    disabledReason: text('disabled_reason'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('webhook_endpoints_event_types_check', sql`cardinality(${t.eventTypes}) > 0`),
    index('webhook_endpoints_tenant_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;

/** One HTTP attempt of a webhook delivery: the endpoint's delivery log (status, latency, excerpt). */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: id(),
    tenantId: tenantId(),
    deliveryId: uuid('delivery_id')
      .notNull()
      .references(() => eventDeliveries.id, { onDelete: 'cascade' }),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    attempt: integer('attempt').notNull(),
    /** The HTTP status, or null when there was no answer (refused, timeout, connection error). */
    status: integer('status'),
    latencyMs: integer('latency_ms').notNull(),
    /** The first characters of the answer's body. */
    response: text('response'),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [
    index('webhook_attempts_delivery_idx').on(t.tenantId, t.deliveryId, t.attempt),
    index('webhook_attempts_endpoint_idx').on(t.tenantId, t.endpointId, t.createdAt),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;
