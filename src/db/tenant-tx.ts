import { sql } from 'drizzle-orm';
import { beginWith, type Database } from '../config/database.js';

/** A transaction handle; services accept `Database | Tx` so callers can compose transactions. */
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
export type DbOrTx = Database | Tx;

/** A tenant id that can be written into SQL text as it is (the form PostgreSQL prints a uuid in). */
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Runs `fn` in one transaction with the tenant set for row-level security. `set_config(..., true)`
 * is transaction-local: at commit the pooled connection forgets it, so a later query on the same
 * connection without a tenant sees no rows (never another tenant's). The set_config goes in the
 * BEGIN's own round trip (config/database.ts `beginWith`; the id is a checked uuid, so it can be
 * written into the text); otherwise, or when the client did not send it, as its own statement.
 */
export async function withTenant<T>(db: Database, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if (!UUID_TEXT.test(tenantId)) {
    return db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
      return fn(tx);
    });
  }
  const statements = { pending: `select set_config('app.tenant_id', '${tenantId}', true)` as string | undefined };
  return beginWith.run(statements, () =>
    db.transaction(async (tx) => {
      if (statements.pending !== undefined) {
        statements.pending = undefined;
        await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
      }
      return fn(tx);
    }),
  );
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
