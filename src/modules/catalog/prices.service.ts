import { and, eq, isNull } from 'drizzle-orm';
import { prices, products, subscriptions, type Price, type Product } from '../../db/schema/index.js';
import { withTenant, type DbOrTx, type Tx } from '../../db/tenant-tx.js';
import { conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import { recordAudit } from '../audit/audit.service.js';
import type { PriceInput, PriceResponse, UpdatePriceBody } from './catalog.types.js';
import { assertNotDeleted, findProduct, intervalError, priceAudit, priceView, type CatalogCaller, type CatalogDeps } from './products.service.js';

export async function createPrice(deps: CatalogDeps, caller: CatalogCaller, productId: string, body: PriceInput): Promise<PriceResponse> {
  const { tenantId, actor } = caller;
  const created = await withTenant(deps.db, tenantId, async (tx) => {
    // Locked so a concurrent delete cannot slip between the check and the insert.
    const product = await findProduct(tx, tenantId, productId, true);
    assertNotDeleted(product);
    const badInterval = intervalError(product.type, body.interval, 'body/interval');
    if (badInterval) throw validationFailed([badInterval], 'The request body is not valid');
    const [price] = await tx
      .insert(prices)
      .values({ tenantId, productId, amount: body.amount, currency: body.currency, interval: body.interval, isActive: body.isActive ?? true })
      .returning();
    if (!price) throw new Error('insert into prices returned no row');
    await recordAudit(tx, { tenantId, actor, action: 'price.created', targetType: 'price', targetId: price.id, after: priceAudit(price) });
    return priceView(price);
  });
  await deps.invalidate(tenantId);
  return created;
}

async function findPriceForUpdate(tx: Tx, tenantId: string, id: string): Promise<{ price: Price; product: Product }> {
  // FOR UPDATE on the price conflicts with the key-share lock a new subscription's foreign key
  // takes on it: a subscription cannot appear between the check below and this update.
  const [price] = await tx
    .select()
    .from(prices)
    .where(and(eq(prices.tenantId, tenantId), eq(prices.id, id)))
    .for('update');
  if (!price) throw notFound('Price');
  return { price, product: await findProduct(tx, tenantId, price.productId) };
}

async function hasSubscriptions(tx: Tx, tenantId: string, priceId: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.tenantId, tenantId), eq(subscriptions.priceId, priceId)))
    .limit(1);
  return row !== undefined;
}

/**
 * Activates/deactivates a price, or corrects its amount or currency while nobody subscribes to
 * it. Once a subscription refers to it, what customers agreed to pay is fixed: a new price is
 * created instead. The interval is never accepted (fixed at creation).
 */
export async function updatePrice(deps: CatalogDeps, caller: CatalogCaller, id: string, body: UpdatePriceBody): Promise<PriceResponse> {
  const { tenantId, actor } = caller;
  const result = await withTenant(deps.db, tenantId, async (tx) => {
    const { price: before, product } = await findPriceForUpdate(tx, tenantId, id);
    assertNotDeleted(product);
    const changes: Partial<Pick<Price, 'amount' | 'currency' | 'isActive'>> = {};
    if (body.amount !== undefined && body.amount !== before.amount) changes.amount = body.amount;
    if (body.currency !== undefined && body.currency !== before.currency) changes.currency = body.currency;
    const fixedOnceSubscribed = (['amount', 'currency'] as const).filter((field) => changes[field] !== undefined);
    if (fixedOnceSubscribed.length > 0 && (await hasSubscriptions(tx, tenantId, id))) {
      throw conflict(
        `This price has subscriptions: its amount and currency cannot change. Create a new price (POST /api/products/${product.id}/prices) and deactivate this one.`,
        fixedOnceSubscribed.map((field) => ({ field: `body/${field}`, message: 'cannot change on a price that has subscriptions' })),
      );
    }
    if (body.isActive !== undefined && body.isActive !== before.isActive) changes.isActive = body.isActive;
    if (Object.keys(changes).length === 0) return { price: priceView(before), changed: false };

    const [after] = await tx
      .update(prices)
      .set(changes)
      .where(and(eq(prices.tenantId, tenantId), eq(prices.id, id)))
      .returning();
    if (!after) throw new Error('update of prices returned no row');
    await recordAudit(tx, { tenantId, actor, action: 'price.updated', targetType: 'price', targetId: id, before: priceAudit(before), after: priceAudit(after) });
    return { price: priceView(after), changed: true };
  });
  if (result.changed) await deps.invalidate(tenantId);
  return result.price;
}

/**
 * The price and product a NEW order may use, or undefined: the price is active and its product
 * active and not deleted (a private product can still be sold through a direct link, so
 * `isPublic` is not required). Call in the order's transaction, with the tenant set.
 */
export async function findOrderablePrice(tx: DbOrTx, tenantId: string, priceId: string): Promise<{ price: Price; product: Product } | undefined> {
  const [row] = await tx
    .select({ price: prices, product: products })
    .from(prices)
    .innerJoin(products, eq(products.id, prices.productId))
    .where(and(eq(prices.tenantId, tenantId), eq(prices.id, priceId), eq(prices.isActive, true), eq(products.isActive, true), isNull(products.deletedAt)));
  return row;
}
