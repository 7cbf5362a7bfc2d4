import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainEvents } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildOrder, buildTenant } from '../../../test/factories.js';
import { systemActor } from '../audit/audit.service.js';
import { transition } from '../subscriptions/subscription-state.js';
import { recordEvent } from './domain-events.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;
const eventsOf = (tenantId: string) => withTenant(db(), tenantId, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.tenantId, tenantId)).orderBy(domainEvents.seq));

describe('the events outbox', () => {
  it('an accepted order records order.received in the order\'s transaction, with its plan', async () => {
    const tenant = await buildTenant(db());
    const { price } = await buildOffer(db(), tenant);
    const body = JSON.stringify(orderPayload(tenant, price));
    const res = await t.app.inject({ method: 'POST', url: '/api/orders', headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, body), payload: body });
    expect(res.statusCode).toBe(201);
    const [event, ...rest] = await eventsOf(tenant.id);
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({
      type: 'order.received',
      version: 1,
      subjectType: 'order',
      subjectId: res.json().orderId,
      dispatchedAt: null,
      payload: { orderId: res.json().orderId, amount: { amount: price.amount, currency: price.currency }, steps: expect.arrayContaining(['PROVISION_DNS', 'VERIFY_AND_ACTIVATE']) },
    });
    // A replay of the same order creates nothing, so it records nothing either.
    const replay = await t.app.inject({ method: 'POST', url: '/api/orders', headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, body), payload: body });
    expect(replay.statusCode).toBe(200);
    expect(await eventsOf(tenant.id)).toHaveLength(1);
  });

  it('each subscription transition that people hear about records its event; internal steps record none', async () => {
    const tenant = await buildTenant(db());
    const { subscription } = await buildOrder(db(), tenant, { subscriptionStatus: 'PENDING' });
    const target = { tenantId: tenant.id, subscriptionId: subscription.id };
    await withTenant(db(), tenant.id, async (tx) => {
      await transition(tx, target, 'provisioning_started', { actor: systemActor, reason: 'first step started' });
      await transition(tx, target, 'activated', { actor: systemActor, reason: 'every step succeeded', jobId: subscription.id });
      await transition(tx, target, 'suspended', { actor: systemActor, reason: 'unpaid', rule: 'dunning.suspend' });
      // Not applicable from SUSPENDED: nothing written, no event.
      expect(await transition(tx, target, 'activated', { actor: systemActor, reason: 'again' })).toBeNull();
    });
    const events = await eventsOf(tenant.id);
    expect(events.map((event) => event.type)).toEqual(['subscription.activated', 'subscription.suspended']);
    expect(events[1]).toMatchObject({
      subjectType: 'subscription',
      subjectId: subscription.id,
      payload: { subscriptionId: subscription.id, customerId: subscription.customerId, from: 'ACTIVE', to: 'SUSPENDED', reason: 'unpaid', rule: 'dunning.suspend' },
    });
  });

  it('an event is part of its transaction: rolled back with it, and a payload outside the catalogue aborts it', async () => {
    const tenant = await buildTenant(db());
    const { subscription } = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
    await expect(
      withTenant(db(), tenant.id, async (tx) => {
        await transition(tx, { tenantId: tenant.id, subscriptionId: subscription.id }, 'suspended', { actor: systemActor, reason: 'abuse' });
        throw new Error('the caller fails after the transition');
      }),
    ).rejects.toThrow('the caller fails');
    await expect(
      withTenant(db(), tenant.id, (tx) =>
        // @ts-expect-error the payload is checked at compile time too
        recordEvent(tx, tenant.id, { type: 'job.failed', subject: { type: 'job', id: subscription.id }, payload: { jobId: 'not-a-uuid' } }),
      ),
    ).rejects.toThrow();
    expect(await eventsOf(tenant.id)).toHaveLength(0);
  });

  it('a tenant sees only its own events; the dispatcher\'s scan sees only undispatched ones', async () => {
    const a = await buildTenant(db());
    const b = await buildTenant(db());
    for (const tenant of [a, b]) {
      await withTenant(db(), tenant.id, (tx) =>
        recordEvent(tx, tenant.id, { type: 'mailbox.created', subject: { type: 'mailbox', id: tenant.id }, payload: { mailboxId: tenant.id, subscriptionId: null, address: `info@${tenant.slug}.test` } }),
      );
    }
    const seenByA = await withTenant(db(), a.id, (tx) => tx.select().from(domainEvents));
    expect(seenByA.map((event) => event.tenantId)).toEqual([a.id]);
    await withTenant(db(), b.id, (tx) => tx.update(domainEvents).set({ dispatchedAt: new Date() }).where(eq(domainEvents.tenantId, b.id)));
    const pending = await db().transaction(async (tx) => {
      await tx.execute(`select set_config('app.event_dispatch', 'on', true)`);
      return tx.select({ tenantId: domainEvents.tenantId }).from(domainEvents);
    });
    expect(pending.map((row) => row.tenantId)).toContain(a.id);
    expect(pending.map((row) => row.tenantId)).not.toContain(b.id);
  });
});
