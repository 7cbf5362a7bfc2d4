import { randomUUID } from 'node:crypto';
import { and, asc, eq, type SQL } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { domainEvents, eventDeliveries, webhookAttempts, webhookEndpoints, type WebhookEndpointRow } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { AuthContext } from '../auth/auth-context.js';
import { listPage } from '../list-page.js';
import { previousSecretAad, recordWebhookAttempts, secretAad, sendLoadedWebhook, targetChecks, type WebhookSettings } from './webhook-deliveries.js';
import { generateWebhookSecret, resolveWebhookTarget, WebhookTargetRefused } from './webhook-sender.js';
import { TEST_EVENT_TYPE, type CreateEndpointBody, type DeliveryView, type EndpointView, type ListDeliveriesQuery, type TestDeliveryView, type UpdateEndpointBody } from './webhooks.types.js';

/**
 * The tenant's webhook endpoints (ADMIN): URLs of its own systems that receive the events they
 * subscribe to, signed with a secret shown once. Every change is audited (never with a secret).
 */

/** After a rotation the previous secret keeps signing this long, so receivers can switch over. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 3600_000;

function view(row: WebhookEndpointRow): EndpointView {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.eventTypes,
    enabled: row.enabled,
    failingSince: row.failingSince,
    disabledAt: row.disabledAt,
    disabledReason: row.disabledReason,
    previousSecretExpiresAt: row.previousSecretExpiresAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** What the audit log keeps of an endpoint: no secret, sealed or not. */
function audited(row: WebhookEndpointRow): Record<string, unknown> {
  return { url: row.url, description: row.description, eventTypes: row.eventTypes, enabled: row.enabled };
}

/** The URL is acceptable now (scheme, and every address it resolves to); else a 400 naming body/url. */
async function checkUrl(settings: WebhookSettings, url: string): Promise<void> {
  try {
    await resolveWebhookTarget(url, settings.policy, settings.resolve);
  } catch (error) {
    if (error instanceof WebhookTargetRefused) throw validationFailed([{ field: 'body/url', message: error.message }], 'The endpoint URL is not acceptable');
    throw error;
  }
}

async function lockEndpoint(tx: Tx, tenantId: string, id: string): Promise<WebhookEndpointRow> {
  const [row] = await tx
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id)))
    .for('update');
  if (!row) throw notFound('Webhook endpoint');
  return row;
}

export async function createEndpoint(db: Database, settings: WebhookSettings, auth: AuthContext, body: CreateEndpointBody, actor: AuditActor): Promise<EndpointView & { secret: string }> {
  await checkUrl(settings, body.url);
  const id = randomUUID();
  const secret = generateWebhookSecret();
  return withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx
      .insert(webhookEndpoints)
      .values({
        id,
        tenantId: auth.tenantId,
        url: body.url,
        description: body.description ?? null,
        eventTypes: body.eventTypes,
        enabled: body.enabled ?? true,
        secretSealed: settings.secrets.seal(secret, secretAad(id)),
      })
      .returning();
    if (!row) throw new Error('insert into webhook_endpoints returned no row');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'webhook_endpoint.created', targetType: 'webhook_endpoint', targetId: id, after: audited(row) });
    return { ...view(row), secret };
  });
}

export async function listEndpoints(db: Database, auth: AuthContext): Promise<{ items: EndpointView[] }> {
  const rows = await withTenant(db, auth.tenantId, (tx) =>
    tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.tenantId, auth.tenantId)).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id)),
  );
  return { items: rows.map(view) };
}

export async function getEndpoint(db: Database, auth: AuthContext, id: string): Promise<EndpointView> {
  const [row] = await withTenant(db, auth.tenantId, (tx) =>
    tx.select().from(webhookEndpoints).where(and(eq(webhookEndpoints.tenantId, auth.tenantId), eq(webhookEndpoints.id, id))),
  );
  if (!row) throw notFound('Webhook endpoint');
  return view(row);
}

/** PATCH: absent keeps, null clears the description. enabled: true re-enables (and forgets the failures). */
export async function updateEndpoint(db: Database, settings: WebhookSettings, auth: AuthContext, id: string, body: UpdateEndpointBody, actor: AuditActor): Promise<EndpointView> {
  if (body.url !== undefined) await checkUrl(settings, body.url);
  return withTenant(db, auth.tenantId, async (tx) => {
    const before = await lockEndpoint(tx, auth.tenantId, id);
    const now = new Date();
    const changes: Partial<typeof webhookEndpoints.$inferInsert> = { updatedAt: now };
    if (body.url !== undefined) changes.url = body.url;
    if (body.eventTypes !== undefined) changes.eventTypes = body.eventTypes;
    if (body.description !== undefined) changes.description = body.description;
    if (body.enabled === true && !before.enabled) Object.assign(changes, { enabled: true, failingSince: null, disabledAt: null, disabledReason: null });
    if (body.enabled === false && before.enabled) Object.assign(changes, { enabled: false, disabledAt: now, disabledReason: 'disabled by a user' });
    const [row] = await tx.update(webhookEndpoints).set(changes).where(eq(webhookEndpoints.id, id)).returning();
    if (!row) throw notFound('Webhook endpoint');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'webhook_endpoint.updated', targetType: 'webhook_endpoint', targetId: id, before: audited(before), after: audited(row) });
    return view(row);
  });
}

