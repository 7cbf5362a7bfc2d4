import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createDatabase } from '../config/database.js';
import { loadEnv } from '../config/env.js';
import * as schema from './schema/index.js';
import { withTenant } from './tenant-tx.js';

const env = loadEnv();
// One connection: what a transaction leaves on it is what the next one sees.
const handle = createDatabase(env.DATABASE_URL, { max: 1 });
const plainPool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 1 });

afterAll(async () => {
  await handle.pool.end();
  await plainPool.end();
});

const currentTenant = sql<string>`select current_setting('app.tenant_id', true) as tenant`;

it('sets the tenant for the transaction only (sent with its BEGIN), nested tenants each their own', async () => {
  const [a, b] = [randomUUID(), randomUUID()];
  const seen = await withTenant(handle.db, a, async (tx) => {
    const { rows } = await tx.execute<{ tenant: string }>(currentTenant);
    return rows[0]?.tenant;
  });
  expect(seen).toBe(a);
  // The same (only) connection afterwards: the setting was transaction-local.
  const { rows: after } = await handle.db.execute<{ tenant: string | null }>(currentTenant);
  expect(after[0]?.tenant ?? '').toBe('');

  // A transaction opened inside another tenant's (a second pool: this one has one connection) gets its own tenant.
  const other = createDatabase(env.DATABASE_URL, { max: 1 });
  try {
    const [outer, inner] = await withTenant(handle.db, a, async (tx) => {
      const innerTenant = await withTenant(other.db, b, async (innerTx) => (await innerTx.execute<{ tenant: string }>(currentTenant)).rows[0]?.tenant);
      const { rows } = await tx.execute<{ tenant: string }>(currentTenant);
      return [rows[0]?.tenant, innerTenant];
    });
    expect([outer, inner]).toEqual([a, b]);
  } finally {
    await other.pool.end();
  }
});

it('sets the tenant on a pool that does not go through createDatabase, and rolls back with it', async () => {
  const db = drizzle(plainPool, { schema });
  const tenant = randomUUID();
  const seen = await withTenant(db, tenant, async (tx) => (await tx.execute<{ tenant: string }>(currentTenant)).rows[0]?.tenant);
  expect(seen).toBe(tenant);
  await expect(
    withTenant(handle.db, tenant, async (tx) => {
      await tx.execute(sql`select 1`);
      throw new Error('roll back');
    }),
  ).rejects.toThrow('roll back');
  const { rows } = await handle.db.execute<{ tenant: string | null }>(currentTenant);
  expect(rows[0]?.tenant ?? '').toBe('');
});

it("runs the app's sessions without JIT compilation (createDatabase's connection options)", async () => {
  const { rows } = await handle.db.execute<{ jit: string }>(sql`show jit`);
  expect(rows[0]?.jit).toBe('off');
});
