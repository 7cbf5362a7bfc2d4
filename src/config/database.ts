import { AsyncLocalStorage } from 'node:async_hooks';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { Logger } from 'pino';
import * as schema from '../db/schema/index.js';

export type Database = NodePgDatabase<typeof schema>;

export interface DatabaseHandle {
  readonly pool: pg.Pool;
  readonly db: Database;
}

/**
 * The application's pool connects as the app role (DATABASE_URL): it owns nothing and has no
 * BYPASSRLS, so row-level security applies to every query it runs.
 *
 * JIT compilation is off for these sessions (`options` in DATABASE_URL, if set, replaces this):
 * mPanel's statements are short, and PostgreSQL decides to JIT by the planner's cost estimate, which
 * row-level security and missing statistics (a table autovacuum has not analysed yet) inflate. One
 * such statement compiled ~18 functions with LLVM on every run, and LLVM was 74% of PostgreSQL's
 * CPU in the throughput bench (README, "Benchmarks"). GitLab turns JIT off for the same reason.
 */
export function createDatabase(url: string, options: { max: number; logger?: Logger; applicationName?: string }): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    application_name: options.applicationName ?? 'mpanel',
    options: '-c jit=off',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection (server restart, pg_terminate_backend) emits 'error' on
  // the pool; without a listener that crashes the process. The pool replaces the client by itself.
  pool.on('error', (error) => options.logger?.warn({ err: error }, 'idle PostgreSQL connection lost'));
  // A CHECKED-OUT client has no pool listener: when its connection is cut between two queries (a
  // transaction's, say), its 'error' event would be an uncaught exception that ends the process.
  // Nothing to do here: the query that follows fails (and is reported by its caller), and the pool
  // drops the client on release, as it is no longer queryable.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    releaseWhenBeginFails(client);
  });
  return { pool, db: drizzle(pool, { schema }) };
}

/**
 * Statements to send with the next bare BEGIN on a pooled client, in the same round trip (the
 * simple query protocol takes several statements in one message): db/tenant-tx.ts sets the
 * tenant this way, a round trip less per transaction. The wrapper below clears `pending` when it
 * sent them; a caller whose statements are still pending once the transaction is open (a client
 * without the wrapper) runs them itself. Parameter-free SQL only.
 */
export const beginWith = new AsyncLocalStorage<{ pending: string | undefined }>();

/**
 * drizzle-orm 0.45's pooled `transaction()` sends BEGIN before the try/finally that releases the
 * client (drizzle-orm issues #6023 and #6241, open): when BEGIN fails — the connection was cut just
 * as it was checked out (pg_terminate_backend, a server restart) — the client never goes back to
 * the pool, and enough such cuts exhaust it for good (every later transaction waits, pool.end()
 * never returns). So a client whose BEGIN fails is released here, with the error: the pool destroys
 * it. Remove this once drizzle releases the client itself.
 */
function releaseWhenBeginFails(client: pg.PoolClient): void {
  const query: unknown = Reflect.get(client, 'query');
  if (typeof query !== 'function') return;
  // A runtime wrapper: pg's overloaded `query` signature cannot be re-declared without a cast, and
  // the wrapper passes every call through unchanged (but a bare BEGIN, see beginWith).
  Object.defineProperty(client, 'query', {
    configurable: true,
    writable: true,
    value: (...args: unknown[]): unknown => {
      const [config] = args;
      const text = typeof config === 'object' && config !== null && 'text' in config && typeof config.text === 'string' ? config.text : undefined;
      const isBegin = text !== undefined && /^begin\b/i.test(text);
      const statements = text === 'begin' ? beginWith.getStore() : undefined;
      if (statements?.pending && typeof config === 'object') {
        args[0] = { ...config, text: `begin; ${statements.pending}` };
        statements.pending = undefined;
      }
      const result: unknown = Reflect.apply(query, client, args);
      if (!isBegin || !(result instanceof Promise)) return result;
      return result.catch((error: unknown) => {
        client.release(error instanceof Error ? error : new Error(String(error)));
        // Destroyed, so never checked out again: a later release() (a drizzle that releases the
        // client itself) must not throw "already released" over the real error.
        client.release = () => undefined;
        throw error;
      });
    },
  });
}
