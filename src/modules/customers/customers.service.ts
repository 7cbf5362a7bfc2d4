import { and, asc, desc, eq, ilike, isNull, or, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { containsPattern } from '../../db/like.js';
import { customerLogins, customers, subscriptions, twoFactorFactors, type Customer } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { subscriptionView } from '../subscriptions/subscriptions.service.js';
import type { CustomerContactView, CustomerDetailView, CustomersPage, CustomerView, ListCustomersQuery } from './customers.types.js';
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

/**
 * The customer's portal logins (owner, billing and technical contacts) as staff see them: who they
 * are and the state of their access, never a secret (no password hash, no TOTP secret or codes).
 * Removed logins are left out, as the portal's own contact list does.
 */
export async function listCustomerContacts(db: Database, auth: Pick<AuthContext, 'tenantId'>, id: string): Promise<{ items: CustomerContactView[] }> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [customer] = await tx
      .select({ id: customers.id })
      .from(customers)
      .where(and(eq(customers.tenantId, auth.tenantId), eq(customers.id, id), isNull(customers.deletedAt)));
    if (!customer) throw notFound('Customer');
    const rows = await tx
      .select({
        id: customerLogins.id,
        name: customerLogins.name,
        email: customerLogins.email,
        role: customerLogins.role,
        passwordSet: sql<boolean>`${customerLogins.passwordHash} is not null`,
        active: customerLogins.isActive,
        // A factor counts once confirmed: one being set up does not guard the sign-in yet.
        twoFactorEnabled: sql<boolean>`${twoFactorFactors.confirmedAt} is not null`,
        lastLoginAt: customerLogins.lastLoginAt,
        createdAt: customerLogins.createdAt,
      })
      .from(customerLogins)
      .leftJoin(twoFactorFactors, eq(twoFactorFactors.customerLoginId, customerLogins.id))
      .where(and(eq(customerLogins.customerId, id), isNull(customerLogins.deletedAt)))
      .orderBy(asc(customerLogins.createdAt), asc(customerLogins.id));
    return { items: rows.map(({ passwordSet, ...row }) => ({ ...row, invitation: passwordSet ? 'ACCEPTED' : 'PENDING' })) };
  });
}
