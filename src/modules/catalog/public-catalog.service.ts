import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { prices, products, tenants } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { PublicPlansResponse, PublicProductsResponse } from './catalog.types.js';
import type { PublicEndpoint } from './public-catalog.cache.js';

/** The tenant whose catalog a public request reads. */
export interface PublicTenant {
  readonly id: string;
  readonly slug: string;
}

type Lookup = { tenant: PublicTenant } | { error: AppError };

const SINGLE_TENANT = '';
const TENANT_TTL_MS = 5_000;
const MAX_REMEMBERED = 1_000;

/**
 * Slug → tenant for the public endpoints, remembered for a few seconds (answers included: an
 * unknown slug is not looked up again on every request). So a tenant created, renamed or
 * deactivated shows in the public catalog within TENANT_TTL_MS. The tenants table has no RLS.
 */
export class PublicTenantLookup {
  private readonly remembered = new Map<string, { lookup: Lookup; expiresAt: number }>();

  constructor(
    private readonly db: Database,
    private readonly ttlMs = TENANT_TTL_MS,
  ) {}

  async resolve(slug: string | undefined): Promise<PublicTenant> {
    const key = slug ?? SINGLE_TENANT;
    let memo = this.remembered.get(key);
    if (!memo || memo.expiresAt <= Date.now()) {
      const lookup = slug === undefined ? await this.onlyActiveTenant() : await this.bySlug(slug);
      // Bounded: a flood of random slugs must not grow the map without limit.
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      memo = { lookup, expiresAt: Date.now() + this.ttlMs };
      this.remembered.set(key, memo);
    }
    if ('error' in memo.lookup) throw memo.lookup.error;
    return memo.lookup.tenant;
  }

  private async bySlug(slug: string): Promise<Lookup> {
    const [row] = await this.db.select({ id: tenants.id, slug: tenants.slug, isActive: tenants.isActive }).from(tenants).where(eq(tenants.slug, slug));
    if (!row?.isActive) return { error: new AppError('NOT_FOUND', `No active tenant "${slug}"`) };
    return { tenant: { id: row.id, slug: row.slug } };
  }

  private async onlyActiveTenant(): Promise<Lookup> {
    const rows = await this.db.select({ id: tenants.id, slug: tenants.slug }).from(tenants).where(eq(tenants.isActive, true)).limit(2);
    const [only] = rows;
    if (rows.length !== 1 || !only) {
      const message = rows.length === 0 ? 'there is no active tenant' : 'is required: this installation has more than one active tenant';
      return { error: new AppError('VALIDATION_FAILED', 'The request querystring is not valid', { fields: [{ field: 'querystring/tenant', message }] }) };
    }
    return { tenant: only };
  }
}

/**
 * What the public may see of a tenant's catalog: active, public, non-deleted products, each with
 * its active prices (a product without one is listed with no prices and yields no plan). Sorted
 * by product name (case-insensitive), then amount; ids break ties so the order, and so the ETag,
 * never depends on the query plan.
 */
async function visibleCatalog(db: Database, tenantId: string) {
  return withTenant(db, tenantId, (tx) =>
    tx
      .select({
        productId: products.id,
        name: products.name,
        description: products.description,
        type: products.type,
        features: products.features,
        priceId: prices.id,
        amount: prices.amount,
        currency: prices.currency,
        interval: prices.interval,
      })
      .from(products)
      .leftJoin(prices, and(eq(prices.productId, products.id), eq(prices.tenantId, tenantId), eq(prices.isActive, true)))
      .where(and(eq(products.tenantId, tenantId), eq(products.isActive, true), eq(products.isPublic, true), isNull(products.deletedAt)))
      .orderBy(sql`lower(${products.name})`, asc(products.name), asc(products.id), asc(prices.amount), asc(prices.interval), asc(prices.id)),
  );
}

type VisibleRow = Awaited<ReturnType<typeof visibleCatalog>>[number];

function productsBody(rows: readonly VisibleRow[]): string {
  const list: PublicProductsResponse['products'] = [];
  for (const row of rows) {
    let product = list.at(-1);
    if (product?.id !== row.productId) {
      product = { id: row.productId, name: row.name, description: row.description, type: row.type, features: row.features, prices: [] };
      list.push(product);
    }
    if (row.priceId !== null && row.amount !== null && row.currency !== null && row.interval !== null) {
      product.prices.push({ id: row.priceId, amount: row.amount, currency: row.currency, interval: row.interval });
    }
  }
  const body: PublicProductsResponse = { products: list };
  return JSON.stringify(body);
}

function plansBody(rows: readonly VisibleRow[]): string {
  const plans: PublicPlansResponse['plans'] = [];
  for (const row of rows) {
    if (row.priceId === null || row.amount === null || row.currency === null || row.interval === null) continue;
    plans.push({
      planId: row.priceId,
      productId: row.productId,
      productName: row.name,
      type: row.type,
      interval: row.interval,
      amount: row.amount,
      currency: row.currency,
      features: row.features,
    });
  }
  const body: PublicPlansResponse = { plans };
  return JSON.stringify(body);
}

/** The serialised JSON body of a public endpoint, read from the database. */
export async function renderPublicCatalog(db: Database, tenantId: string, endpoint: PublicEndpoint): Promise<string> {
  const rows = await visibleCatalog(db, tenantId);
  return endpoint === 'products' ? productsBody(rows) : plansBody(rows);
}
