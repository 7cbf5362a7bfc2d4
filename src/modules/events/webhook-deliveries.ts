import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { domainEvents, webhookAttempts, webhookEndpoints, type DomainEventRow, type EventDeliveryRow, type WebhookEndpointRow } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import type { Env } from '../../config/env.js';
import { createSecretBox, type SecretBox } from '../../shared/crypto/secret-box.js';
import type { AddressPolicy } from '../../shared/net/address-guard.js';
import { recordAudit, systemActor } from '../audit/audit.service.js';
import { recordEvent } from './domain-events.js';
import { createHostResolver, postWebhook, resolveWebhookTarget, signWebhook, WebhookAgents, WebhookTargetRefused, type HostResolver } from './webhook-sender.js';

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
  /** Kept-alive connections per checked target (none: one connection per delivery). */
  readonly agents?: WebhookAgents | undefined;
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
    agents: new WebhookAgents(),
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

/** The enabled endpoints of the transaction's tenant and their event types (the dispatcher plans a batch of events with them). */
export async function enabledEndpoints(tx: Tx): Promise<{ id: string; eventTypes: string[] }[]> {
  return tx.select({ id: webhookEndpoints.id, eventTypes: webhookEndpoints.eventTypes }).from(webhookEndpoints).where(eq(webhookEndpoints.enabled, true));
}

/**
 * The endpoint rows' secrets, opened once per row: a batch's deliveries to one endpoint share the
 * row read with the batch, so the secret is decrypted once per batch, not once per delivery.
 */
const openedSecrets = new WeakMap<WebhookEndpointRow, { current: string; previous: string | null }>();

