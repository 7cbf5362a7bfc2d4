import { eq } from 'drizzle-orm';
import { invoices, subscriptions } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder, buildPrice, buildProduct } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** An MPANEL-billed subscription of tenant A (999 a month, paid 20 days ahead) and a dearer plan of A to change to. */
async function subscribed({ db, tenant }: CrossTenantContext, pending = false) {
  const { subscription } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
  const dearer = await buildPrice(db, tenant, await buildProduct(db, tenant), { amount: 2999 });
  const paidThrough = new Date(Date.now() + 20 * 86_400_000);
  const cheaper = pending ? await buildPrice(db, tenant, await buildProduct(db, tenant), { amount: 99 }) : null;
  await withTenant(db, tenant.id, (tx) =>
    tx
      .update(subscriptions)
      .set({ paidThrough, ...(cheaper ? { pendingPriceId: cheaper.id, pendingPlanChangeAt: paidThrough } : {}) })
      .where(eq(subscriptions.id, subscription.id)),
  );
  return { id: subscription.id, priceId: dearer.id };
}

const snapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, async (tx) => ({
    subscription: await tx.select().from(subscriptions).where(eq(subscriptions.id, id!)),
    invoices: await tx.select().from(invoices).where(eq(invoices.subscriptionId, id!)),
  }));

const body = (params: Readonly<Record<string, string>>) => ({ priceId: params.priceId });

export const fixtures: CrossTenantFixture[] = [
  { route: 'POST /api/subscriptions/:id/plan-change/preview', create: (c) => subscribed(c), body, snapshot, readOnly: 'a preview writes nothing' },
  { route: 'POST /api/subscriptions/:id/plan-change', create: (c) => subscribed(c), body, snapshot },
  { route: 'DELETE /api/subscriptions/:id/plan-change', create: (c) => subscribed(c, true), snapshot },
];
