import { sql } from 'drizzle-orm';
import { check, integer, text, timestamp, uuid, type PgColumn } from 'drizzle-orm/pg-core';

// Shared column builders. Each call returns a fresh builder (a builder must not be shared
// between tables). Property names are camelCase, column names snake_case, always explicit.

export const id = () => uuid('id').primaryKey().defaultRandom();

// Millisecond precision: what a JavaScript Date holds, so values (and keyset cursors built from
// them) survive a round trip exactly.
export const tstz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const createdAt = () => tstz('created_at').notNull().defaultNow();

/** Set by the application on every update (no trigger): Drizzle's `$onUpdate`. */
export const updatedAt = () =>
  tstz('updated_at')
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date());

export const deletedAt = () => tstz('deleted_at');

/** Money: integer minor units (cents), never floats. */
export const amount = () => integer('amount').notNull();

/** ISO 4217 code, upper case, e.g. 'USD'. */
export const currency = () => text('currency').notNull();

/** CHECKs for an (amount, currency) pair: amount >= 0 and a three-letter upper-case code. */
export function moneyChecks(table: string, amountCol: PgColumn, currencyCol: PgColumn) {
  return [
    check(`${table}_amount_check`, sql`${amountCol} >= 0`),
    check(`${table}_currency_check`, sql`${currencyCol} ~ '^[A-Z]{3}$'`),
  ];
}
