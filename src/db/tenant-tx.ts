import { sql } from 'drizzle-orm';
import type { Database } from '../config/database.js';

/** A transaction handle; services accept `Database | Tx` so callers can compose transactions. */
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
export type DbOrTx = Database | Tx;

/**
 * Runs `fn` in one transaction with the tenant set for row-level security. `set_config(..., true)`
 * is transaction-local: at commit the pooled connection forgets it, so a later query on the same
 * connection without a tenant sees no rows (never another tenant's).
 */
export async function withTenant<T>(db: Database, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
    return fn(tx);
  });
}

/**
 * withTenant for the client portal: the tenant AND the customer set, so the customer policy
 * (db/schema/rls.ts) hides every other customer's rows of that tenant, on top of the portal's
 * own query scope.
 */
export async function withCustomer<T>(db: Database, tenantId: string, customerId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true), set_config('app.customer_id', ${customerId}, true)`);
    return fn(tx);
  });
}
