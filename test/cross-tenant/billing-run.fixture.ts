import { eq } from 'drizzle-orm';
import { subscriptions } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** A subscription of tenant A that mPanel bills, paid for another 20 days. */
async function billed({ db, tenant }: CrossTenantContext) {
  const { subscription } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
  await withTenant(db, tenant.id, (tx) => tx.update(subscriptions).set({ paidThrough: new Date(Date.now() + 20 * 86_400_000) }).where(eq(subscriptions.id, subscription.id)));
  return { id: subscription.id };
}

const snapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, id!)));

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/subscriptions/:id/billing-schedule', create: billed, snapshot },
  { route: 'PATCH /api/subscriptions/:id/billing', create: billed, body: { billingHoldUntil: '2040-01-01T00:00:00Z', cancelAtPeriodEnd: true }, snapshot },
];
