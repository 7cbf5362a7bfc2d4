import { asc, eq } from 'drizzle-orm';
import { customerLinkTokens, customerLogins } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder } from '../factories.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** A customer of tenant A (from an order, without a portal login yet). */
async function createCustomer({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const { customer } = await buildOrder(db, tenant);
  return { id: customer.id };
}

/** A customer of tenant A with an owner login: what its contact list would show. */
async function createCustomerWithLogin(context: CrossTenantContext): Promise<Record<string, string>> {
  const made = await createCustomer(context);
  await buildCustomerLogin(context.db, context.tenant, { id: made.id! });
  return made;
}

/** The customer's portal logins and links (read as tenant A). */
async function portalAccess({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, async (tx) => ({
    logins: await tx.select().from(customerLogins).where(eq(customerLogins.customerId, id!)),
    links: await tx.select({ id: customerLinkTokens.id, kind: customerLinkTokens.kind }).from(customerLinkTokens).where(eq(customerLinkTokens.customerId, id!)).orderBy(asc(customerLinkTokens.id)),
    customerId: id,
  }));
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'POST /api/customers/:id/invitation', create: createCustomer, snapshot: portalAccess },
  { route: 'GET /api/customers/:id/contacts', create: createCustomerWithLogin, snapshot: portalAccess },
];
