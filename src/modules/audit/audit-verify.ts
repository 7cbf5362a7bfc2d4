import { and, asc, eq, gt } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { auditLogs } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { auditHash } from './audit.service.js';

export const BROKEN_HASH = 'hash mismatch (row edited)';
export const BROKEN_LINK = 'prev_hash does not match previous row (row deleted or reordered)';

export type ChainBreak = typeof BROKEN_HASH | typeof BROKEN_LINK;

export type ChainVerification =
  | { readonly tenantId: string; readonly ok: true; readonly rows: number }
  | {
      readonly tenantId: string;
      readonly ok: false;
      /** Rows checked, the broken one included. */
      readonly rows: number;
      readonly firstBroken: { readonly seq: number; readonly id: string; readonly action: string; readonly reason: ChainBreak };
    };

/**
 * Walks a tenant's audit rows in chain (seq) order, in batches so a long log never sits in memory,
 * and stops at the first row whose stored hash differs from the recomputed one or whose prev_hash
 * is not the previous row's hash (null for the first row).
 *
 * Each batch is its own short transaction: rows are only ever appended, and recordAudit's
 * per-tenant lock makes them commit in seq order, so a row written meanwhile is either seen in a
 * later batch or lies after the end; it can never appear behind the walk.
 *
 * Deleting the newest rows leaves a shorter chain that is still valid: the chain proves that
 * nothing before its last row changed, not that nothing came after.
 */
export async function verifyAuditChain(db: Database, tenantId: string, options: { batchSize?: number } = {}): Promise<ChainVerification> {
  const batchSize = options.batchSize ?? 1000;
  let previousHash: string | null = null;
  let lastSeq = 0;
  let rows = 0;
  for (;;) {
    const batch = await withTenant(db, tenantId, (tx) =>
      tx
        .select()
        .from(auditLogs)
        .where(and(eq(auditLogs.tenantId, tenantId), gt(auditLogs.seq, lastSeq)))
        .orderBy(asc(auditLogs.seq))
        .limit(batchSize),
    );
    for (const row of batch) {
      rows += 1;
      // The row's own hash first: an edited row is named as edited even if its prev_hash was
      // edited too. A deleted row leaves its successor's hash intact but its prev_hash dangling.
      const reason = auditHash(row) !== row.hash ? BROKEN_HASH : row.prevHash !== previousHash ? BROKEN_LINK : undefined;
      if (reason) return { tenantId, ok: false, rows, firstBroken: { seq: row.seq, id: row.id, action: row.action, reason } };
      previousHash = row.hash;
      lastSeq = row.seq;
    }
    if (batch.length < batchSize) return { tenantId, ok: true, rows };
  }
}
