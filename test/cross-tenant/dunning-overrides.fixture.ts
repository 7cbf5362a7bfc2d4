import { eq } from 'drizzle-orm';
import { customers, products } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildProduct } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

// Product and customer dunning overrides (modules/billing/dunning-overrides.ts): tenant A's, with an override set, out of B's reach.
const override = { suspendAfterDays: 11 };

async function product({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const row = await buildProduct(db, tenant);
  await withTenant(db, tenant.id, (tx) => tx.update(products).set({ dunningOverride: override }).where(eq(products.id, row.id)));
  return { id: row.id };
}

async function customer({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const [row] = await withTenant(db, tenant.id, (tx) =>
    tx.insert(customers).values({ tenantId: tenant.id, email: `ct-${crypto.randomUUID()}@example.test`, name: 'Cross Tenant', dunningOverride: override }).returning(),
  );
  if (!row) throw new Error('no customer');
  return { id: row.id };
}

const productSnapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, (tx) => tx.select().from(products).where(eq(products.id, id!)));
const customerSnapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, (tx) => tx.select().from(customers).where(eq(customers.id, id!)));

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/products/:id/dunning-override', create: product, snapshot: productSnapshot },
  { route: 'PUT /api/products/:id/dunning-override', create: product, body: { suspendAfterDays: 30 }, snapshot: productSnapshot },
  { route: 'DELETE /api/products/:id/dunning-override', create: product, snapshot: productSnapshot },
  { route: 'GET /api/customers/:id/dunning-override', create: customer, snapshot: customerSnapshot },
  { route: 'PUT /api/customers/:id/dunning-override', create: customer, body: { suspendAfterDays: 30 }, snapshot: customerSnapshot },
  { route: 'DELETE /api/customers/:id/dunning-override', create: customer, snapshot: customerSnapshot },
];
