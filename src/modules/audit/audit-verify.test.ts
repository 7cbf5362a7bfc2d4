import { spawn } from 'node:child_process';
import { asc, eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../config/database.js';
import { auditLogs, type AuditLog, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildTenant } from '../../../test/factories.js';
import { databaseUrl } from '../../../test/helpers/postgres.js';
import { sealAuditLog, sealTenantAudit } from './audit-seal.js';
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

/** Writes `count` rows, then seals them (as the worker's audit-seal task does about every second). */
async function writeRows(tenant: Pick<Tenant, 'id'>, count: number, prefix = 'test.row'): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await withTenant(db(), tenant.id, (tx) =>
      appendToChain(tx, { tenantId: tenant.id, actor: { type: 'SYSTEM' }, action: `${prefix}${i}`, targetType: 'thing', targetId: String(i), after: { n: i } }),
    );
  }
  await sealTenantAudit(db(), tenant.id);
}

async function chain(tenant: Pick<Tenant, 'id'>): Promise<AuditLog[]> {
  return withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.tenantId, tenant.id)).orderBy(asc(auditLogs.seq)));
}

/**
 * Tampering as someone with the database's superuser would: `session_replication_role = replica`
 * switches triggers off, so even a sealed row can be changed (the app role cannot: see below).
 */
async function tamper(text: string, values: unknown[]): Promise<void> {
  await superuser.query('begin');
  await superuser.query('set local session_replication_role = replica');
  await superuser.query(text, values);
  await superuser.query('commit');
}

describe('verifyAuditChain', () => {
  it('passes on an empty log', async () => {
    const tenant = await buildTenant(db());
    expect(await verifyAuditChain(db(), tenant.id)).toEqual({ tenantId: tenant.id, ok: true, rows: 0, unsealed: { rows: 0, oldest: null } });
  });

  it('passes on an untouched chain; concurrent writers do not wait for each other, and the sealer keeps the chain linear', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 3);
    // Each writer holds its transaction open after appending, all at once: none waits for another
    // (no lock is taken at write time), and a sealer racing them never forks the chain.
    const started = performance.now();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) =>
        withTenant(db(), tenant.id, async (tx) => {
          await appendToChain(tx, { tenantId: tenant.id, actor: { type: 'SYSTEM' }, action: `test.concurrent${i}` });
          await tx.execute(sql`select pg_sleep(0.2)`);
        }),
      ),
      sealTenantAudit(db(), tenant.id),
      sealTenantAudit(db(), tenant.id),
    ]);
    // Ten transactions that each hold 0.2 s, run in parallel: well under ten times 0.2 s.
    expect(performance.now() - started).toBeLessThan(1_500);
    expect((await verifyAuditChain(db(), tenant.id)).unsealed.rows).toBeGreaterThanOrEqual(0);
    await sealAuditLog(db());

    const rows = [...(await chain(tenant))].sort((a, b) => (a.chainSeq ?? 0) - (b.chainSeq ?? 0));
    expect(rows).toHaveLength(13);
    expect(rows.map((row) => row.chainSeq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(rows[0]?.prevHash).toBeNull();
    rows.slice(1).forEach((row, i) => expect(row.prevHash).toBe(rows[i]?.hash));

    const whole = { tenantId: tenant.id, ok: true, rows: 13, unsealed: { rows: 0, oldest: null } };
    expect(await verifyAuditChain(db(), tenant.id)).toEqual(whole);
    // Batch boundaries (including one that falls exactly on the last row) change nothing.
    for (const batchSize of [1, 4, 13]) {
      expect(await verifyAuditChain(db(), tenant.id, { batchSize })).toEqual(whole);
    }
  });

  it('counts rows not sealed yet without judging them, and seals each once', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 2);
    await withTenant(db(), tenant.id, (tx) => appendToChain(tx, { tenantId: tenant.id, actor: { type: 'SYSTEM' }, action: 'test.late' }));
    const waiting = await verifyAuditChain(db(), tenant.id);
    expect(waiting).toMatchObject({ ok: true, rows: 2, unsealed: { rows: 1 } });
    expect(waiting.unsealed.oldest).toBeInstanceOf(Date);
    expect(await sealTenantAudit(db(), tenant.id)).toBe(1);
    expect(await sealTenantAudit(db(), tenant.id)).toBe(0);
    expect(await verifyAuditChain(db(), tenant.id)).toEqual({ tenantId: tenant.id, ok: true, rows: 3, unsealed: { rows: 0, oldest: null } });
  });

  it('the app role cannot change or delete audit rows, nor seal a sealed row again', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 1);
    await expect(withTenant(db(), tenant.id, (tx) => tx.update(auditLogs).set({ after: { x: 1 } }))).rejects.toMatchObject({ cause: { code: '42501' } });
    await expect(withTenant(db(), tenant.id, (tx) => tx.delete(auditLogs))).rejects.toMatchObject({ cause: { code: '42501' } });
    // It may write a seal (the sealer runs as the app role), but only once: the trigger refuses a re-seal.
    await expect(withTenant(db(), tenant.id, (tx) => tx.update(auditLogs).set({ hash: 'f'.repeat(64), prevHash: null, chainSeq: 1 }))).rejects.toMatchObject({
      cause: { code: '42501' },
    });
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: true, rows: 1 });
  });

  it('names an edited row (edited by the superuser)', async () => {
    const tenant = await buildTenant(db());
    const untouched = await buildTenant(db());
    await writeRows(tenant, 5);
    await writeRows(untouched, 5);
    const edited = (await chain(tenant))[2]!;
    await tamper(`update audit_logs set after = '{"x":1}' where id = $1`, [edited.id]);

    const expected = { tenantId: tenant.id, ok: false, rows: 3, unsealed: { rows: 0, oldest: null }, firstBroken: { seq: edited.seq, id: edited.id, action: 'test.row3', reason: BROKEN_HASH } };
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
    await tamper(`update audit_logs set hash = repeat('0', 64) where id = $1`, [second!.id]);
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: false, firstBroken: { id: second!.id, reason: BROKEN_HASH } });
    const forged = { ...second!, after: { n: 999 } };
    await tamper(`update audit_logs set after = $2, hash = $3 where id = $1`, [second!.id, JSON.stringify(forged.after), auditHash(forged)]);
    expect(await verifyAuditChain(db(), tenant.id)).toEqual({
      tenantId: tenant.id,
      ok: false,
      rows: 3,
      unsealed: { rows: 0, oldest: null },
      firstBroken: { seq: third!.seq, id: third!.id, action: 'test.row3', reason: BROKEN_LINK },
    });
  });

  it('names the row after a deleted one, across a batch boundary too', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 5);
    const rows = await chain(tenant);
    await tamper('delete from audit_logs where id = $1', [rows[2]!.id]);
    const after = rows[3]!;
    const expected = { tenantId: tenant.id, ok: false, rows: 3, unsealed: { rows: 0, oldest: null }, firstBroken: { seq: after.seq, id: after.id, action: 'test.row4', reason: BROKEN_LINK } };
    expect(await verifyAuditChain(db(), tenant.id)).toEqual(expected);
    expect(await verifyAuditChain(db(), tenant.id, { batchSize: 2 })).toEqual(expected);
  });

  it('names the new first row when the first row is deleted', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 3);
    const rows = await chain(tenant);
    await tamper('delete from audit_logs where id = $1', [rows[0]!.id]);
    expect(await verifyAuditChain(db(), tenant.id)).toMatchObject({ ok: false, rows: 1, firstBroken: { id: rows[1]!.id, reason: BROKEN_LINK } });
  });
});

