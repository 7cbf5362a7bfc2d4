import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { loadEnv } from '../../src/config/env.js';
import { domainEvents, eventDeliveries, webhookEndpoints } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { secretAad, webhookSettings } from '../../src/modules/events/webhook-deliveries.js';
import { generateWebhookSecret } from '../../src/modules/events/webhook-sender.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

const secrets = webhookSettings(loadEnv()).secrets;

/** An endpoint of tenant A with one DELIVERED delivery (so that redelivery is a valid call for A). */
async function createEndpoint({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const id = randomUUID();
  return withTenant(db, tenant.id, async (tx) => {
    await tx.insert(webhookEndpoints).values({
      id,
      tenantId: tenant.id,
      url: 'http://127.0.0.1:9/hooks',
      eventTypes: ['invoice.paid'],
      secretSealed: secrets.seal(generateWebhookSecret(), secretAad(id)),
    });
    const subjectId = randomUUID();
    const [event] = await tx
      .insert(domainEvents)
      .values({ tenantId: tenant.id, type: 'invoice.paid', subjectType: 'invoice', subjectId, payload: {}, dispatchedAt: new Date() })
      .returning();
    const [delivery] = await tx
      .insert(eventDeliveries)
      .values({ tenantId: tenant.id, eventId: event!.id, channel: 'webhook', recipient: id, status: 'DELIVERED', attempts: 1, deliveredAt: new Date() })
      .returning();
    return { id, deliveryId: delivery!.id };
  });
}

function endpointSnapshot({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, async (tx) => ({
    endpoint: await tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id!)),
    deliveries: await tx.select().from(eventDeliveries).where(eq(eventDeliveries.recipient, id!)),
  }));
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/webhook-endpoints/:id', create: createEndpoint, snapshot: endpointSnapshot },
  { route: 'PATCH /api/webhook-endpoints/:id', create: createEndpoint, body: { description: 'Changed by someone', eventTypes: ['invoice.issued'] }, snapshot: endpointSnapshot },
  { route: 'DELETE /api/webhook-endpoints/:id', create: createEndpoint, snapshot: endpointSnapshot },
  { route: 'POST /api/webhook-endpoints/:id/rotate-secret', create: createEndpoint, snapshot: endpointSnapshot },
  { route: 'POST /api/webhook-endpoints/:id/test', create: createEndpoint, snapshot: endpointSnapshot },
  { route: 'GET /api/webhook-endpoints/:id/deliveries', create: createEndpoint, snapshot: endpointSnapshot },
  { route: 'GET /api/webhook-endpoints/:id/deliveries/:deliveryId', create: createEndpoint, snapshot: endpointSnapshot },
  { route: 'POST /api/webhook-endpoints/:id/deliveries/:deliveryId/redeliver', create: createEndpoint, snapshot: endpointSnapshot },
];
