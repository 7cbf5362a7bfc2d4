import { and, asc, eq, inArray, lte, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { domainEvents, eventDeliveries, type EventDeliveryRow } from '../../db/schema/index.js';
import { EVENT_DISPATCH_SETTING } from '../../db/schema/rls.js';
import { withTenant } from '../../db/tenant-tx.js';
import { MailerError, type MailerPort } from '../../providers/mailer.port.js';
import { groupByTenant } from './event-dispatcher.js';
import { emailAudience, isDomainEventType, loadBranding, loadTemplate, renderEmail } from './notification-email.js';
import { loadWebhooks, recordWebhookAttempts, sendLoadedWebhook, targetChecks, type LoadedWebhook, type TargetCheck, type WebhookAttempt, type WebhookSettings } from './webhook-deliveries.js';

/**
 * The delivery workers. Deliveries are claimed in batches, in a committed transaction per tenant
 * (SENDING, attempts + 1, a lease; rows another worker is claiming are skipped, not waited for),
 * sent outside any transaction, and their outcomes recorded in one transaction per tenant, each
 * only if its claim is still this worker's (same attempt). A worker that dies mid-send leaves the claim to expire: the
 * delivery is sent again with the same Message-ID / webhook-id, so the rare resend after a
 * message was accepted but before it was recorded is recognisable downstream; a message the
 * server had not accepted yet (the usual case: killed while talking) is simply sent once.
 */
export interface DeliverySettings {
  readonly leaseMs: number;
  /** Temporary failures are retried until a delivery is this old, then it fails for good. */
  readonly maxAgeMs: number;
  readonly backoffBaseMs: number;
  readonly concurrency: number;
}

export interface DeliveryDeps {
  readonly db: Database;
  readonly mailer: MailerPort;
  /** The envelope address notifications are sent from (EMAIL_FROM); the tenant names the sender. */
  readonly emailFrom: string;
  readonly logger: Logger;
  readonly settings: DeliverySettings;
  /** Signing, the address guard and the endpoints' health (modules/events/webhook-deliveries.ts). */
  readonly webhooks: WebhookSettings;
}

export interface DeliveryRun {
  readonly claimed: number;
  readonly delivered: number;
  readonly retrying: number;
  readonly failed: number;
}

/** What one attempt came to, as recorded on the delivery. */
interface Attempt {
  readonly ok: boolean;
  readonly permanent: boolean;
  readonly status: number | null;
  readonly response: string | null;
  readonly error: string | null;
  readonly latencyMs: number;
}

const MAX_BACKOFF_MS = 6 * 3600_000;
const EXCERPT_CHARS = 500;

export function retryDelayMs(attempts: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempts - 1), MAX_BACKOFF_MS);
}

function dueCondition(now: Date) {
  return or(
    and(eq(eventDeliveries.status, 'PENDING'), lte(eventDeliveries.nextAttemptAt, now)),
    and(eq(eventDeliveries.status, 'SENDING'), lte(eventDeliveries.leaseUntil, now)),
  );
}

