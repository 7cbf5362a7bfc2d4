import pg from 'pg';

/** Superuser connection for creating and dropping test databases (trust auth on loopback). */
export const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEMPLATE_DB = 'mpanel_test_template';

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
