import { createHash } from 'node:crypto';
import pg from 'pg';

/** Superuser connection for creating and dropping test databases (trust auth on loopback). */
export const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/**
 * The migrated template every test file clones. Named after this checkout's path, so two
 * checkouts (git worktrees) can run their suites at the same time against the same PostgreSQL
 * without dropping each other's template.
 */
export const TEMPLATE_DB = `mpanel_test_template_${createHash('sha256').update(process.cwd()).digest('hex').slice(0, 8)}`;

export function databaseUrl(role: 'mpanel' | 'mpanel_app' | 'postgres', database: string): string {
  const url = new URL(ADMIN_URL);
  url.username = role;
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unsafe database name: ${name}`);
  return `"${name}"`;
}
