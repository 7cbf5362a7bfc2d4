import { createHash } from 'node:crypto';
import { and, desc, eq, gte, lt, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../config/database.js';
import { auditLogs, type AuditLog } from '../../db/schema/index.js';
import { withTenant, type DbOrTx } from '../../db/tenant-tx.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { AppError, notFound } from '../../shared/errors/app-error.js';
import type { AuditAction } from './audit-actions.js';
import type { AuditLogItem, AuditLogPage, AuditLogQuery } from './audit.types.js';

export type ActorType = AuditLog['actorType'];

/** Who did it and from where; built once per request (or job, or CLI command). */
export interface AuditActor {
  readonly type: ActorType;
  readonly userId?: string | null;
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly requestId?: string | null;
}

export interface AuditEntry extends ChainEntry {
  readonly action: AuditAction;
}

/** A row as the chain stores it; features write AuditEntry (one of the known actions) through recordAudit. */
export interface ChainEntry {
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

/** What the hash covers of a row, in the form verify recomputes from the stored row. */
export type HashedRow = Pick<
  AuditLog,
  'tenantId' | 'actorType' | 'actorUserId' | 'action' | 'targetType' | 'targetId' | 'ip' | 'userAgent' | 'requestId' | 'before' | 'after' | 'metadata' | 'prevHash' | 'createdAt'
>;

function hashedFields(row: HashedRow): string {
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

/** sha256(prevHash || canonical row), hex: what the sealer stores and verify recomputes. */
export function auditHash(row: HashedRow): string {
  return createHash('sha256')
    .update(row.prevHash ?? '')
    .update(hashedFields(row))
    .digest('hex');
}

/** Records one of the known actions (audit-actions.ts) in the caller's transaction: see appendToChain. */
export async function recordAudit(tx: DbOrTx, entry: AuditEntry): Promise<void> {
  await appendToChain(tx, entry);
}

/**
 * Appends one row to the tenant's audit log, in the caller's transaction (so the audit row
 * commits or rolls back with the change it records). The transaction must have the tenant set.
 * Nothing is locked or read: the hash chain is computed after commit by the sealer
 * (audit-seal.ts), so concurrent writers of one tenant never wait for each other here. The
 * action is free text here (the column is): tests of the log's filters write names no feature uses.
 */
export async function appendToChain(tx: DbOrTx, entry: ChainEntry): Promise<void> {
  await tx.insert(auditLogs).values(chainRow(entry));
}

/**
 * Records several of the known actions in one statement (a batch of the billing run): the rows
 * take their `seq`, hence their place in the chain, in the order given, as one recordAudit call
 * after the other would.
 */
export async function recordAudits(tx: DbOrTx, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await tx.insert(auditLogs).values(entries.map(chainRow));
}

function chainRow(entry: ChainEntry): typeof auditLogs.$inferInsert {
  return {
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
    // A JavaScript Date has millisecond precision, which timestamptz(3) stores exactly: the
    // sealer and verify recompute the hash from the stored row.
    createdAt: new Date(),
  };
}

/**
 * Keyset over `seq` (newest first) rather than the shared (created_at, id) keyset in
 * shared/http/pagination.ts: seq is the chain's own order, unique per row, and indexed with
 * every filter column. Same opaque base64url-JSON cursor style.
 */
const seqCursor = z.object({ s: z.number().int().positive() });

export function encodeSeqCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ s: seq })).toString('base64url');
}

function decodeSeqCursor(cursor: string): number {
  try {
    const raw: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return seqCursor.parse(raw).s;
  } catch {
    throw new AppError('VALIDATION_FAILED', 'The cursor is not valid', { fields: [{ field: 'querystring/cursor', message: 'is not a cursor returned by this API' }] });
  }
}

const itemColumns = {
  id: auditLogs.id,
  seq: auditLogs.seq,
  action: auditLogs.action,
  actorType: auditLogs.actorType,
  actorUserId: auditLogs.actorUserId,
  targetType: auditLogs.targetType,
  targetId: auditLogs.targetId,
  ip: auditLogs.ip,
  userAgent: auditLogs.userAgent,
  requestId: auditLogs.requestId,
  before: auditLogs.before,
  after: auditLogs.after,
  metadata: auditLogs.metadata,
  createdAt: auditLogs.createdAt,
  chainSeq: auditLogs.chainSeq,
  hash: auditLogs.hash,
  prevHash: auditLogs.prevHash,
};

function filtersOf(query: AuditLogQuery): (SQL | undefined)[] {
  const action = query.action;
  const prefix = action?.endsWith('*') ? action.slice(0, -1) : undefined;
  return [
    query.actorUserId ? eq(auditLogs.actorUserId, query.actorUserId) : undefined,
    // starts_with, not LIKE: a prefix holding `_` or `%` must match literally.
    prefix !== undefined ? sql`starts_with(${auditLogs.action}, ${prefix})` : action ? eq(auditLogs.action, action) : undefined,
    query.targetType ? eq(auditLogs.targetType, query.targetType) : undefined,
    query.targetId ? eq(auditLogs.targetId, query.targetId) : undefined,
    query.from ? gte(auditLogs.createdAt, new Date(query.from)) : undefined,
    query.to ? lt(auditLogs.createdAt, new Date(query.to)) : undefined,
    query.cursor ? lt(auditLogs.seq, decodeSeqCursor(query.cursor)) : undefined,
  ];
}

/** The tenant's audit log, newest first, filtered; one page of `query.limit` rows. */
export async function listAuditLogs(db: Database, auth: { tenantId: string }, query: AuditLogQuery): Promise<AuditLogPage> {
  const rows = await withTenant(db, auth.tenantId, (tx) =>
    tx
      .select(itemColumns)
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, auth.tenantId), ...filtersOf(query)))
      .orderBy(desc(auditLogs.seq))
      .limit(query.limit + 1),
  );
  const items: AuditLogItem[] = rows.slice(0, query.limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > query.limit && last ? encodeSeqCursor(last.seq) : null };
}

export async function getAuditLog(db: Database, auth: { tenantId: string }, id: string): Promise<AuditLogItem> {
  const [row] = await withTenant(db, auth.tenantId, (tx) =>
    tx
      .select(itemColumns)
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, auth.tenantId), eq(auditLogs.id, id))),
  );
  if (!row) throw notFound('Audit log entry');
  return row;
}
