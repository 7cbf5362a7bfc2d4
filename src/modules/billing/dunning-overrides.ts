import { and, eq, inArray, isNull } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { customers, prices, products, subscriptions, type DunningOverride, type Subscription } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { notFound, validationFailed } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { DunningOverrideBody, DunningOverrideView } from './billing.types.js';
import { dunningProblems, effectiveSettings, type DunningLayers } from './dunning-policy.js';
import { settingsOf } from './invoices.service.js';

/**
 * Product and customer dunning overrides: the layers between the tenant's settings and a
 * subscription's own override (dunning-policy.ts resolveDunning). Read joined with the
 * subscription's price (`layerColumns`: the billing run reads a whole batch in one query), set and
 * cleared by staff through `PUT|DELETE /api/{products|customers}/:id/dunning-override`. A change
 * sets the run's billing_next_at of the subscriptions concerned back to NULL (triggers, migration
 * 0030_dunning_overrides_logo), so the next run looks at them again.
 */

/** The product's and the customer's overrides, for a select joining products and customers. */
export const layerColumns = { productDunningOverride: products.dunningOverride, customerDunningOverride: customers.dunningOverride };

export interface LayerRow {
  readonly productDunningOverride: DunningOverride | null;
  readonly customerDunningOverride: DunningOverride | null;
}

export function layersOf(row: LayerRow, subscription: Pick<Subscription, 'dunningOverride'>): DunningLayers {
  return { product: row.productDunningOverride, customer: row.customerDunningOverride, subscription: subscription.dunningOverride };
}

/** One subscription's layers (one query: its price's product, its customer). */
export async function dunningLayersOf(tx: Tx, subscription: Pick<Subscription, 'id' | 'priceId' | 'customerId' | 'dunningOverride'>): Promise<DunningLayers> {
  const [row] = await tx
    .select(layerColumns)
    .from(prices)
    .innerJoin(products, eq(products.id, prices.productId))
    .innerJoin(customers, eq(customers.id, subscription.customerId))
    .where(eq(prices.id, subscription.priceId));
  if (!row) throw new Error(`subscription ${subscription.id} has no price or customer`);
  return layersOf(row, subscription);
}

type Auth = Pick<AuthContext, 'tenantId'>;
export type OverrideTarget = 'product' | 'customer';

const tables = {
  product: { table: products, label: 'Product', action: 'product.dunning_override_updated' },
  customer: { table: customers, label: 'Customer', action: 'customer.dunning_override_updated' },
} as const;

async function lockTarget(tx: Tx, target: OverrideTarget, id: string): Promise<{ id: string; dunningOverride: DunningOverride | null }> {
  const { table, label } = tables[target];
  const [row] = await tx
    .select({ id: table.id, dunningOverride: table.dunningOverride })
    .from(table)
    .where(and(eq(table.id, id), isNull(table.deletedAt)))
    .for('update');
  if (!row) throw notFound(label);
  return row;
}

export async function getDunningOverride(db: Database, auth: Auth, target: OverrideTarget, id: string): Promise<DunningOverrideView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const { table, label } = tables[target];
    const [row] = await tx
      .select({ id: table.id, dunningOverride: table.dunningOverride })
      .from(table)
      .where(and(eq(table.id, id), isNull(table.deletedAt)));
    if (!row) throw notFound(label);
    return { id: row.id, dunningOverride: row.dunningOverride };
  });
}

/** The distinct sets of overrides of the live subscriptions of a product or customer. */
async function layersInUse(tx: Tx, target: OverrideTarget, id: string): Promise<DunningLayers[]> {
  const rows = await tx
    .selectDistinct({ ...layerColumns, subscription: subscriptions.dunningOverride })
    .from(subscriptions)
    .innerJoin(prices, eq(prices.id, subscriptions.priceId))
    .innerJoin(products, eq(products.id, prices.productId))
    .innerJoin(customers, eq(customers.id, subscriptions.customerId))
    .where(and(target === 'product' ? eq(prices.productId, id) : eq(subscriptions.customerId, id), inArray(subscriptions.status, ['ACTIVE', 'PAST_DUE', 'SUSPENDED'])));
  return rows.map((row) => layersOf(row, { dunningOverride: row.subscription }));
}

/**
 * Sets (a body) or clears (null) a product's or customer's override. The same bounds as a
 * subscription's (the body schema) and the same order of days, checked over the tenant's settings
 * with this override on top, and with the other overrides of each live subscription it applies
 * to. Audited with before and after.
 */
export async function setDunningOverride(db: Database, auth: Auth, target: OverrideTarget, id: string, body: DunningOverrideBody | null, actor: AuditActor): Promise<DunningOverrideView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const before = await lockTarget(tx, target, id);
    const override: DunningOverride | null = body === null ? null : Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
    if (override) {
      const tenant = await settingsOf(tx, auth.tenantId);
      const problems = dunningProblems(effectiveSettings(tenant, { [target]: override }), 'body');
      if (problems.length > 0) throw validationFailed(problems);
      // And with the other layers of the live subscriptions it applies to (a customer's override on
      // top of this product's, ...): the merged days must keep their order for each of them.
      for (const layers of await layersInUse(tx, target, id)) {
        const merged = dunningProblems(effectiveSettings(tenant, { ...layers, [target]: override }), 'body');
        const other = target === 'product' ? 'customer' : 'product';
        if (merged.length > 0) throw validationFailed(merged.map((problem) => ({ ...problem, message: `${problem.message}, once merged with the ${other} or subscription overrides of a subscription it applies to` })));
      }
    }
    const { table, action } = tables[target];
    await tx.update(table).set({ dunningOverride: override }).where(eq(table.id, id));
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action,
      targetType: target,
      targetId: id,
      before: { dunningOverride: before.dunningOverride },
      after: { dunningOverride: override },
    });
    return { id, dunningOverride: override };
  });
}
