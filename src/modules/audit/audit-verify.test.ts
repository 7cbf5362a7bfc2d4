import { spawn } from 'node:child_process';
import { asc, eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../config/database.js';
import { auditLogs, type AuditLog, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildTenant } from '../../../test/factories.js';
import { databaseUrl } from '../../../test/helpers/postgres.js';
import { BROKEN_HASH, BROKEN_LINK, verifyAuditChain } from './audit-verify.js';
import { auditHash, appendToChain } from './audit.service.js';

let app: DatabaseHandle;
/** The PostgreSQL superuser on this file's database: the only one able to tamper with audit_logs. */
let superuser: pg.Client;

beforeAll(async () => {
  const url = process.env.DATABASE_URL;
  const name = process.env.TEST_DATABASE_NAME;
  if (!url || !name) throw new Error('test/setup-file.ts sets DATABASE_URL and TEST_DATABASE_NAME');
  // More connections than the default 4, so that concurrent writers really overlap.
  app = createDatabase(url, { max: 12 });
  superuser = new pg.Client({ connectionString: databaseUrl('postgres', name) });
  await superuser.connect();
});
afterAll(async () => {
  await superuser.end();
  await app.pool.end();
});

const db = () => app.db;

async function writeRows(tenant: Pick<Tenant, 'id'>, count: number, prefix = 'test.row'): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await withTenant(db(), tenant.id, (tx) =>
      appendToChain(tx, { tenantId: tenant.id, actor: { type: 'SYSTEM' }, action: `${prefix}${i}`, targetType: 'thing', targetId: String(i), after: { n: i } }),
    );
  }
}

async function chain(tenant: Pick<Tenant, 'id'>): Promise<AuditLog[]> {
  return withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.tenantId, tenant.id)).orderBy(asc(auditLogs.seq)));
}

describe('verifyAuditChain', () => {
  it('passes on an empty log', async () => {
    const tenant = await buildTenant(db());
    expect(await verifyAuditChain(db(), tenant.id)).toEqual({ tenantId: tenant.id, ok: true, rows: 0 });
  });

  it('passes on an untouched chain, with concurrent writers kept linear by the per-tenant lock', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 3);
    // Each writer holds its transaction open after appending: without the lock, the others would
    // read the same last hash meanwhile and fork the chain.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        withTenant(db(), tenant.id, async (tx) => {
          await appendToChain(tx, { tenantId: tenant.id, actor: { type: 'SYSTEM' }, action: `test.concurrent${i}` });
          await tx.execute(sql`select pg_sleep(0.02)`);
        }),
      ),
    );

    const rows = await chain(tenant);
    expect(rows).toHaveLength(13);
    expect(rows[0]?.prevHash).toBeNull();
    rows.slice(1).forEach((row, i) => expect(row.prevHash).toBe(rows[i]?.hash));

    expect(await verifyAuditChain(db(), tenant.id)).toEqual({ tenantId: tenant.id, ok: true, rows: 13 });
    // Batch boundaries (including one that falls exactly on the last row) change nothing.
    for (const batchSize of [1, 4, 13]) {
      expect(await verifyAuditChain(db(), tenant.id, { batchSize })).toEqual({ tenantId: tenant.id, ok: true, rows: 13 });
    }
  });

  it('the app role cannot change or delete audit rows', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 1);
    await expect(withTenant(db(), tenant.id, (tx) => tx.update(auditLogs).set({ after: { x: 1 } }))).rejects.toMatchObject({ cause: { code: '42501' } });
    await expect(withTenant(db(), tenant.id, (tx) => tx.delete(auditLogs))).rejects.toMatchObject({ cause: { code: '42501' } });
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: true, rows: 1 });
  });

  it('names an edited row (edited by the superuser)', async () => {
    const tenant = await buildTenant(db());
    const untouched = await buildTenant(db());
    await writeRows(tenant, 5);
    await writeRows(untouched, 5);
    const edited = (await chain(tenant))[2]!;
    await superuser.query(`update audit_logs set after = '{"x":1}' where id = $1`, [edited.id]);

    const expected = { tenantId: tenant.id, ok: false, rows: 3, firstBroken: { seq: edited.seq, id: edited.id, action: 'test.row3', reason: BROKEN_HASH } };
    expect(await verifyAuditChain(db(), tenant.id)).toEqual(expected);
    expect(await verifyAuditChain(db(), tenant.id, { batchSize: 2 })).toEqual(expected);
    // Chains are per tenant.
    expect(await verifyAuditChain(db(), untouched.id)).toMatchObject({ ok: true, rows: 5 });
  });

  it('names an edited row even when its hash was recomputed: the next row no longer links to it', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 4);
    const [, second, third] = await chain(tenant);
    // A forger who knows the hash function recomputes the edited row's hash; its successor still
    // holds the old one.
    await superuser.query(`update audit_logs set hash = repeat('0', 64) where id = $1`, [second!.id]);
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: false, firstBroken: { id: second!.id, reason: BROKEN_HASH } });
    const forged = { ...second!, after: { n: 999 } };
    await superuser.query(`update audit_logs set after = $2, hash = $3 where id = $1`, [second!.id, JSON.stringify(forged.after), auditHash(forged)]);
    expect(await verifyAuditChain(db(), tenant.id)).toEqual({
      tenantId: tenant.id,
      ok: false,
      rows: 3,
      firstBroken: { seq: third!.seq, id: third!.id, action: 'test.row3', reason: BROKEN_LINK },
    });
  });

  it('names the row after a deleted one, across a batch boundary too', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 5);
    const rows = await chain(tenant);
    await superuser.query('delete from audit_logs where id = $1', [rows[2]!.id]);
    const after = rows[3]!;
    const expected = { tenantId: tenant.id, ok: false, rows: 3, firstBroken: { seq: after.seq, id: after.id, action: 'test.row4', reason: BROKEN_LINK } };
    expect(await verifyAuditChain(db(), tenant.id)).toEqual(expected);
    expect(await verifyAuditChain(db(), tenant.id, { batchSize: 2 })).toEqual(expected);
  });

  it('names the new first row when the first row is deleted', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 3);
    const rows = await chain(tenant);
    await superuser.query('delete from audit_logs where id = $1', [rows[0]!.id]);
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: false, rows: 1, firstBroken: { id: rows[1]!.id, reason: BROKEN_LINK } });
  });
});

