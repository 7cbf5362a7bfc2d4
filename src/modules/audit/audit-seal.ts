import { and, asc, desc, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { auditLogs } from '../../db/schema/index.js';
import { AUDIT_SEAL_SETTING } from '../../db/schema/rls.js';
import { withTenant } from '../../db/tenant-tx.js';
import { auditHash } from './audit.service.js';

/**
 * The audit log's hash chain, computed after commit. Writers only insert (recordAudit): no lock,
 * no read, so audited transactions of one tenant never wait for each other. The sealer then takes
 * each tenant's unsealed rows in insertion order and gives each its place in the chain
 * (chain_seq 1, 2, 3...), the previous row's hash and its own hash. Tamper evidence is the same as
 * before for sealed rows; a row is unsealed only between its commit and the next sealing run
 * (about a second, the worker's AUDIT_SEAL_INTERVAL_MS), and `mpanel audit verify` reports them.
 *
 * One sealer at a time per tenant (a transaction-level advisory lock that only sealers take);
 * should two ever race, the unique (tenant_id, chain_seq) index refuses the second: the chain
 * cannot fork. A row whose transaction commits after a run looked is sealed by the next run,
 * after rows inserted later than it: the chain's order is the order of sealing.
 */

export interface SealResult {
  readonly tenants: number;
  readonly sealed: number;
}

/** Seals up to `limit` of one tenant's unsealed rows; returns how many. */
export async function sealTenantAudit(db: Database, tenantId: string, limit = 5_000, now = new Date()): Promise<number> {
  return withTenant(db, tenantId, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`audit-seal:${tenantId}`}, 0))`);
    const pending = await tx
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, tenantId), isNull(auditLogs.hash)))
      .orderBy(asc(auditLogs.seq))
      .limit(limit);
    if (pending.length === 0) return 0;
    const [last] = await tx
      .select({ chainSeq: auditLogs.chainSeq, hash: auditLogs.hash })
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, tenantId), isNotNull(auditLogs.hash)))
      .orderBy(desc(auditLogs.chainSeq))
      .limit(1);
    let chainSeq = last?.chainSeq ?? 0;
    let prevHash = last?.hash ?? null;
    const seals: { id: string; chainSeq: number; prevHash: string | null; hash: string }[] = [];
    for (const row of pending) {
      chainSeq += 1;
      const hash = auditHash({ ...row, prevHash });
      seals.push({ id: row.id, chainSeq, prevHash, hash });
      prevHash = hash;
    }
    // One statement for the whole batch (a JSON array: drizzle would spread a JS array into a list).
    const batch = JSON.stringify(seals.map((seal) => ({ id: seal.id, chain_seq: seal.chainSeq, prev_hash: seal.prevHash, hash: seal.hash })));
    await tx.execute(sql`
      update ${auditLogs} as a
         set chain_seq = s.chain_seq, prev_hash = s.prev_hash, hash = s.hash, sealed_at = ${now}
        from jsonb_to_recordset(${batch}::jsonb) as s(id uuid, chain_seq bigint, prev_hash text, hash text)
       where a.id = s.id and a.hash is null`);
    return seals.length;
  });
}

/** The tenants with unsealed rows, through the narrow `audit_seal_scan` policy (db/schema/rls.ts). */
export async function tenantsWithUnsealedAudit(db: Database): Promise<string[]> {
  const rows = await db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${AUDIT_SEAL_SETTING}, 'on', true)`);
    return tx.selectDistinct({ tenantId: auditLogs.tenantId }).from(auditLogs).where(isNull(auditLogs.hash));
  });
  return rows.map((row) => row.tenantId);
}

/** One sealing run over every tenant (the worker's repeatable `audit-seal` task, `mpanel audit seal`). */
export async function sealAuditLog(db: Database, options: { tenantId?: string; now?: Date } = {}): Promise<SealResult> {
  const tenantIds = options.tenantId ? [options.tenantId] : await tenantsWithUnsealedAudit(db);
  let sealed = 0;
  for (const tenantId of tenantIds) {
    for (;;) {
      const batch = await sealTenantAudit(db, tenantId, 5_000, options.now);
      sealed += batch;
      if (batch < 5_000) break;
    }
  }
  return { tenants: tenantIds.length, sealed };
}
