import { createHash } from 'node:crypto';
import { desc, eq, sql } from 'drizzle-orm';
import { auditLogs, type AuditLog } from '../../db/schema/index.js';
import type { DbOrTx } from '../../db/tenant-tx.js';
import { canonicalJson } from '../../shared/canonical-json.js';

export type ActorType = AuditLog['actorType'];

/** Who did it and from where; built once per request (or job, or CLI command). */
export interface AuditActor {
  readonly type: ActorType;
  readonly userId?: string | null;
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly requestId?: string | null;
}

export interface AuditEntry {
  readonly tenantId: string;
  readonly actor: AuditActor;
  readonly action: string;
  readonly targetType?: string | null;
  readonly targetId?: string | null;
  readonly before?: Record<string, unknown> | null;
  readonly after?: Record<string, unknown> | null;
  readonly metadata?: Record<string, unknown> | null;
}

export const systemActor: AuditActor = { type: 'SYSTEM' };
export const cliActor: AuditActor = { type: 'CLI' };

/** The fields the hash covers, in the form verify recomputes them from a stored row. */
function hashedFields(row: Omit<AuditLog, 'id' | 'seq' | 'hash'>): string {
  return canonicalJson({
    tenantId: row.tenantId,
    actorType: row.actorType,
    actorUserId: row.actorUserId,
    action: row.action,
    targetType: row.targetType,
    targetId: row.targetId,
    ip: row.ip,
    userAgent: row.userAgent,
    requestId: row.requestId,
    before: row.before,
    after: row.after,
    metadata: row.metadata,
    prevHash: row.prevHash,
    createdAt: row.createdAt.toISOString(),
  });
}

export function auditHash(row: Omit<AuditLog, 'id' | 'seq' | 'hash'>): string {
  return createHash('sha256')
    .update(row.prevHash ?? '')
    .update(hashedFields(row))
    .digest('hex');
}

/**
 * Appends one row to the tenant's hash chain, in the caller's transaction (so the audit row
 * commits or rolls back with the change it records). The transaction must have the tenant set.
 * A per-tenant advisory lock orders concurrent writers so the chain never forks.
 */
export async function recordAudit(tx: DbOrTx, entry: AuditEntry): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`audit:${entry.tenantId}`}, 0))`);
  const [previous] = await tx
    .select({ hash: auditLogs.hash })
    .from(auditLogs)
    .where(eq(auditLogs.tenantId, entry.tenantId))
    .orderBy(desc(auditLogs.seq))
    .limit(1);
  // A JavaScript Date has millisecond precision, which timestamptz stores exactly: verify can
  // recompute the hash from the stored row.
  const createdAt = new Date();
  const row = {
    tenantId: entry.tenantId,
    actorType: entry.actor.type,
    actorUserId: entry.actor.userId ?? null,
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    ip: entry.actor.ip ?? null,
    userAgent: entry.actor.userAgent ?? null,
    requestId: entry.actor.requestId ?? null,
    before: entry.before ?? null,
    after: entry.after ?? null,
    metadata: entry.metadata ?? null,
    prevHash: previous?.hash ?? null,
    createdAt,
  };
  await tx.insert(auditLogs).values({ ...row, hash: auditHash(row) });
}
