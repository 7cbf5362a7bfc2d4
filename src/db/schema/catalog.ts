import { isNull, sql } from 'drizzle-orm';
import { boolean, check, index, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { amount, createdAt, currency, deletedAt, id, moneyChecks, updatedAt } from './columns.js';
import { billingIntervalEnum, productTypeEnum } from './enums.js';
import { tenantIsolationPolicy } from './rls.js';
import { tenantId } from './tenancy.js';

/** Dunning settings over the tenant's, for a product, a customer or a subscription (fields left out or null: the layer below's; modules/billing/dunning-policy.ts). */
export interface DunningOverride {
  reminderDays?: number[] | undefined;
  overdueNoticeDays?: number[] | undefined;
  suspendAfterDays?: number | undefined;
  terminationEnabled?: boolean | undefined;
  terminateAfterDays?: number | undefined;
  terminationWarningDays?: number | undefined;
}

export const products = pgTable(
  'products',
  {
    id: id(),
    tenantId: tenantId(),
    name: text('name').notNull(),
    description: text('description'),
    type: productTypeEnum('type').notNull(),
    features: jsonb('features').$type<Record<string, unknown>>().notNull().default({}),
    isActive: boolean('is_active').notNull().default(true),
    isPublic: boolean('is_public').notNull().default(true),
    /** Dunning settings for subscriptions of this product, over the tenant's (modules/billing/dunning-policy.ts); a customer's or subscription's override wins over it. */
    dunningOverride: jsonb('dunning_override').$type<DunningOverride>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: deletedAt(),
  },
  (t) => [
    check('products_name_length_check', sql`char_length(${t.name}) between 1 and 120`),
    uniqueIndex('products_tenant_name_lower_unique')
      .on(t.tenantId, sql`lower(${t.name})`)
      .where(isNull(t.deletedAt)),
    index('products_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

export const prices = pgTable(
  'prices',
  {
    id: id(),
    tenantId: tenantId(),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id),
    amount: amount(),
    currency: currency(),
    interval: billingIntervalEnum('interval').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    stripePriceId: text('stripe_price_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    ...moneyChecks('prices', t.amount, t.currency),
    index('prices_product_idx').on(t.productId),
    index('prices_tenant_active_idx').on(t.tenantId, t.isActive),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

export type Product = typeof products.$inferSelect;
export type NewProduct = typeof products.$inferInsert;
export type Price = typeof prices.$inferSelect;
export type NewPrice = typeof prices.$inferInsert;
