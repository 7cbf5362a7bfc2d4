import { and, arrayContains, eq, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { domainEvents, webhookAttempts, webhookEndpoints, type DomainEventRow, type EventDeliveryRow, type WebhookEndpointRow } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import type { Env } from '../../config/env.js';
import { createSecretBox, type SecretBox } from '../../shared/crypto/secret-box.js';
import type { AddressPolicy } from '../../shared/net/address-guard.js';
import { recordAudit, systemActor } from '../audit/audit.service.js';
import { recordEvent } from './domain-events.js';
import { createHostResolver, postWebhook, resolveWebhookTarget, signWebhook, WebhookTargetRefused, type HostResolver } from './webhook-sender.js';

/**
 * Webhook deliveries: the dispatcher plans one per (event, endpoint subscribed to its type), in the
 * transaction that marks the event dispatched; a delivery worker signs and POSTs it (checking the
 * address again at that moment: a name may resolve elsewhere since the endpoint was saved), logs
 * each attempt on the endpoint, and disables an endpoint that has failed for WEBHOOK_DISABLE_AFTER.
 */

export interface WebhookSettings {
  readonly secrets: SecretBox;
  readonly policy: AddressPolicy;
  readonly resolve: HostResolver;
  readonly timeoutMs: number;
  /** An endpoint failing (no success) for this long is disabled. */
  readonly disableAfterMs: number;
}

type WebhookEnv = Pick<Env, 'SECRETS_ENCRYPTION_KEY' | 'WEBHOOK_ALLOW_LOOPBACK' | 'WEBHOOK_DNS_RESOLVER' | 'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_DISABLE_AFTER'>;

/** The settings as configured (worker, API checks at save). */
export function webhookSettings(env: WebhookEnv): WebhookSettings {
  return {
    secrets: createSecretBox({ key: env.SECRETS_ENCRYPTION_KEY }),
    policy: { allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK },
    resolve: createHostResolver(env.WEBHOOK_DNS_RESOLVER),
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    disableAfterMs: env.WEBHOOK_DISABLE_AFTER * 1000,
  };
}

/** What one webhook attempt came to (the generic part is what event-delivery.ts records on the delivery). */
export interface WebhookAttempt {
  readonly ok: boolean;
  readonly permanent: boolean;
  readonly status: number | null;
  readonly response: string | null;
  readonly error: string | null;
  readonly latencyMs: number;
  /** The endpoint was contacted (or its address refused): the attempt counts for the endpoint's health. */
  readonly counts: boolean;
}

export const secretAad = (endpointId: string) => `webhook_endpoints:${endpointId}:secret`;
export const previousSecretAad = (endpointId: string) => `webhook_endpoints:${endpointId}:previous_secret`;

/** The body every receiver gets: the Standard Webhooks envelope (type, timestamp, data) plus id and version. */
export function webhookBody(event: Pick<DomainEventRow, 'id' | 'type' | 'version' | 'occurredAt' | 'payload'>): string {
  return JSON.stringify({ id: event.id, type: event.type, version: event.version, timestamp: event.occurredAt.toISOString(), data: event.payload });
}

/** The enabled endpoints of the event's tenant that subscribe to its type (the dispatcher's planning). */
export async function subscribedEndpoints(tx: Tx, event: DomainEventRow): Promise<{ id: string }[]> {
  return tx
    .select({ id: webhookEndpoints.id })
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.tenantId, event.tenantId), eq(webhookEndpoints.enabled, true), arrayContains(webhookEndpoints.eventTypes, [event.type])));
}

