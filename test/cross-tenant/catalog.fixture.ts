import { eq } from 'drizzle-orm';
import { prices, products } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildPrice, buildProduct } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** A product of tenant A with one price. */
async function createProduct({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const product = await buildProduct(db, tenant);
  await buildPrice(db, tenant, product);
  return { id: product.id };
}

async function createPrice({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const product = await buildProduct(db, tenant);
  const price = await buildPrice(db, tenant, product);
  return { id: price.id };
}

/** The product row and all its prices, read as tenant A. */
function productSnapshot({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, async (tx) => ({
    product: await tx.select().from(products).where(eq(products.id, id!)),
    prices: await tx.select().from(prices).where(eq(prices.productId, id!)).orderBy(prices.id),
  }));
}

function priceSnapshot({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, (tx) => tx.select().from(prices).where(eq(prices.id, id!)));
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/products/:id', create: createProduct, snapshot: productSnapshot },
  { route: 'PATCH /api/products/:id', create: createProduct, body: { name: 'Renamed by tenant B', isPublic: false }, snapshot: productSnapshot },
  { route: 'DELETE /api/products/:id', create: createProduct, snapshot: productSnapshot },
  { route: 'POST /api/products/:id/prices', create: createProduct, body: { amount: 1, currency: 'EUR', interval: 'YEAR' }, snapshot: productSnapshot },
  { route: 'PATCH /api/prices/:id', create: createPrice, body: { amount: 1, isActive: false }, snapshot: priceSnapshot },
];