async function dueDeliveries(db: Database, now: Date, limit: number): Promise<{ id: string; tenantId: string }[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${EVENT_DISPATCH_SETTING}, 'on', true)`);
    return tx
      .select({ id: eventDeliveries.id, tenantId: eventDeliveries.tenantId })
      .from(eventDeliveries)
      .where(dueCondition(now))
      .orderBy(asc(eventDeliveries.nextAttemptAt))
      .limit(limit);
  });
}

/**
 * Claims due deliveries: per tenant, one UPDATE of the due rows among those scanned that no other
 * worker is claiming at this moment (FOR UPDATE SKIP LOCKED: two workers take different rows
 * instead of queueing on the same ones), re-checked as due (compare-and-set).
 */
export async function claimDeliveries(db: Database, leaseMs: number, limit: number, now = new Date()): Promise<EventDeliveryRow[]> {
  const claimed: EventDeliveryRow[] = [];
  for (const [tenantId, ids] of groupByTenant(await dueDeliveries(db, now, limit))) {
    const rows = await withTenant(db, tenantId, (tx) => {
      const free = tx
        .select({ id: eventDeliveries.id })
        .from(eventDeliveries)
        .where(and(inArray(eventDeliveries.id, ids), dueCondition(now)))
        .for('update', { skipLocked: true });
      return tx
        .update(eventDeliveries)
        .set({ status: 'SENDING', attempts: sql`${eventDeliveries.attempts} + 1`, leaseUntil: new Date(now.getTime() + leaseMs), updatedAt: now })
        .where(inArray(eventDeliveries.id, free))
        .returning();
    });
    claimed.push(...rows);
  }
  return claimed;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function sendEmail(deps: DeliveryDeps, delivery: EventDeliveryRow): Promise<Attempt> {
  const prepared = await withTenant(deps.db, delivery.tenantId, async (tx) => {
    const [event] = await tx.select().from(domainEvents).where(eq(domainEvents.id, delivery.eventId));
    if (!event || !isDomainEventType(event.type)) return null;
    const reader = emailAudience[event.type] === 'customer' ? { customerEmail: delivery.recipient } : undefined;
    const branding = await loadBranding(tx, delivery.tenantId, reader);
    const template = await loadTemplate(tx, delivery.tenantId, event.type);
    const facts = { id: event.id, type: event.type, occurredAt: event.occurredAt, payload: event.payload };
    return { branding, rendered: renderEmail(template, facts, branding, delivery.recipientName ?? delivery.recipient) };
  });
  if (!prepared) return { ok: false, permanent: true, status: null, response: null, error: 'the event or its type no longer exists', latencyMs: 0 };
  const { branding, rendered } = prepared;
  const started = performance.now();
  try {
    const receipt = await deps.mailer.send({
      from: { name: branding.senderName, address: deps.emailFrom },
      to: delivery.recipient,
      ...(branding.replyTo ? { replyTo: branding.replyTo } : {}),
      ...rendered,
      // The same on every attempt: a resend after a lost acknowledgement is a recognisable duplicate.
      messageId: `<${delivery.id}@mpanel>`,
      headers: { 'X-Mpanel-Event': delivery.eventId },
    });
    return { ok: true, permanent: false, status: receipt.code, response: receipt.response.slice(0, EXCERPT_CHARS), error: null, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started);
    if (error instanceof MailerError) return { ok: false, permanent: error.permanent, status: error.code, response: null, error: error.message.slice(0, EXCERPT_CHARS), latencyMs };
    throw error;
  }
}

/** What a webhook delivery needs, read once for its batch: the event and endpoint, and the endpoint's address check. */
interface WebhookBatch {
  readonly loaded: ReadonlyMap<string, LoadedWebhook>;
  readonly check: TargetCheck;
}

async function attempt(deps: DeliveryDeps, delivery: EventDeliveryRow, webhooks: WebhookBatch): Promise<Attempt | WebhookAttempt> {
  try {
    // The channel column's check constraint allows these two only.
    if (delivery.channel === 'email') return await sendEmail(deps, delivery);
    const loaded = webhooks.loaded.get(delivery.id) ?? { event: undefined, endpoint: undefined };
    return await sendLoadedWebhook(deps.webhooks, delivery, loaded, webhooks.check);
  } catch (error) {
    // Our own failure (database, rendering): temporary, the next attempt may pass.
    return { ok: false, permanent: false, status: null, response: null, error: describe(error).slice(0, EXCERPT_CHARS), latencyMs: 0 };
  }
}

type Outcome = 'DELIVERED' | 'PENDING' | 'FAILED';

/**
 * Records the attempts of one tenant's deliveries in one transaction: one UPDATE for all of them
 * (each only if its claim is still this one's: SENDING, same attempt), then the webhook attempts'
 * log and their endpoints' health. Returns each recorded delivery's new status.
 */
async function recordAll(deps: DeliveryDeps, tenantId: string, results: readonly { delivery: EventDeliveryRow; result: Attempt | WebhookAttempt }[], now = new Date()): Promise<Map<string, Outcome>> {
  const planned = results.map(({ delivery, result }) => {
    const expired = now.getTime() - delivery.createdAt.getTime() >= deps.settings.maxAgeMs;
    const status: Outcome = result.ok ? 'DELIVERED' : result.permanent || expired ? 'FAILED' : 'PENDING';
    const nextAttemptAt = status === 'PENDING' ? new Date(now.getTime() + retryDelayMs(delivery.attempts, deps.settings.backoffBaseMs)) : delivery.nextAttemptAt;
    return { delivery, result, status, nextAttemptAt };
  });
  const recorded = await withTenant(deps.db, tenantId, async (tx) => {
    const values = planned.map(
      ({ delivery, result, status, nextAttemptAt }) =>
        sql`(${delivery.id}::uuid, ${delivery.attempts}::int, ${status}::text, ${result.status}::int, ${result.response}::text, ${result.error}::text, ${result.latencyMs}::int, ${result.ok ? now.toISOString() : null}::timestamptz, ${nextAttemptAt.toISOString()}::timestamptz)`,
    );
    const updated = await tx.execute<{ id: string }>(sql`
      update ${eventDeliveries} as d
         set status = v.status, lease_until = null, last_status = v.last_status, last_response = v.last_response,
             last_error = v.last_error, last_latency_ms = v.latency, delivered_at = v.delivered_at,
             next_attempt_at = v.next_attempt_at, updated_at = ${now.toISOString()}::timestamptz
        from (values ${sql.join(values, sql`, `)}) as v(id, attempts, status, last_status, last_response, last_error, latency, delivered_at, next_attempt_at)
       where d.id = v.id and d.status = 'SENDING' and d.attempts = v.attempts
      returning d.id`);
    const ours = new Set(updated.rows.map((row) => row.id));
    // The endpoints' log and health change with the deliveries, and only where the claim was still ours.
    const webhookAttempts = planned.flatMap(({ delivery, result }) => (ours.has(delivery.id) && 'counts' in result ? [{ delivery, result }] : []));
    await recordWebhookAttempts(tx, deps.webhooks, webhookAttempts, now);
    return ours;
  });
  const outcomes = new Map<string, Outcome>();
  for (const { delivery, result, status } of planned) {
    if (!recorded.has(delivery.id)) continue;
    outcomes.set(delivery.id, status);
    if (status === 'FAILED') deps.logger.warn({ deliveryId: delivery.id, channel: delivery.channel, error: result.error, status: result.status }, 'event delivery failed for good');
  }
  return outcomes;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  });
  await Promise.all(lanes);
}

/** One delivery run: claims a batch of what is due, sends it (at most `concurrency` at a time) and records it per tenant. */
export async function deliverDue(deps: DeliveryDeps, options: { limit?: number } = {}): Promise<DeliveryRun> {
  const claimed = await claimDeliveries(deps.db, deps.settings.leaseMs, options.limit ?? deps.settings.concurrency * 10);
  const counts = { claimed: claimed.length, delivered: 0, retrying: 0, failed: 0 };
  const byTenant = new Map<string, EventDeliveryRow[]>();
  for (const delivery of claimed) append(byTenant, delivery.tenantId, delivery);
  const loaded = new Map<string, LoadedWebhook>();
  for (const [tenantId, deliveries] of byTenant) {
    try {
      for (const [id, webhook] of await loadWebhooks(deps.db, tenantId, deliveries.filter((delivery) => delivery.channel === 'webhook'))) loaded.set(id, webhook);
    } catch (error) {
      // Not loaded: each of these deliveries fails this attempt as temporary (our own failure).
      deps.logger.warn({ err: error, tenantId }, 'could not load webhook deliveries; they are retried');
    }
  }
  const webhooks: WebhookBatch = { loaded, check: targetChecks(deps.webhooks) };
  const results = new Map<string, { delivery: EventDeliveryRow; result: Attempt | WebhookAttempt }[]>();
  await pool(claimed, deps.settings.concurrency, async (delivery) => {
    const result = delivery.channel === 'webhook' && !loaded.has(delivery.id) ? notLoaded : await attempt(deps, delivery, webhooks);
    append(results, delivery.tenantId, { delivery, result });
  });
  for (const [tenantId, attempts] of results) {
    let outcomes: Map<string, Outcome>;
    try {
      outcomes = await recordAll(deps, tenantId, attempts);
    } catch (error) {
      // Not recorded: the claims expire and the deliveries are sent again (at least once).
      deps.logger.warn({ err: error, tenantId }, 'could not record event deliveries; they are sent again after their lease');
      continue;
    }
    for (const status of outcomes.values()) {
      if (status === 'DELIVERED') counts.delivered += 1;
      else if (status === 'PENDING') counts.retrying += 1;
      else counts.failed += 1;
    }
  }
  return counts;
}

function append<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

const notLoaded: Attempt = { ok: false, permanent: false, status: null, response: null, error: 'the delivery could not be loaded', latencyMs: 0 };
