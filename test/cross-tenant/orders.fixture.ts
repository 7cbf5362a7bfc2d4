import { eq } from 'drizzle-orm';
import { customers, jobs, orders, subscriptions } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** Orders, customers, subscriptions and jobs of tenant A (the staff API over the order flow). */

async function createOrder({ db, tenant }: CrossTenantContext) {
  const { order } = await buildOrder(db, tenant);
  return { id: order.id };
}

async function createCustomer({ db, tenant }: CrossTenantContext) {
  const { customer } = await buildOrder(db, tenant);
  return { id: customer.id };
}

async function createSubscription({ db, tenant }: CrossTenantContext) {
  const { subscription } = await buildOrder(db, tenant);
  return { id: subscription.id };
}

/** A FAILED first step with a FAILED subscription: what an admin retries. */
async function createFailedJob({ db, tenant }: CrossTenantContext) {
  const { jobs: built } = await buildOrder(db, tenant, { subscriptionStatus: 'FAILED', jobStatuses: { PROVISION_DNS: 'FAILED' } });
  return { id: built[0]!.id };
}

export const fixtures: CrossTenantFixture[] = [
  {
    route: 'GET /api/orders/:id',
    create: createOrder,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(orders).where(eq(orders.id, id!))),
  },
  {
    route: 'GET /api/customers/:id',
    create: createCustomer,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(customers).where(eq(customers.id, id!))),
  },
  {
    route: 'GET /api/subscriptions/:id',
    create: createSubscription,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, id!))),
  },
  {
    route: 'POST /api/jobs/:id/retry',
    create: createFailedJob,
    // The job and its subscription: a retry changes both.
    snapshot: ({ db, tenant }, { id }) =>
      withTenant(db, tenant.id, async (tx) => {
        const job = await tx.select().from(jobs).where(eq(jobs.id, id!));
        const subscriptionId = job[0]?.subscriptionId;
        return { job, subscription: subscriptionId ? await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId)) : [] };
      }),
  },
];
