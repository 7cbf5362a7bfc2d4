import { sql } from 'drizzle-orm';
import { bigserial, check, index, jsonb, pgTable, smallint, text, uuid } from 'drizzle-orm/pg-core';
import { id, tstz } from './columns.js';
import { eventDispatchScanPolicy, tenantIsolationPolicy } from './rls.js';
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
