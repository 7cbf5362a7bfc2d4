import { eq } from 'drizzle-orm';
import { jobs, subscriptions, type SubscriptionStatus } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** Suspend / unsuspend / terminate a subscription of tenant A: each request creates a lifecycle job. */
function withStatus(subscriptionStatus: SubscriptionStatus) {
  return async ({ db, tenant }: CrossTenantContext) => {
    const { subscription } = await buildOrder(db, tenant, { subscriptionStatus });
    return { id: subscription.id };
  };
}

/** The subscription and its jobs: a lifecycle request adds a job. */
const snapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, async (tx) => ({
    subscription: await tx.select().from(subscriptions).where(eq(subscriptions.id, id!)),
    jobs: await tx.select({ id: jobs.id, type: jobs.type }).from(jobs).where(eq(jobs.subscriptionId, id!)),
  }));

export const fixtures: CrossTenantFixture[] = [
  { route: 'POST /api/subscriptions/:id/suspend', create: withStatus('ACTIVE'), body: { reason: 'unpaid' }, snapshot },
  { route: 'POST /api/subscriptions/:id/unsuspend', create: withStatus('SUSPENDED'), body: {}, snapshot },
  { route: 'POST /api/subscriptions/:id/terminate', create: withStatus('ACTIVE'), body: {}, snapshot },
];