/** The secrets that sign a message now: the current one, and the previous one until it expires. */
function signingSecrets(settings: WebhookSettings, endpoint: WebhookEndpointRow, now: Date): string[] {
  const secrets = [settings.secrets.openText(endpoint.secretSealed, secretAad(endpoint.id))];
  if (endpoint.previousSecretSealed && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) {
    secrets.push(settings.secrets.openText(endpoint.previousSecretSealed, previousSecretAad(endpoint.id)));
  }
  return secrets;
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Signs and sends one webhook delivery (outside any transaction). */
export async function sendWebhook(db: Database, settings: WebhookSettings, delivery: EventDeliveryRow): Promise<WebhookAttempt> {
  const loaded = await withTenant(db, delivery.tenantId, async (tx) => {
    const [event] = await tx.select().from(domainEvents).where(eq(domainEvents.id, delivery.eventId));
    const [endpoint] = await tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, delivery.recipient));
    return { event, endpoint };
  });
  const skipped = (error: string): WebhookAttempt => ({ ok: false, permanent: true, status: null, response: null, error, latencyMs: 0, counts: false });
  if (!loaded.event) return skipped('the event no longer exists');
  if (!loaded.endpoint) return skipped('the endpoint was deleted');
  if (!loaded.endpoint.enabled) return skipped('the endpoint is disabled');
  const { event, endpoint } = loaded;
  const now = new Date();
  let target: { url: URL; address: string };
  try {
    target = await resolveWebhookTarget(endpoint.url, settings.policy, settings.resolve);
  } catch (error) {
    // Refused (private address, no address, http to a public one): a configuration problem. It
    // fails this delivery for good and counts against the endpoint; nothing was sent.
    if (error instanceof WebhookTargetRefused) return { ok: false, permanent: true, status: null, response: null, error: `refused: ${error.message}`, latencyMs: 0, counts: true };
    throw error;
  }
  const body = webhookBody(event);
  const timestamp = Math.floor(now.getTime() / 1000);
  // The same webhook-id on every attempt: the receiver's idempotency key.
  const signature = signingSecrets(settings, endpoint, now)
    .map((secret) => signWebhook(secret, delivery.id, timestamp, body))
    .join(' ');
  const headers = { 'webhook-id': delivery.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
  const started = performance.now();
  try {
    const answer = await postWebhook(target.url, target.address, headers, body, settings.timeoutMs);
    const latencyMs = Math.round(performance.now() - started);
    const ok = answer.status >= 200 && answer.status < 300;
    return { ok, permanent: false, status: answer.status, response: answer.excerpt, error: ok ? null : `answered ${answer.status}`, latencyMs, counts: true };
  } catch (error) {
    return { ok: false, permanent: false, status: null, response: null, error: describe(error).slice(0, 500), latencyMs: Math.round(performance.now() - started), counts: true };
  }
}

/**
 * In the transaction that records the attempt on the delivery: the endpoint's log row, its health
 * (failing since when), and its disabling once it has failed for `disableAfterMs` — with an audit
 * row and a `webhook_endpoint.disabled` event (emailed to the tenant's admins).
 */
export async function recordWebhookAttempt(tx: Tx, settings: WebhookSettings, delivery: EventDeliveryRow, result: WebhookAttempt, now: Date): Promise<void> {
  // No row lock in the common case (a success on a healthy endpoint): deliveries to one endpoint
  // are recorded in parallel. Health changes below are single conditional updates.
  const [endpoint] = await tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, delivery.recipient));
  if (!endpoint) return;
  await tx.insert(webhookAttempts).values({
    tenantId: delivery.tenantId,
    deliveryId: delivery.id,
    endpointId: endpoint.id,
    attempt: delivery.attempts,
    status: result.status,
    latencyMs: result.latencyMs,
    response: result.response,
    error: result.error,
    createdAt: now,
  });
  if (!result.counts) return;
  if (result.ok) {
    if (endpoint.failingSince) await tx.update(webhookEndpoints).set({ failingSince: null }).where(eq(webhookEndpoints.id, endpoint.id));
    return;
  }
  const [failing] = await tx
    .update(webhookEndpoints)
    .set({ failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${now.toISOString()}::timestamptz)` })
    .where(eq(webhookEndpoints.id, endpoint.id))
    .returning();
  const failingSince = failing?.failingSince ?? now;
  if (!failing?.enabled || now.getTime() - failingSince.getTime() < settings.disableAfterMs) return;
  const reason = `deliveries failed without a success since ${failingSince.toISOString()}; last: ${result.error ?? 'unknown error'}`;
  const [disabled] = await tx
    .update(webhookEndpoints)
    .set({ enabled: false, disabledAt: now, disabledReason: reason.slice(0, 1000), updatedAt: now })
    .where(and(eq(webhookEndpoints.id, endpoint.id), eq(webhookEndpoints.enabled, true)))
    .returning({ id: webhookEndpoints.id });
  // Another attempt's transaction disabled it first: one audit row and one event.
  if (!disabled) return;
  await recordAudit(tx, {
    tenantId: endpoint.tenantId,
    actor: systemActor,
    action: 'webhook_endpoint.disabled',
    targetType: 'webhook_endpoint',
    targetId: endpoint.id,
    before: { enabled: true },
    after: { enabled: false, reason },
  });
  await recordEvent(tx, endpoint.tenantId, {
    type: 'webhook_endpoint.disabled',
    subject: { type: 'webhook_endpoint', id: endpoint.id },
    payload: { endpointId: endpoint.id, url: endpoint.url, failingSince: failingSince.toISOString(), error: (result.error ?? 'unknown error').slice(0, 500) },
  });
}