/** `mpanel audit verify` as an operator runs it: a child process on this file's database. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/mpanel.js', 'audit', 'verify', ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('mpanel audit verify', () => {
  it('prints one line per tenant and exits 1 once a chain is broken', async () => {
    const tenant = await buildTenant(db());
    const other = await buildTenant(db());
    await writeRows(tenant, 4);
    await writeRows(other, 2);

    const before = await cli('--tenant', tenant.slug);
    expect(before.stdout, before.stderr).toBe(`audit verify: ${tenant.slug} ok (4 rows)\n`);
    expect(before.code).toBe(0);

    const edited = (await chain(tenant))[1]!;
    await superuser.query(`update audit_logs set after = '{"x":1}' where id = $1`, [edited.id]);

    const after = await cli('--tenant', tenant.slug);
    expect(after.stdout, after.stderr).toBe(`audit verify: ${tenant.slug} BROKEN at seq ${edited.seq} (${edited.id}): hash mismatch (row edited)\n`);
    expect(after.code).toBe(1);

    expect(await cli('--tenant', other.slug)).toMatchObject({ code: 0, stdout: `audit verify: ${other.slug} ok (2 rows)\n` });

    // Every tenant (this file's database holds other tests' tenants too, some tampered with).
    const all = await cli();
    expect(all.code).toBe(1);
    const lines = all.stdout.trim().split('\n');
    expect(lines).toContain(`audit verify: ${other.slug} ok (2 rows)`);
    expect(lines).toContain(`audit verify: ${tenant.slug} BROKEN at seq ${edited.seq} (${edited.id}): hash mismatch (row edited)`);
    const tenantCount = (await superuser.query('select count(*)::int as n from tenants')).rows[0].n;
    expect(lines).toHaveLength(tenantCount + 1);
    expect(lines.at(-1)).toMatch(new RegExp(`^audit verify: ${tenantCount} tenant\\(s\\) checked, [1-9]\\d* broken$`));
  });

  it('fails for an unknown tenant', async () => {
    const res = await cli('--tenant', 'no-such-tenant');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('tenant "no-such-tenant" not found');
  });
});
