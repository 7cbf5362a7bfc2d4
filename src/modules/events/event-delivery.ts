import { and, asc, eq, inArray, lte, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { domainEvents, eventDeliveries, type EventDeliveryRow } from '../../db/schema/index.js';
import { EVENT_DISPATCH_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { MailerError, type MailerPort } from '../../providers/mailer.port.js';
import { groupByTenant } from './event-dispatcher.js';
import type { DomainEventType } from './domain-events.js';
import type { EmailTemplate } from './email-template.js';
import { customerLocales, emailAudience, isDomainEventType, loadBranding, loadTemplate, renderEmail, type Branding, type RenderedEmail } from './notification-email.js';
import { loadWebhooks, recordWebhookAttempts, sendLoadedWebhook, targetChecks, type LoadedWebhook, type TargetCheck, type WebhookAttempt, type WebhookSettings } from './webhook-deliveries.js';

/**
 * The delivery workers. Deliveries are claimed in batches, in a committed transaction per tenant
 * (SENDING, attempts + 1, a lease; rows another worker is claiming are skipped, not waited for;
 * what the batch needs is read in the same transaction, so a failed read claims nothing and the
 * rows stay due), sent outside any transaction, and their outcomes recorded in one transaction per tenant, each
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
 * How many due rows a claim looks at per delivery it may take. Workers scan at the same moment and
 * see the same oldest rows; a worker that finds them claimed (or being claimed) by another takes
 * the next due ones among those it scanned instead of coming back empty and sleeping a poll
 * interval while there is work.
 */
const CLAIM_SCAN_FACTOR = 4;

/**
 * Claims due deliveries: per tenant, one UPDATE of at most `limit` due rows among those scanned
 * that no other worker is claiming at this moment (FOR UPDATE SKIP LOCKED: two workers take
 * different rows instead of queueing on the same ones), re-checked as due (compare-and-set).
 * `load` runs in the same transaction with what was claimed (the batch's events and endpoints).
 */
export async function claimDeliveries<T = undefined>(
  db: Database,
  leaseMs: number,
  limit: number,
  now = new Date(),
  load?: (tx: Tx, tenantId: string, claimed: EventDeliveryRow[]) => Promise<T>,
): Promise<{ rows: EventDeliveryRow[]; loaded: T[] }> {
  const claimed: EventDeliveryRow[] = [];
  const loaded: T[] = [];
  for (const [tenantId, ids] of groupByTenant(await dueDeliveries(db, now, limit * CLAIM_SCAN_FACTOR))) {
    const remaining = limit - claimed.length;
    if (remaining <= 0) break;
    await withTenant(db, tenantId, async (tx) => {
      const free = tx
        .select({ id: eventDeliveries.id })
        .from(eventDeliveries)
        .where(and(inArray(eventDeliveries.id, ids), dueCondition(now)))
        .orderBy(asc(eventDeliveries.nextAttemptAt))
        .limit(remaining)
        .for('update', { skipLocked: true });
      const rows = await tx
        .update(eventDeliveries)
        .set({ status: 'SENDING', attempts: sql`${eventDeliveries.attempts} + 1`, leaseUntil: new Date(now.getTime() + leaseMs), updatedAt: now })
        .where(inArray(eventDeliveries.id, free))
        .returning();
      claimed.push(...rows);
      if (load && rows.length > 0) loaded.push(await load(tx, tenantId, rows));
    });
  }
  return { rows: claimed, loaded };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An email delivery's message, rendered from what its batch read (null: the event or its type is gone; error: it could not be rendered). */
type PreparedEmail = { readonly branding: Branding; readonly rendered: RenderedEmail } | { readonly error: string } | null;

/**
 * The messages of one tenant's email deliveries, in that tenant's transaction: the events in one
 * query, the branding once, each event type's template once, the customer recipients' own
 * languages in one query, whatever the batch's size.
 */
async function prepareEmails(tx: Tx, tenantId: string, deliveries: readonly EventDeliveryRow[]): Promise<Map<string, PreparedEmail>> {
  const prepared = new Map<string, PreparedEmail>();
  if (deliveries.length === 0) return prepared;
  const events = await tx.select().from(domainEvents).where(inArray(domainEvents.id, [...new Set(deliveries.map((delivery) => delivery.eventId))]));
  const eventById = new Map(events.map((event) => [event.id, event]));
  const tenantBranding = await loadBranding(tx, tenantId);
  const customerAddresses = deliveries.filter((delivery) => {
    const type = eventById.get(delivery.eventId)?.type;
    return type !== undefined && isDomainEventType(type) && emailAudience[type] === 'customer';
  });
  const locales = await customerLocales(tx, tenantId, customerAddresses.map((delivery) => delivery.recipient));
  const templates = new Map<DomainEventType, EmailTemplate>();
  for (const delivery of deliveries) {
    const event = eventById.get(delivery.eventId);
    if (!event || !isDomainEventType(event.type)) {
      prepared.set(delivery.id, null);
      continue;
    }
    const locale = emailAudience[event.type] === 'customer' ? locales.get(delivery.recipient.toLowerCase()) : undefined;
    const branding = locale ? { ...tenantBranding, locale } : tenantBranding;
    let template = templates.get(event.type);
    if (!template) {
      template = await loadTemplate(tx, tenantId, event.type);
      templates.set(event.type, template);
    }
    const facts = { id: event.id, type: event.type, occurredAt: event.occurredAt, payload: event.payload };
    try {
      prepared.set(delivery.id, { branding, rendered: renderEmail(template, facts, branding, delivery.recipientName ?? delivery.recipient) });
    } catch (error) {
      prepared.set(delivery.id, { error: describe(error) });
    }
  }
  return prepared;
}

async function sendEmail(deps: DeliveryDeps, delivery: EventDeliveryRow, prepared: PreparedEmail): Promise<Attempt> {
  if (!prepared) return { ok: false, permanent: true, status: null, response: null, error: 'the event or its type no longer exists', latencyMs: 0 };
  // Our own failure: temporary, the next attempt may pass.
  if ('error' in prepared) return { ok: false, permanent: false, status: null, response: null, error: prepared.error.slice(0, EXCERPT_CHARS), latencyMs: 0 };
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

/** What a batch's deliveries need, read in their claims' transactions: webhooks' events, endpoints and address check; emails' messages. */
interface Batch {
  readonly webhooks: ReadonlyMap<string, LoadedWebhook>;
  readonly emails: ReadonlyMap<string, PreparedEmail>;
  readonly check: TargetCheck;
}

async function attempt(deps: DeliveryDeps, delivery: EventDeliveryRow, batch: Batch): Promise<Attempt | WebhookAttempt> {
  try {
    // The channel column's check constraint allows these two only.
    if (delivery.channel === 'email') return await sendEmail(deps, delivery, batch.emails.get(delivery.id) ?? null);
    const loaded = batch.webhooks.get(delivery.id) ?? { event: undefined, endpoint: undefined };
    return await sendLoadedWebhook(deps.webhooks, delivery, loaded, batch.check);
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

/**
 * One delivery run: claims a batch of what is due (each tenant's webhook events and endpoints read
 * in its claim's transaction), sends it (at most `concurrency` at a time) and records it per tenant.
 */
export async function deliverDue(deps: DeliveryDeps, options: { limit?: number } = {}): Promise<DeliveryRun> {
  const { rows: claimed, loaded } = await claimDeliveries(deps.db, deps.settings.leaseMs, options.limit ?? deps.settings.concurrency * 10, new Date(), async (tx, tenantId, rows) => ({
    webhooks: await loadWebhooks(tx, rows.filter((delivery) => delivery.channel === 'webhook')),
    emails: await prepareEmails(tx, tenantId, rows.filter((delivery) => delivery.channel === 'email')),
  }));
  const counts = { claimed: claimed.length, delivered: 0, retrying: 0, failed: 0 };
  const batch: Batch = {
    webhooks: new Map(loaded.flatMap(({ webhooks }) => [...webhooks])),
    emails: new Map(loaded.flatMap(({ emails }) => [...emails])),
    check: targetChecks(deps.webhooks),
  };
  const results = new Map<string, { delivery: EventDeliveryRow; result: Attempt | WebhookAttempt }[]>();
  await pool(claimed, deps.settings.concurrency, async (delivery) => {
    append(results, delivery.tenantId, { delivery, result: await attempt(deps, delivery, batch) });
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