/** The secrets that sign a message now: the current one, and the previous one until it expires. */
function signingSecrets(settings: WebhookSettings, endpoint: WebhookEndpointRow, now: Date): string[] {
  let opened = openedSecrets.get(endpoint);
  if (!opened) {
    opened = {
      current: settings.secrets.openText(endpoint.secretSealed, secretAad(endpoint.id)),
      previous: endpoint.previousSecretSealed ? settings.secrets.openText(endpoint.previousSecretSealed, previousSecretAad(endpoint.id)) : null,
    };
    openedSecrets.set(endpoint, opened);
  }
  const secrets = [opened.current];
  if (opened.previous !== null && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now) secrets.push(opened.previous);
  return secrets;
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A delivery's event and endpoint, read when it was claimed. */
export interface LoadedWebhook {
  readonly event: DomainEventRow | undefined;
  readonly endpoint: WebhookEndpointRow | undefined;
}

/** The events and endpoints of one tenant's webhook deliveries, in that tenant's transaction (two queries for the batch). */
export async function loadWebhooks(tx: Tx, deliveries: readonly EventDeliveryRow[]): Promise<Map<string, LoadedWebhook>> {
  const loaded = new Map<string, LoadedWebhook>();
  if (deliveries.length === 0) return loaded;
  const events = await tx.select().from(domainEvents).where(inArray(domainEvents.id, [...new Set(deliveries.map((delivery) => delivery.eventId))]));
  const endpoints = await tx.select().from(webhookEndpoints).where(inArray(webhookEndpoints.id, [...new Set(deliveries.map((delivery) => delivery.recipient))]));
  const eventById = new Map(events.map((event) => [event.id, event]));
  const endpointById = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
  for (const delivery of deliveries) loaded.set(delivery.id, { event: eventById.get(delivery.eventId), endpoint: endpointById.get(delivery.recipient) });
  return loaded;
}

/** Where an endpoint's URL may be reached now: resolved and checked once per batch of deliveries (the batch is sent at once). */
export type TargetCheck = (endpoint: WebhookEndpointRow) => Promise<{ url: URL; address: string }>;

export function targetChecks(settings: WebhookSettings): TargetCheck {
  const checked = new Map<string, Promise<{ url: URL; address: string }>>();
  return (endpoint) => {
    let target = checked.get(endpoint.url);
    if (!target) {
      target = resolveWebhookTarget(endpoint.url, settings.policy, settings.resolve);
      // A refusal is answered to each delivery that asks; nothing is left unhandled.
      target.catch(() => undefined);
      checked.set(endpoint.url, target);
    }
    return target;
  };
}

/** Signs and sends one webhook delivery (outside any transaction). */
export async function sendWebhook(db: Database, settings: WebhookSettings, delivery: EventDeliveryRow): Promise<WebhookAttempt> {
  const loaded = (await withTenant(db, delivery.tenantId, (tx) => loadWebhooks(tx, [delivery]))).get(delivery.id) ?? { event: undefined, endpoint: undefined };
  return sendLoadedWebhook(settings, delivery, loaded, targetChecks(settings));
}

/** Signs and sends one delivery whose event and endpoint were loaded with its batch, to the address just checked. */
export async function sendLoadedWebhook(settings: WebhookSettings, delivery: EventDeliveryRow, loaded: LoadedWebhook, check: TargetCheck): Promise<WebhookAttempt> {
  const skipped = (error: string): WebhookAttempt => ({ ok: false, permanent: true, status: null, response: null, error, latencyMs: 0, counts: false });
  if (!loaded.event) return skipped('the event no longer exists');
  if (!loaded.endpoint) return skipped('the endpoint was deleted');
  if (!loaded.endpoint.enabled) return skipped('the endpoint is disabled');
  const { event, endpoint } = loaded;
  const now = new Date();
  let target: { url: URL; address: string };
  try {
    target = await check(endpoint);
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
    const answer = await postWebhook(target.url, target.address, headers, body, settings.timeoutMs, settings.agents);
    const latencyMs = Math.round(performance.now() - started);
    const ok = answer.status >= 200 && answer.status < 300;
    return { ok, permanent: false, status: answer.status, response: answer.excerpt, error: ok ? null : `answered ${answer.status}`, latencyMs, counts: true };
  } catch (error) {
    return { ok: false, permanent: false, status: null, response: null, error: describe(error).slice(0, 500), latencyMs: Math.round(performance.now() - started), counts: true };
  }
}

/**
 * The attempts of a batch of one tenant's deliveries, in the transaction that records them on the
 * deliveries (only those whose claim was still this worker's): the log rows in one insert, then
 * each endpoint's health from its attempts in the order they finished (one update at most per
 * endpoint, none for successes on a healthy endpoint), and its disabling once it has failed for
 * `disableAfterMs` — with an audit row and a `webhook_endpoint.disabled` event (emailed to the
 * tenant's admins).
 */
export async function recordWebhookAttempts(tx: Tx, settings: WebhookSettings, attempts: readonly { delivery: EventDeliveryRow; result: WebhookAttempt }[], now: Date): Promise<void> {
  if (attempts.length === 0) return;
  const endpoints = await tx.select().from(webhookEndpoints).where(inArray(webhookEndpoints.id, [...new Set(attempts.map(({ delivery }) => delivery.recipient))]));
  const byId = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
  const logged = attempts.filter(({ delivery }) => byId.has(delivery.recipient));
  if (logged.length === 0) return;
  await tx.insert(webhookAttempts).values(
    logged.map(({ delivery, result }) => ({
      tenantId: delivery.tenantId,
      deliveryId: delivery.id,
      endpointId: delivery.recipient,
      attempt: delivery.attempts,
      status: result.status,
      latencyMs: result.latencyMs,
      response: result.response,
      error: result.error,
      createdAt: now,
    })),
  );
  for (const endpoint of endpoints) {
    const counted = logged.filter(({ delivery, result }) => delivery.recipient === endpoint.id && result.counts).map(({ result }) => result);
    const lastSuccess = counted.findLastIndex((result) => result.ok);
    const failuresAfter = counted.slice(lastSuccess + 1);
    if (failuresAfter.length === 0) {
      // Only successes since the last failure: healthy again (nothing to write when it was).
      if (lastSuccess >= 0 && endpoint.failingSince) await tx.update(webhookEndpoints).set({ failingSince: null }).where(eq(webhookEndpoints.id, endpoint.id));
      continue;
    }
    await endpointFailed(tx, settings, endpoint, failuresAfter.at(-1)?.error ?? null, lastSuccess >= 0, now);
  }
}

/**
 * Failing since the first failure after its last success (kept when it was already failing and
 * this batch had no success: a single conditional update, safe beside other workers' batches).
 */
async function endpointFailed(tx: Tx, settings: WebhookSettings, endpoint: WebhookEndpointRow, error: string | null, succeededInBatch: boolean, now: Date): Promise<void> {
  const [failing] = await tx
    .update(webhookEndpoints)
    .set({ failingSince: succeededInBatch ? now : sql`coalesce(${webhookEndpoints.failingSince}, ${now.toISOString()}::timestamptz)` })
    .where(eq(webhookEndpoints.id, endpoint.id))
    .returning();
  const failingSince = failing?.failingSince ?? now;
  if (!failing?.enabled || now.getTime() - failingSince.getTime() < settings.disableAfterMs) return;
  const reason = `deliveries failed without a success since ${failingSince.toISOString()}; last: ${error ?? 'unknown error'}`;
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
    payload: { endpointId: endpoint.id, url: endpoint.url, failingSince: failingSince.toISOString(), error: (error ?? 'unknown error').slice(0, 500) },
  });
}
