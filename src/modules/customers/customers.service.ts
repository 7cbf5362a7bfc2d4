import { and, desc, eq, ilike, isNull, or } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { containsPattern } from '../../db/like.js';
import { customers, subscriptions, type Customer } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { subscriptionView } from '../subscriptions/subscriptions.service.js';
import type { CustomerDetailView, CustomersPage, CustomerView, ListCustomersQuery } from './customers.types.js';
import { listPage } from '../list-page.js';

export function customerView(customer: Customer): CustomerView {
  return {
    id: customer.id,
    email: customer.email,
    name: customer.name,
    company: customer.company,
    phone: customer.phone,
    stripeCustomerId: customer.stripeCustomerId,
    locale: customer.locale,
    createdAt: customer.createdAt,
    updatedAt: customer.updatedAt,
  };
}

export async function listCustomers(db: Database, auth: Pick<AuthContext, 'tenantId'>, query: ListCustomersQuery): Promise<CustomersPage> {
  const pattern = query.q === undefined ? undefined : containsPattern(query.q);
  return listPage(db, auth.tenantId, query, {
    table: customers,
    filters: [
      isNull(customers.deletedAt),
      pattern === undefined ? undefined : or(ilike(customers.email, pattern), ilike(customers.name, pattern)),
    ],
    rows: (tx, q) => tx.select().from(customers).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: customerView,
  });
}

/** A customer (not deleted) with their subscriptions, newest first. */
export async function getCustomer(db: Database, auth: Pick<AuthContext, 'tenantId'>, id: string): Promise<CustomerDetailView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [customer] = await tx
      .select()
      .from(customers)
      .where(and(eq(customers.tenantId, auth.tenantId), eq(customers.id, id), isNull(customers.deletedAt)));
    if (!customer) throw notFound('Customer');
    const rows = await tx
      .select()
      .from(subscriptions)
      .where(eq(subscriptions.customerId, id))
      .orderBy(desc(subscriptions.createdAt), desc(subscriptions.id));
    return { ...customerView(customer), subscriptions: rows.map(subscriptionView) };
  });
}
