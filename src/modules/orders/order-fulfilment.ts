import { and, eq } from 'drizzle-orm';
import { orders } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';

/** A paid order is FULFILLED once its subscription is live (provisioning complete). */
export async function fulfilOrder(tx: Tx, orderId: string): Promise<void> {
  await tx.update(orders).set({ status: 'FULFILLED', fulfilledAt: new Date() }).where(and(eq(orders.id, orderId), eq(orders.status, 'PAID')));
}
