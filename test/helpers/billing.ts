import { eq } from 'drizzle-orm';
import type { Database } from '../../src/config/database.js';
import { subscriptions, type Subscription, type Tenant } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { DAY_MS } from '../../src/modules/billing/dunning-policy.js';
import { buildOrder } from '../factories.js';

/** `days` (fractions allowed, negative before) after `base`: the billing tests' injected clock. */
export const at = (base: Date, days: number): Date => new Date(base.getTime() + days * DAY_MS);

/**
 * Period ends a month apart from `year` on, one per call: each test bills in its own month, far
 * from the real clock, so only the injected clock moves.
 */
export function monthlyPeriodEnds(year: number): () => Date {
  let month = 0;
  return () => {
    month += 1;
    return new Date(Date.UTC(year, month, 15));
  };
}

/**
 * An order's subscription, built `status` (ACTIVE by default) for `customer` (a new one by
 * default), then paid through `paidThrough` with its current period ending then, and `set` written
 * over it.
 */
export async function subscribedThrough(
  db: Database,
  tenant: Tenant,
  paidThrough: Date,
  options: { status?: Subscription['status']; customer?: { id: string }; set?: Partial<Subscription> } = {},
) {
  const built = await buildOrder(db, tenant, { subscriptionStatus: options.status ?? 'ACTIVE', ...(options.customer ? { customer: options.customer } : {}) });
  await withTenant(db, tenant.id, (tx) => tx.update(subscriptions).set({ paidThrough, currentPeriodEnd: paidThrough, ...options.set }).where(eq(subscriptions.id, built.subscription.id)));
  return built;
}
