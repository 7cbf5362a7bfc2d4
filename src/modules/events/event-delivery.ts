import { and, asc, eq, inArray, lte, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { domainEvents, eventDeliveries, type EventDeliveryRow } from '../../db/schema/index.js';
import { EVENT_DISPATCH_SETTING } from '../../db/schema/rls.js';
import { withTenant } from '../../db/tenant-tx.js';
import { MailerError, type MailerPort } from '../../providers/mailer.port.js';
import { groupByTenant } from './event-dispatcher.js';
import { isDomainEventType, loadBranding, loadTemplate, renderEmail } from './notification-email.js';
import { recordWebhookAttempt, sendWebhook, type WebhookAttempt, type WebhookSettings } from './webhook-deliveries.js';

/**
 * The delivery workers. A delivery is claimed in a committed transaction (SENDING, attempts + 1,
 * a lease), sent outside any transaction, and its outcome recorded only if the claim is still
 * this worker's (same attempt). A worker that dies mid-send leaves the claim to expire: the
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

/** Claims due deliveries (compare-and-set: a row another worker claimed first is not due any more). */
export async function claimDeliveries(db: Database, leaseMs: number, limit: number, now = new Date()): Promise<EventDeliveryRow[]> {
  const claimed: EventDeliveryRow[] = [];
  for (const [tenantId, ids] of groupByTenant(await dueDeliveries(db, now, limit))) {
    const rows = await withTenant(db, tenantId, (tx) =>
      tx
        .update(eventDeliveries)
        .set({ status: 'SENDING', attempts: sql`${eventDeliveries.attempts} + 1`, leaseUntil: new Date(now.getTime() + leaseMs), updatedAt: now })
        .where(and(inArray(eventDeliveries.id, ids), dueCondition(now)))
        .returning(),
    );
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
    const branding = await loadBranding(tx, delivery.tenantId);
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

async function attempt(deps: DeliveryDeps, delivery: EventDeliveryRow): Promise<Attempt | WebhookAttempt> {
  try {
    // The channel column's check constraint allows these two only.
    return delivery.channel === 'email' ? await sendEmail(deps, delivery) : await sendWebhook(deps.db, deps.webhooks, delivery);
  } catch (error) {
    // Our own failure (database, rendering): temporary, the next attempt may pass.
    return { ok: false, permanent: false, status: null, response: null, error: describe(error).slice(0, EXCERPT_CHARS), latencyMs: 0 };
  }
}

/** Records an attempt, if the claim is still this one's; returns the delivery's new status. */
async function record(deps: DeliveryDeps, delivery: EventDeliveryRow, result: Attempt | WebhookAttempt, now = new Date()): Promise<'DELIVERED' | 'PENDING' | 'FAILED' | null> {
  const expired = now.getTime() - delivery.createdAt.getTime() >= deps.settings.maxAgeMs;
  const status = result.ok ? 'DELIVERED' : result.permanent || expired ? 'FAILED' : 'PENDING';
  const rows = await withTenant(deps.db, delivery.tenantId, async (tx) => {
    const updated = await tx
      .update(eventDeliveries)
      .set({
        status,
        leaseUntil: null,
        lastStatus: result.status,
        lastResponse: result.response,
        lastError: result.error,
        lastLatencyMs: result.latencyMs,
        deliveredAt: result.ok ? now : null,
        nextAttemptAt: status === 'PENDING' ? new Date(now.getTime() + retryDelayMs(delivery.attempts, deps.settings.backoffBaseMs)) : delivery.nextAttemptAt,
        updatedAt: now,
      })
      .where(and(eq(eventDeliveries.id, delivery.id), eq(eventDeliveries.status, 'SENDING'), eq(eventDeliveries.attempts, delivery.attempts)))
      .returning({ id: eventDeliveries.id });
    // The endpoint's log and health change with the delivery, and only if the claim was still ours.
    if (updated.length > 0 && 'counts' in result) await recordWebhookAttempt(tx, deps.webhooks, delivery, result, now);
    return updated;
  });
  if (rows.length === 0) return null;
  if (status === 'FAILED') deps.logger.warn({ deliveryId: delivery.id, channel: delivery.channel, error: result.error, status: result.status }, 'event delivery failed for good');
  return status;
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

/** One delivery run: claims what is due and sends it. */
export async function deliverDue(deps: DeliveryDeps, options: { limit?: number } = {}): Promise<DeliveryRun> {
  const claimed = await claimDeliveries(deps.db, deps.settings.leaseMs, options.limit ?? deps.settings.concurrency * 5);
  const counts = { claimed: claimed.length, delivered: 0, retrying: 0, failed: 0 };
  await pool(claimed, deps.settings.concurrency, async (delivery) => {
    const status = await record(deps, delivery, await attempt(deps, delivery));
    if (status === 'DELIVERED') counts.delivered += 1;
    else if (status === 'PENDING') counts.retrying += 1;
    else if (status === 'FAILED') counts.failed += 1;
  });
  return counts;
}
