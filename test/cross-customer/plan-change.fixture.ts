import { eq } from 'drizzle-orm';
import { invoices, subscriptions } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder, buildPrice, buildProduct } from '../factories.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './fixture.js';

/** Customer A's service, paid 20 days ahead, and a dearer public plan of the tenant. */
async function service({ db, tenant }: CrossCustomerContext, pending = false) {
  const { customer, subscription } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
  const dearer = await buildPrice(db, tenant, await buildProduct(db, tenant), { amount: 2999 });
  const cheaper = pending ? await buildPrice(db, tenant, await buildProduct(db, tenant), { amount: 99 }) : null;
  const paidThrough = new Date(Date.now() + 20 * 86_400_000);
  await withTenant(db, tenant.id, (tx) =>
    tx
      .update(subscriptions)
      .set({ paidThrough, ...(cheaper ? { pendingPriceId: cheaper.id, pendingPlanChangeAt: paidThrough } : {}) })
      .where(eq(subscriptions.id, subscription.id)),
  );
  return { params: { id: subscription.id, priceId: dearer.id }, owner: await buildCustomerLogin(db, tenant, customer) };
}

const snapshot: CrossCustomerFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, async (tx) => ({
    subscription: await tx.select().from(subscriptions).where(eq(subscriptions.id, id!)),
    invoices: await tx.select().from(invoices).where(eq(invoices.subscriptionId, id!)),
  }));

const body = (params: Readonly<Record<string, string>>) => ({ priceId: params.priceId });

export const fixtures: CrossCustomerFixture[] = [
  { route: 'GET /api/portal/services/:id/plan-change', create: (c) => service(c, true), snapshot, readOnly: 'a read writes nothing' },
  { route: 'POST /api/portal/services/:id/plan-change/preview', create: (c) => service(c), body, snapshot, readOnly: 'a preview writes nothing' },
  { route: 'POST /api/portal/services/:id/plan-change', create: (c) => service(c), body, snapshot },
  { route: 'DELETE /api/portal/services/:id/plan-change', create: (c) => service(c, true), snapshot },
];
