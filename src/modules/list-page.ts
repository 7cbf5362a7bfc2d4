import { and, eq, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Database } from '../config/database.js';
import { withCustomer, withTenant, type Tx } from '../db/tenant-tx.js';
import { keyset, page } from '../shared/http/pagination.js';

/** The WHERE, ORDER BY and LIMIT of one page: `rows` applies them to its own select. */
export interface PageQuery {
  readonly where: SQL | undefined;
  readonly orderBy: SQL[];
  readonly limit: number;
}

export interface ListPageOptions<Row, View> {
  /** The listed table's tenant, creation time and id columns (the table itself fits). */
  readonly table: { readonly tenantId: PgColumn; readonly createdAt: PgColumn; readonly id: PgColumn };
  readonly filters: readonly (SQL | undefined)[];
  /** The select, e.g. `(tx, q) => tx.select().from(jobs).where(q.where).orderBy(...q.orderBy).limit(q.limit)`. */
  readonly rows: (tx: Tx, query: PageQuery) => Promise<Row[]>;
  readonly view: (row: Row) => View;
  /** The client portal: the page is read under the customer policy too (withCustomer); the filters still name the customer. */
  readonly customerId?: string | undefined;
}

/**
 * One page of a tenant's rows, newest first, with keyset pagination (shared/http/pagination.ts):
 * the tenant's rows matching every filter, after the cursor, `limit` of them, each turned into its
 * view. Every list of the staff API is this, with its own filters.
 */
export async function listPage<Row extends { createdAt: Date; id: string }, View>(
  db: Database,
  tenantId: string,
  query: { readonly limit: number; readonly cursor?: string | undefined },
  options: ListPageOptions<Row, View>,
): Promise<{ items: View[]; nextCursor: string | null }> {
  const { table } = options;
  const { where: after, orderBy } = keyset(table.createdAt, table.id, query.cursor);
  const where = and(eq(table.tenantId, tenantId), ...options.filters, after);
  const select = (tx: Tx) => options.rows(tx, { where, orderBy, limit: query.limit + 1 });
  const rows = await (options.customerId ? withCustomer(db, tenantId, options.customerId, select) : withTenant(db, tenantId, select));
  const { items, nextCursor } = page(rows, query.limit);
  return { items: items.map(options.view), nextCursor };
}