/** `mpanel audit verify` (or another audit command) as an operator runs it: a child process on this file's database. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = args[0] === 'seal' ? args : ['verify', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/mpanel.js', 'audit', ...command], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// Each case starts several `mpanel` processes (1–2 s each when the machine is idle): a longer timeout.
describe('mpanel audit verify', { timeout: 90_000 }, () => {
  it('prints one line per tenant and exits 1 once a chain is broken', async () => {
    const tenant = await buildTenant(db());
    const other = await buildTenant(db());
    await writeRows(tenant, 4);
    await writeRows(other, 2);

    const before = await cli('--tenant', tenant.slug);
    expect(before.stdout, before.stderr).toBe(`audit verify: ${tenant.slug} ok (4 rows)\n`);
    expect(before.code).toBe(0);

    const edited = (await chain(tenant))[1]!;
    await tamper(`update audit_logs set after = '{"x":1}' where id = $1`, [edited.id]);

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

  it('says how many rows wait for the sealer, and `mpanel audit seal` seals them', async () => {
    const tenant = await buildTenant(db());
    await writeRows(tenant, 2);
    await withTenant(db(), tenant.id, (tx) => appendToChain(tx, { tenantId: tenant.id, actor: { type: 'SYSTEM' }, action: 'test.late' }));
    const waiting = await cli('--tenant', tenant.slug);
    expect(waiting.code).toBe(0);
    expect(waiting.stdout).toMatch(new RegExp(`^audit verify: ${tenant.slug} ok \\(2 rows, 1 not sealed yet \\(oldest \\S+: is a worker running\\?\\)\\)\\n$`));
    const sealed = await cli('seal');
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stdout).toMatch(/^audit seal: [1-9]\d* row\(s\) sealed in [1-9]\d* tenant\(s\)\n$/);
    expect(await cli('--tenant', tenant.slug)).toMatchObject({ code: 0, stdout: `audit verify: ${tenant.slug} ok (3 rows)\n` });
  });

  it('fails for an unknown tenant', async () => {
    const res = await cli('--tenant', 'no-such-tenant');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('tenant "no-such-tenant" not found');
  });
});
