import { and, asc, eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { customers, domains, jobs, prices, products, subscriptions, type Subscription } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { jobsInStepOrder, jobWithHistoryView } from '../provisioning/jobs.service.js';
import type { ListSubscriptionsQuery, SubscriptionDetailView, SubscriptionsPage, SubscriptionView } from './subscriptions.types.js';
import { listPage } from '../list-page.js';

export function subscriptionView(subscription: Subscription): SubscriptionView {
  return {
    id: subscription.id,
    status: subscription.status,
    statusReason: subscription.statusReason,
    customerId: subscription.customerId,
    productId: subscription.productId,
    priceId: subscription.priceId,
    orderId: subscription.orderId,
    currentPeriodStart: subscription.currentPeriodStart,
    currentPeriodEnd: subscription.currentPeriodEnd,
    stripeSubscriptionId: subscription.stripeSubscriptionId,
    billingMode: subscription.billingMode,
    paidThrough: subscription.paidThrough,
    suspensionReason: subscription.suspensionReason,
    billingHoldUntil: subscription.billingHoldUntil,
    suspendedAt: subscription.suspendedAt,
    terminatedAt: subscription.terminatedAt,
    createdAt: subscription.createdAt,
    updatedAt: subscription.updatedAt,
  };
}

export async function listSubscriptions(db: Database, auth: Pick<AuthContext, 'tenantId'>, query: ListSubscriptionsQuery): Promise<SubscriptionsPage> {
  return listPage(db, auth.tenantId, query, {
    table: subscriptions,
    filters: [
      query.status === undefined ? undefined : eq(subscriptions.status, query.status),
      query.customerId === undefined ? undefined : eq(subscriptions.customerId, query.customerId),
    ],
    rows: (tx, q) => tx.select().from(subscriptions).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: subscriptionView,
  });
}

/** A subscription with what staff need to follow it: customer, product and price, domains, and each job's history. */
export async function getSubscription(db: Database, auth: Pick<AuthContext, 'tenantId'>, id: string): Promise<SubscriptionDetailView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx
      .select({
        subscription: subscriptions,
        customer: { id: customers.id, email: customers.email, name: customers.name },
        product: { id: products.id, name: products.name, type: products.type },
        price: { id: prices.id, amount: prices.amount, currency: prices.currency, interval: prices.interval },
      })
      .from(subscriptions)
      .innerJoin(customers, eq(customers.id, subscriptions.customerId))
      .innerJoin(products, eq(products.id, subscriptions.productId))
      .innerJoin(prices, eq(prices.id, subscriptions.priceId))
      .where(and(eq(subscriptions.tenantId, auth.tenantId), eq(subscriptions.id, id)));
    if (!row) throw notFound('Subscription');
    const domainRows = await tx
      .select({ id: domains.id, name: domains.name, status: domains.status })
      .from(domains)
      .where(eq(domains.subscriptionId, id))
      .orderBy(asc(domains.createdAt), asc(domains.name));
    const jobRows = await jobsInStepOrder(tx, eq(jobs.subscriptionId, id));
    return {
      ...subscriptionView(row.subscription),
      customer: row.customer,
      product: row.product,
      price: row.price,
      domains: domainRows,
      jobs: jobRows.map(jobWithHistoryView),
    };
  });
}