/** Deletes the endpoint and its delivery log; its deliveries still due fail ("the endpoint was deleted"). */
export async function deleteEndpoint(db: Database, auth: AuthContext, id: string, actor: AuditActor): Promise<void> {
  await withTenant(db, auth.tenantId, async (tx) => {
    const before = await lockEndpoint(tx, auth.tenantId, id);
    await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'webhook_endpoint.deleted', targetType: 'webhook_endpoint', targetId: id, before: audited(before) });
  });
}

/** A new secret (shown once); the current one keeps signing too for PREVIOUS_SECRET_GRACE_MS. */
export async function rotateSecret(db: Database, settings: WebhookSettings, auth: AuthContext, id: string, actor: AuditActor): Promise<{ secret: string; previousSecretExpiresAt: Date }> {
  const secret = generateWebhookSecret();
  return withTenant(db, auth.tenantId, async (tx) => {
    const before = await lockEndpoint(tx, auth.tenantId, id);
    const now = new Date();
    const previous = settings.secrets.openText(before.secretSealed, secretAad(id));
    const previousSecretExpiresAt = new Date(now.getTime() + PREVIOUS_SECRET_GRACE_MS);
    await tx
      .update(webhookEndpoints)
      .set({
        secretSealed: settings.secrets.seal(secret, secretAad(id)),
        previousSecretSealed: settings.secrets.seal(previous, previousSecretAad(id)),
        previousSecretExpiresAt,
        updatedAt: now,
      })
      .where(eq(webhookEndpoints.id, id));
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'webhook_endpoint.secret_rotated',
      targetType: 'webhook_endpoint',
      targetId: id,
      after: { previousSecretExpiresAt: previousSecretExpiresAt.toISOString() },
    });
    return { secret, previousSecretExpiresAt };
  });
}

const deliveryColumns = {
  id: eventDeliveries.id,
  eventId: eventDeliveries.eventId,
  eventType: domainEvents.type,
  status: eventDeliveries.status,
  attempts: eventDeliveries.attempts,
  nextAttemptAt: eventDeliveries.nextAttemptAt,
  lastStatus: eventDeliveries.lastStatus,
  lastLatencyMs: eventDeliveries.lastLatencyMs,
  lastResponse: eventDeliveries.lastResponse,
  lastError: eventDeliveries.lastError,
  deliveredAt: eventDeliveries.deliveredAt,
  createdAt: eventDeliveries.createdAt,
};

type DeliveryRow = Omit<DeliveryView, 'nextAttemptAt'> & { nextAttemptAt: Date };

function deliveryView(row: DeliveryRow): DeliveryView {
  return { ...row, nextAttemptAt: row.status === 'PENDING' ? row.nextAttemptAt : null };
}

function ofEndpoint(endpointId: string): SQL | undefined {
  return and(eq(eventDeliveries.channel, 'webhook'), eq(eventDeliveries.recipient, endpointId));
}

/** The endpoint's deliveries, newest first (keyset pages). */
export async function listDeliveries(db: Database, auth: AuthContext, endpointId: string, query: ListDeliveriesQuery) {
  await getEndpoint(db, auth, endpointId);
  return listPage(db, auth.tenantId, query, {
    table: eventDeliveries,
    filters: [ofEndpoint(endpointId), query.status ? eq(eventDeliveries.status, query.status) : undefined],
    rows: (tx, q) =>
      tx
        .select(deliveryColumns)
        .from(eventDeliveries)
        .innerJoin(domainEvents, eq(domainEvents.id, eventDeliveries.eventId))
        .where(q.where)
        .orderBy(...q.orderBy)
        .limit(q.limit),
    view: deliveryView,
  });
}

async function findDelivery(tx: Tx, tenantId: string, endpointId: string, deliveryId: string): Promise<DeliveryRow> {
  const [row] = await tx
    .select(deliveryColumns)
    .from(eventDeliveries)
    .innerJoin(domainEvents, eq(domainEvents.id, eventDeliveries.eventId))
    .where(and(eq(eventDeliveries.tenantId, tenantId), eq(eventDeliveries.id, deliveryId), ofEndpoint(endpointId)));
  if (!row) throw notFound('Webhook delivery');
  return row;
}

/** One delivery with its attempt log (status, latency, response excerpt of each try). */
export async function getDelivery(db: Database, auth: AuthContext, endpointId: string, deliveryId: string) {
  return withTenant(db, auth.tenantId, async (tx) => {
    const row = await findDelivery(tx, auth.tenantId, endpointId, deliveryId);
    const attempts = await tx
      .select()
      .from(webhookAttempts)
      .where(and(eq(webhookAttempts.tenantId, auth.tenantId), eq(webhookAttempts.deliveryId, deliveryId)))
      .orderBy(asc(webhookAttempts.attempt), asc(webhookAttempts.createdAt));
    return {
      ...deliveryView(row),
      attemptLog: attempts.map((a) => ({ attempt: a.attempt, status: a.status, latencyMs: a.latencyMs, response: a.response, error: a.error, at: a.createdAt })),
    };
  });
}

