import { sql } from 'drizzle-orm';
import { check, index, integer, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import { orders, subscriptions } from './billing.js';
import { createdAt, id, tstz, updatedAt } from './columns.js';
import { jobStatusEnum, jobTypeEnum, type JobStatus } from './enums.js';
import { customerIsolationPolicy, outboxSweepPolicy, tenantIsolationPolicy } from './rls.js';
import { tenantId } from './tenancy.js';

/** One entry of `jobs.history`: a status transition. `at` is an ISO 8601 timestamp. */
export interface JobHistoryEntry {
  status: JobStatus;
  at: string;
  attempt?: number;
  error?: string;
}

/**
 * The outbox and the source of truth for provisioning steps: rows are written in the business
 * transaction, then added to BullMQ with `jobId = jobs.id`; a sweeper re-adds rows left PENDING.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: id(),
    tenantId: tenantId(),
    subscriptionId: uuid('subscription_id').references(() => subscriptions.id),
    orderId: uuid('order_id').references(() => orders.id),
    type: jobTypeEnum('type').notNull(),
    status: jobStatusEnum('status').notNull().default('PENDING'),
    queue: text('queue').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    /** Ids of jobs that must have SUCCEEDED before this one runs. */
    dependsOn: uuid('depends_on')
      .array()
      .notNull()
      .default(sql`'{}'::uuid[]`),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(5),
    lastError: text('last_error'),
    result: jsonb('result').$type<Record<string, unknown>>(),
    history: jsonb('history').$type<JobHistoryEntry[]>().notNull().default([]),
    enqueuedAt: tstz('enqueued_at'),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('jobs_attempts_check', sql`${t.attempts} >= 0 and ${t.maxAttempts} >= 1`),
    // Not tenant-scoped on purpose: the outbox sweeper scans every tenant by (status, updated_at).
    index('jobs_status_updated_idx').on(t.status, t.updatedAt),
    index('jobs_tenant_status_type_idx').on(t.tenantId, t.status, t.type),
    index('jobs_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('jobs_subscription_idx').on(t.subscriptionId),
    index('jobs_order_idx').on(t.orderId),
    tenantIsolationPolicy(t.tenantId),
    // A job of a customer's subscription or order; a tenant-wide job (neither) is staff's only.
    customerIsolationPolicy(sql`exists (select 1 from subscriptions where subscriptions.id = ${t.subscriptionId}) or exists (select 1 from orders where orders.id = ${t.orderId})`),
    outboxSweepPolicy(t.status),
  ],
).enableRLS();

export type Job = typeof jobs.$inferSelect;
export type NewJob = typeof jobs.$inferInsert;
