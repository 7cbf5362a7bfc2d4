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
 */
export function createDatabase(url: string, options: { max: number; logger?: Logger; applicationName?: string }): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max,
    application_name: options.applicationName ?? 'mpanel',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client that loses its connection (server restart, pg_terminate_backend) emits 'error' on
  // the pool; without a listener that crashes the process. The pool replaces the client by itself.
  pool.on('error', (error) => options.logger?.warn({ err: error }, 'idle PostgreSQL connection lost'));
  return { pool, db: drizzle(pool, { schema }) };
}