/**
 * Sends a finished delivery (DELIVERED or FAILED) again, as soon as a worker is free: same
 * webhook-id, a fresh signature. A delivery still on its way is a 409, as is a disabled endpoint.
 */
export async function redeliver(db: Database, auth: AuthContext, endpointId: string, deliveryId: string, actor: AuditActor): Promise<DeliveryView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const endpoint = await lockEndpoint(tx, auth.tenantId, endpointId);
    const before = await findDelivery(tx, auth.tenantId, endpointId, deliveryId);
    if (!endpoint.enabled) throw conflict('The endpoint is disabled: enable it first');
    if (before.status !== 'DELIVERED' && before.status !== 'FAILED') throw conflict(`The delivery is ${before.status}: it is on its way already`);
    const now = new Date();
    const [updated] = await tx
      .update(eventDeliveries)
      .set({ status: 'PENDING', nextAttemptAt: now, deliveredAt: null, updatedAt: now })
      .where(and(eq(eventDeliveries.id, deliveryId), eq(eventDeliveries.status, before.status)))
      .returning({ id: eventDeliveries.id });
    if (!updated) throw conflict('The delivery changed meanwhile: try again');
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'webhook_delivery.redelivered',
      targetType: 'event_delivery',
      targetId: deliveryId,
      before: { status: before.status },
      after: { status: 'PENDING' },
      metadata: { endpointId },
    });
    return deliveryView(await findDelivery(tx, auth.tenantId, endpointId, deliveryId));
  });
}

/**
 * Sends a signed `webhook.test` event to the endpoint now, from the request: the event and its
 * delivery (SENDING, attempt 1, a lease) are written with the audit row in one transaction, the
 * POST goes out after the commit (address checked, Standard Webhooks signature, 10 s deadline), and
 * its outcome is recorded like a worker's (delivery, attempt log, endpoint health) and answered.
 * It is not retried: DELIVERED or FAILED at once (redeliverable by hand like any delivery). A
 * process that dies mid-send leaves the claim to expire and a worker sends it (at least once).
 */
export async function sendTestEvent(db: Database, settings: WebhookSettings, leaseMs: number, auth: AuthContext, endpointId: string, actor: AuditActor): Promise<TestDeliveryView> {
  const now = new Date();
  const { endpoint, event, delivery } = await withTenant(db, auth.tenantId, async (tx) => {
    const endpoint = await lockEndpoint(tx, auth.tenantId, endpointId);
    if (!endpoint.enabled) throw conflict('The endpoint is disabled: enable it first');
    const [event] = await tx
      .insert(domainEvents)
      .values({ tenantId: auth.tenantId, type: TEST_EVENT_TYPE, subjectType: 'webhook_endpoint', subjectId: endpointId, payload: { endpointId }, occurredAt: now, dispatchedAt: now })
      .returning();
    if (!event) throw new Error('insert into domain_events returned no row');
    const [delivery] = await tx
      .insert(eventDeliveries)
      .values({ tenantId: auth.tenantId, eventId: event.id, channel: 'webhook', recipient: endpointId, status: 'SENDING', attempts: 1, leaseUntil: new Date(now.getTime() + leaseMs), nextAttemptAt: now })
      .returning();
    if (!delivery) throw new Error('insert into event_deliveries returned no row');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'webhook_endpoint.tested', targetType: 'webhook_endpoint', targetId: endpointId, metadata: { deliveryId: delivery.id, url: endpoint.url } });
    return { endpoint, event, delivery };
  });
  // One request: no kept-alive connection is left behind in the API process.
  const result = await sendLoadedWebhook({ ...settings, agents: undefined }, delivery, { event, endpoint }, targetChecks(settings));
  const status = result.ok ? 'DELIVERED' : 'FAILED';
  const recordedAt = new Date();
  await withTenant(db, auth.tenantId, async (tx) => {
    const [updated] = await tx
      .update(eventDeliveries)
      .set({
        status,
        leaseUntil: null,
        lastStatus: result.status,
        lastResponse: result.response,
        lastError: result.error,
        lastLatencyMs: result.latencyMs,
        deliveredAt: result.ok ? recordedAt : null,
        updatedAt: recordedAt,
      })
      .where(and(eq(eventDeliveries.id, delivery.id), eq(eventDeliveries.status, 'SENDING'), eq(eventDeliveries.attempts, delivery.attempts)))
      .returning({ id: eventDeliveries.id });
    // The claim was taken over (this request outlived its lease): the other sender records its own attempt.
    if (updated) await recordWebhookAttempts(tx, settings, [{ delivery, result }], recordedAt);
  });
  return { deliveryId: delivery.id, eventId: event.id, status, httpStatus: result.status, durationMs: result.latencyMs, response: result.response, error: result.error };
}
