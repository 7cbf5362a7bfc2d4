import { and, eq, ilike, inArray, isNull, type SQL } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { prices, products, type Price, type Product } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError, conflict, notFound, validationFailed, type FieldError } from '../../shared/errors/app-error.js';
import { findPgError } from '../../shared/errors/pg-errors.js';
import { keyset, page } from '../../shared/http/pagination.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import {
  intervalsFor,
  parseFeatures,
  type CreateProductBody,
  type ListProductsQuery,
  type PriceResponse,
  type ProductResponse,
  type UpdateProductBody,
} from './catalog.types.js';

/** What the catalog services need: the database, and what to call after a committed write. */
export interface CatalogDeps {
  db: Database;
  /** Drops the tenant's public catalog caches, in this process and the others (public-catalog.cache.ts). */
  invalidate(tenantId: string): Promise<void>;
}

/** Who acts, in which tenant (from the token, never from the body). */
export interface CatalogCaller {
  tenantId: string;
  actor: AuditActor;
}

const NAME_UNIQUE = 'products_tenant_name_lower_unique';

/** Admin views list a product's prices cheapest first; ids break ties so the order is stable. */
function byAmount(a: Price, b: Price): number {
  return a.amount - b.amount || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function priceView(price: Price): PriceResponse {
  return {
    id: price.id,
    productId: price.productId,
    amount: price.amount,
    currency: price.currency,
    interval: price.interval,
    isActive: price.isActive,
    createdAt: price.createdAt,
    updatedAt: price.updatedAt,
  };
}

export function productView(product: Product, productPrices: readonly Price[]): ProductResponse {
  return {
    id: product.id,
    name: product.name,
    description: product.description,
    type: product.type,
    features: product.features,
    isActive: product.isActive,
    isPublic: product.isPublic,
    createdAt: product.createdAt,
    updatedAt: product.updatedAt,
    deletedAt: product.deletedAt,
    prices: [...productPrices].sort(byAmount).map(priceView),
  };
}

/** A product as the audit log records it (JSON: dates as ISO strings). */
function productAudit(product: Product): Record<string, unknown> {
  return {
    id: product.id,
    name: product.name,
    description: product.description,
    type: product.type,
    features: product.features,
    isActive: product.isActive,
    isPublic: product.isPublic,
    deletedAt: product.deletedAt?.toISOString() ?? null,
  };
}

export function priceAudit(price: Price): Record<string, unknown> {
  return { id: price.id, productId: price.productId, amount: price.amount, currency: price.currency, interval: price.interval, isActive: price.isActive };
}

/** Interval rule (intervalsFor) as a field error, or none. */
export function intervalError(type: Product['type'], interval: Price['interval'], field: string): FieldError | undefined {
  const allowed = intervalsFor(type);
  if (allowed.includes(interval)) return undefined;
  return { field, message: `${interval} is not allowed for a ${type} product (allowed: ${allowed.join(', ')})` };
}

/** A name already used by another (non-deleted) product of the tenant answers 409 on body/name. */
async function withNameCheck<T>(write: Promise<T>, name: string | undefined): Promise<T> {
  try {
    return await write;
  } catch (error) {
    const pg = findPgError(error);
    if (pg?.code === '23505' && pg.constraint === NAME_UNIQUE) {
      throw conflict(`A product named "${name ?? ''}" already exists`, [{ field: 'body/name', message: 'is already used by another product' }]);
    }
    throw error;
  }
}

async function pricesOf(tx: Tx, tenantId: string, productIds: readonly string[]): Promise<Map<string, Price[]>> {
  const byProduct = new Map<string, Price[]>();
  if (productIds.length === 0) return byProduct;
  const rows = await tx
    .select()
    .from(prices)
    .where(and(eq(prices.tenantId, tenantId), inArray(prices.productId, [...productIds])));
  for (const row of rows) {
    const list = byProduct.get(row.productId);
    if (list) list.push(row);
    else byProduct.set(row.productId, [row]);
  }
  return byProduct;
}

/** The product row, locked for the rest of the transaction when `lock` (writes). */
export async function findProduct(tx: Tx, tenantId: string, id: string, lock = false): Promise<Product> {
  const query = tx
    .select()
    .from(products)
    .where(and(eq(products.tenantId, tenantId), eq(products.id, id)));
  const [row] = lock ? await query.for('update') : await query;
  if (!row) throw notFound('Product');
  return row;
}

/** A deleted product (and its prices) is kept for the subscriptions that refer to it, read-only. */
export function assertNotDeleted(product: Product): void {
  if (product.deletedAt) throw conflict('This product is deleted: it and its prices can no longer be changed');
}

/** LIKE pattern for a literal substring. */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;

export async function listProducts(db: Database, tenantId: string, query: ListProductsQuery) {
  return withTenant(db, tenantId, async (tx) => {
    const { where, orderBy } = keyset(products.createdAt, products.id, query.cursor);
    const conditions: (SQL | undefined)[] = [eq(products.tenantId, tenantId), where];
    if (query.type) conditions.push(eq(products.type, query.type));
    if (query.isActive !== undefined) conditions.push(eq(products.isActive, query.isActive));
    if (query.isPublic !== undefined) conditions.push(eq(products.isPublic, query.isPublic));
    if (query.q) conditions.push(ilike(products.name, containing(query.q)));
    if (!query.includeDeleted) conditions.push(isNull(products.deletedAt));
    const rows = await tx
      .select()
      .from(products)
      .where(and(...conditions))
      .orderBy(...orderBy)
      .limit(query.limit + 1);
    const { items, nextCursor } = page(rows, query.limit);
    const byProduct = await pricesOf(
      tx,
      tenantId,
      items.map((item) => item.id),
    );
    return { items: items.map((item) => productView(item, byProduct.get(item.id) ?? [])), nextCursor };
  });
}

/** Any product of the tenant, deleted ones included (deletedAt says so): subscriptions still refer to them. */
export async function getProduct(db: Database, tenantId: string, id: string): Promise<ProductResponse> {
  return withTenant(db, tenantId, async (tx) => {
    const product = await findProduct(tx, tenantId, id);
    const byProduct = await pricesOf(tx, tenantId, [product.id]);
    return productView(product, byProduct.get(product.id) ?? []);
  });
}

export async function createProduct(deps: CatalogDeps, caller: CatalogCaller, body: CreateProductBody): Promise<ProductResponse> {
  const { tenantId, actor } = caller;
  const priceInputs = body.prices ?? [];
  const intervalErrors = priceInputs.flatMap((price, index) => intervalError(body.type, price.interval, `body/prices/${index}/interval`) ?? []);
  if (intervalErrors.length > 0) throw validationFailed(intervalErrors, 'The request body is not valid');

  const created = await withNameCheck(
    withTenant(deps.db, tenantId, async (tx) => {
      const [product] = await tx
        .insert(products)
        .values({
          tenantId,
          name: body.name,
          description: body.description ?? null,
          type: body.type,
          features: body.features,
          isActive: body.isActive ?? true,
          isPublic: body.isPublic ?? true,
        })
        .returning();
      if (!product) throw new Error('insert into products returned no row');
      const productPrices =
        priceInputs.length === 0
          ? []
          : await tx
              .insert(prices)
              .values(priceInputs.map((price) => ({ tenantId, productId: product.id, amount: price.amount, currency: price.currency, interval: price.interval, isActive: price.isActive ?? true })))
              .returning();
      await recordAudit(tx, {
        tenantId,
        actor,
        action: 'product.created',
        targetType: 'product',
        targetId: product.id,
        after: { ...productAudit(product), prices: [...productPrices].sort(byAmount).map(priceAudit) },
      });
      return productView(product, productPrices);
    }),
    body.name,
  );
  await deps.invalidate(tenantId);
  return created;
}

export async function updateProduct(deps: CatalogDeps, caller: CatalogCaller, id: string, body: UpdateProductBody): Promise<ProductResponse> {
  const { tenantId, actor } = caller;
  const result = await withNameCheck(
    withTenant(deps.db, tenantId, async (tx) => {
      const before = await findProduct(tx, tenantId, id, true);
      assertNotDeleted(before);
      const changes: Partial<Pick<Product, 'name' | 'description' | 'features' | 'isActive' | 'isPublic'>> = {};
      if (body.name !== undefined) changes.name = body.name;
      if (body.description !== undefined) changes.description = body.description;
      if (body.features !== undefined) changes.features = parseFeatures(before.type, body.features);
      if (body.isActive !== undefined) changes.isActive = body.isActive;
      if (body.isPublic !== undefined) changes.isPublic = body.isPublic;
      const byProduct = await pricesOf(tx, tenantId, [id]);
      if (Object.keys(changes).length === 0) return { product: productView(before, byProduct.get(id) ?? []), changed: false };

      const [after] = await tx
        .update(products)
        .set(changes)
        .where(and(eq(products.tenantId, tenantId), eq(products.id, id)))
        .returning();
      if (!after) throw new Error('update of products returned no row');
      await recordAudit(tx, { tenantId, actor, action: 'product.updated', targetType: 'product', targetId: id, before: productAudit(before), after: productAudit(after) });
      return { product: productView(after, byProduct.get(id) ?? []), changed: true };
    }),
    body.name,
  );
  if (result.changed) await deps.invalidate(tenantId);
  return result.product;
}

/**
 * Soft delete: the row stays (subscriptions and orders refer to it and are left as they are), the
 * public catalog and new orders no longer see it, and its name becomes free for a new product.
 */
export async function deleteProduct(deps: CatalogDeps, caller: CatalogCaller, id: string): Promise<void> {
  const { tenantId, actor } = caller;
  await withTenant(deps.db, tenantId, async (tx) => {
    const before = await findProduct(tx, tenantId, id, true);
    if (before.deletedAt) throw new AppError('CONFLICT', 'This product is already deleted');
    const [after] = await tx
      .update(products)
      .set({ deletedAt: new Date() })
      .where(and(eq(products.tenantId, tenantId), eq(products.id, id)))
      .returning();
    if (!after) throw new Error('update of products returned no row');
    await recordAudit(tx, { tenantId, actor, action: 'product.deleted', targetType: 'product', targetId: id, before: productAudit(before), after: productAudit(after) });
  });
  await deps.invalidate(tenantId);
}
