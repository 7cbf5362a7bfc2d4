import { and, eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { customers, jobs, orders, subscriptions, type Order } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { customerView } from '../customers/customers.service.js';
import { jobsInStepOrder, jobView } from '../provisioning/jobs.service.js';
import { subscriptionView } from '../subscriptions/subscriptions.service.js';
import type { ListOrdersQuery, OrderDetailView, OrdersPage, OrderView } from './orders-admin.types.js';
import { listPage } from '../list-page.js';

/** What of an order staff see: everything but the request hash (an internal idempotency detail). */
export function orderView(order: Order): OrderView {
  return {
    id: order.id,
    status: order.status,
    customerId: order.customerId,
    priceId: order.priceId,
    paymentProvider: order.paymentProvider,
    paymentReference: order.paymentReference,
    amount: order.amount,
    currency: order.currency,
    domainName: order.domainName,
    stripeCustomerId: order.stripeCustomerId,
    stripeSubscriptionId: order.stripeSubscriptionId,
    metadata: order.metadata,
    fulfilledAt: order.fulfilledAt,
    createdAt: order.createdAt,
    updatedAt: order.updatedAt,
  };
}

export async function listOrders(db: Database, auth: Pick<AuthContext, 'tenantId'>, query: ListOrdersQuery): Promise<OrdersPage> {
  return listPage(db, auth.tenantId, query, {
    table: orders,
    filters: [
      query.status === undefined ? undefined : eq(orders.status, query.status),
      query.customerId === undefined ? undefined : eq(orders.customerId, query.customerId),
    ],
    rows: (tx, q) => tx.select().from(orders).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: orderView,
  });
}

/** An order with its customer (even if since deleted), its subscription and its provisioning jobs. */
export async function getOrder(db: Database, auth: Pick<AuthContext, 'tenantId'>, id: string): Promise<OrderDetailView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx
      .select({ order: orders, customer: customers })
      .from(orders)
      .innerJoin(customers, eq(customers.id, orders.customerId))
      .where(and(eq(orders.tenantId, auth.tenantId), eq(orders.id, id)));
    if (!row) throw notFound('Order');
    const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.orderId, id));
    const jobRows = await jobsInStepOrder(tx, eq(jobs.orderId, id));
    return {
      ...orderView(row.order),
      customer: customerView(row.customer),
      subscription: subscription ? subscriptionView(subscription) : null,
      jobs: jobRows.map(jobView),
    };
  });
}
