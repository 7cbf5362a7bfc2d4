import { and, asc, count, eq, gt, isNull, min } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { auditLogs } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { auditHash } from './audit.service.js';

export const BROKEN_HASH = 'hash mismatch (row edited)';
export const BROKEN_LINK = 'prev_hash does not match previous row (row deleted or reordered)';

export type ChainBreak = typeof BROKEN_HASH | typeof BROKEN_LINK;

/** Rows not sealed yet: written, committed, waiting for the sealer (audit-seal.ts). */
export interface Unsealed {
  readonly rows: number;
  readonly oldest: Date | null;
}

export type ChainVerification =
  | { readonly tenantId: string; readonly ok: true; readonly rows: number; readonly unsealed: Unsealed }
  | {
      readonly tenantId: string;
      readonly ok: false;
      /** Sealed rows checked, the broken one included. */
      readonly rows: number;
      readonly unsealed: Unsealed;
      readonly firstBroken: { readonly seq: number; readonly id: string; readonly action: string; readonly reason: ChainBreak };
    };

async function unsealedOf(db: Database, tenantId: string): Promise<Unsealed> {
  const [row] = await withTenant(db, tenantId, (tx) =>
    tx
      .select({ rows: count(), oldest: min(auditLogs.createdAt) })
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, tenantId), isNull(auditLogs.hash))),
  );
  return { rows: row?.rows ?? 0, oldest: row?.oldest ?? null };
}

/**
 * Walks a tenant's SEALED audit rows in chain order (chain_seq 1, 2, 3...), in batches so a long
 * log never sits in memory, and stops at the first row whose stored hash differs from the
 * recomputed one, whose prev_hash is not the previous row's hash (null for the first), or whose
 * place is not the next one (a sealed row deleted). Unsealed rows are counted, not judged: they
 * have no hash yet.
 *
 * Deleting the newest sealed rows leaves a shorter chain that is still valid: the chain proves
 * that nothing before its last row changed, not that nothing came after.
 */
export async function verifyAuditChain(db: Database, tenantId: string, options: { batchSize?: number } = {}): Promise<ChainVerification> {
  const batchSize = options.batchSize ?? 1000;
  let previousHash: string | null = null;
  let lastChainSeq = 0;
  let rows = 0;
  for (;;) {
    const batch = await withTenant(db, tenantId, (tx) =>
      tx
        .select()
        .from(auditLogs)
        .where(and(eq(auditLogs.tenantId, tenantId), gt(auditLogs.chainSeq, lastChainSeq)))
        .orderBy(asc(auditLogs.chainSeq))
        .limit(batchSize),
    );
    for (const row of batch) {
      rows += 1;
      // The row's own hash first: an edited row is named as edited even if its prev_hash was
      // edited too. A deleted row leaves its successor's hash intact but its link dangling.
      const linked = row.prevHash === previousHash && row.chainSeq === lastChainSeq + 1;
      const reason = auditHash(row) !== row.hash ? BROKEN_HASH : !linked ? BROKEN_LINK : undefined;
      if (reason) return { tenantId, ok: false, rows, unsealed: await unsealedOf(db, tenantId), firstBroken: { seq: row.seq, id: row.id, action: row.action, reason } };
      previousHash = row.hash;
      lastChainSeq = row.chainSeq ?? lastChainSeq;
    }
    if (batch.length < batchSize) return { tenantId, ok: true, rows, unsealed: await unsealedOf(db, tenantId) };
  }
}
