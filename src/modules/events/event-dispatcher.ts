import { and, asc, inArray, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { domainEvents, eventDeliveries } from '../../db/schema/index.js';
import { EVENT_DISPATCH_SETTING } from '../../db/schema/rls.js';
import { withTenant } from '../../db/tenant-tx.js';
import { emailRecipients } from './notification-email.js';
import { enabledEndpoints } from './webhook-deliveries.js';

/**
 * The dispatcher: turns each undispatched event into its deliveries (one per channel × recipient)
 * (emails, and one per webhook endpoint subscribed to its type) and marks the event dispatched, in ONE transaction of the event's tenant. A crash before the
 * commit leaves the event undispatched and it is planned again; after it, the deliveries exist
 * and the delivery workers send them. The unique (event, channel, recipient) key means a second
 * dispatcher racing the first, or a re-run, adds nothing: each recipient hears once.
 */

/** Undispatched events in every tenant, oldest first, through the `event_dispatch_scan` policy. */
async function undispatched(db: Database, limit: number): Promise<{ id: string; tenantId: string }[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${EVENT_DISPATCH_SETTING}, 'on', true)`);
    return tx
      .select({ id: domainEvents.id, tenantId: domainEvents.tenantId })
      .from(domainEvents)
      .where(isNull(domainEvents.dispatchedAt))
      .orderBy(asc(domainEvents.seq))
      .limit(limit);
  });
}

export function groupByTenant<T extends { tenantId: string; id: string }>(rows: readonly T[]): Map<string, string[]> {
  const byTenant = new Map<string, string[]>();
  for (const row of rows) byTenant.set(row.tenantId, [...(byTenant.get(row.tenantId) ?? []), row.id]);
  return byTenant;
}

/** Plans the deliveries of one tenant's events and marks them dispatched; returns how many events. */
export async function dispatchTenantEvents(db: Database, tenantId: string, eventIds: readonly string[], now = new Date()): Promise<number> {
  return withTenant(db, tenantId, async (tx) => {
    // Another dispatcher holding some of these rows plans them; this one takes the rest.
    const events = await tx
      .select()
      .from(domainEvents)
      .where(and(inArray(domainEvents.id, [...eventIds]), isNull(domainEvents.dispatchedAt)))
      .orderBy(asc(domainEvents.seq))
      .for('update', { skipLocked: true });
    if (events.length === 0) return 0;
    const planned: (typeof eventDeliveries.$inferInsert)[] = [];
    // The tenant's enabled endpoints once for the batch (read in this transaction, so an endpoint
    // disabled before it commits gets nothing planned).
    const endpoints = await enabledEndpoints(tx);
    const recipients = await emailRecipients(tx, events);
    for (const event of events) {
      for (const recipient of recipients.get(event.id) ?? []) {
        planned.push({ tenantId, eventId: event.id, channel: 'email', recipient: recipient.address, recipientName: recipient.name, nextAttemptAt: now });
      }
      for (const endpoint of endpoints.filter((candidate) => candidate.eventTypes.includes(event.type))) {
        planned.push({ tenantId, eventId: event.id, channel: 'webhook', recipient: endpoint.id, nextAttemptAt: now });
      }
    }
    if (planned.length > 0) await tx.insert(eventDeliveries).values(planned).onConflictDoNothing();
    await tx
      .update(domainEvents)
      .set({ dispatchedAt: now })
      .where(inArray(domainEvents.id, events.map((event) => event.id)));
    return events.length;
  });
}

/** One dispatch run over every tenant (the worker's event loop, the tests). Returns the events planned. */
export async function dispatchEvents(db: Database, options: { limit?: number; now?: Date } = {}): Promise<number> {
  const rows = await undispatched(db, options.limit ?? 500);
  let dispatched = 0;
  for (const [tenantId, ids] of groupByTenant(rows)) dispatched += await dispatchTenantEvents(db, tenantId, ids, options.now);
  return dispatched;
}

