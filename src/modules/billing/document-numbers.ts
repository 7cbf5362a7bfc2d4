import { sql } from 'drizzle-orm';
import { documentSequences } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';

export type DocumentKind = 'INVOICE' | 'CREDIT_NOTE';

const TOKEN = /\{(YYYY|YY|MM|0{1,12})\}/g;

/**
 * A number format: literal characters (letters, digits, `-`, `_`, `/`, `.`) and tokens {YYYY},
 * {YY}, {MM} (the issue date, UTC) and exactly one counter {000000} (zero-padded to its width).
 * Returns the problem, or undefined when the format is usable.
 */
export function formatProblem(format: string): string | undefined {
  if (format.length === 0 || format.length > 64) return 'must be 1 to 64 characters';
  const counters = [...format.matchAll(TOKEN)].filter((match) => match[1]?.startsWith('0'));
  if (counters.length !== 1) return 'must contain exactly one counter token such as {000000}';
  const literal = format.replace(TOKEN, '');
  if (!/^[A-Za-z0-9\-_/.]*$/.test(literal)) return 'may contain only letters, digits, - _ / . and the tokens {YYYY} {YY} {MM} {000000}';
  return undefined;
}

/** The part of the number that restarts the counter: the date tokens' values ('' when none). */
export function sequencePeriod(format: string, at: Date): string {
  return [...format.matchAll(TOKEN)]
    .map((match) => match[1] ?? '')
    .filter((token) => !token.startsWith('0'))
    .map((token) => dateToken(token, at))
    .join('-');
}

function dateToken(token: string, at: Date): string {
  const year = String(at.getUTCFullYear());
  if (token === 'YYYY') return year;
  if (token === 'YY') return year.slice(-2);
  return String(at.getUTCMonth() + 1).padStart(2, '0');
}

export function renderNumber(format: string, at: Date, counter: number): string {
  return format.replace(TOKEN, (_whole, token: string) => (token.startsWith('0') ? String(counter).padStart(token.length, '0') : dateToken(token, at)));
}

/**
 * The next number of the tenant's sequence for `kind`, inside the caller's transaction. The
 * upsert locks the sequence row until that transaction ends: concurrent issues wait for each
 * other, and a rollback returns the number (gap-free, never reused).
 */
export async function nextDocumentNumber(tx: Tx, tenantId: string, kind: DocumentKind, format: string, at: Date): Promise<string> {
  const [number] = await nextDocumentNumbers(tx, tenantId, kind, format, at, 1);
  if (number === undefined) throw new Error('document sequence gave no number');
  return number;
}

/**
 * The next `count` numbers of the sequence, in order, taken by one upsert under the same lock:
 * the caller uses all of them in its transaction (a batch of invoices written together) or rolls
 * them all back, so the sequence stays gap-free.
 */
export async function nextDocumentNumbers(tx: Tx, tenantId: string, kind: DocumentKind, format: string, at: Date, count: number): Promise<string[]> {
  if (count < 1) return [];
  const period = sequencePeriod(format, at);
  const [row] = await tx
    .insert(documentSequences)
    .values({ tenantId, kind, period, lastValue: count })
    .onConflictDoUpdate({
      target: [documentSequences.tenantId, documentSequences.kind, documentSequences.period],
      set: { lastValue: sql`${documentSequences.lastValue} + ${count}` },
    })
    .returning({ value: documentSequences.lastValue });
  if (!row) throw new Error('document sequence upsert returned no row');
  const first = row.value - count + 1;
  return Array.from({ length: count }, (_, offset) => renderNumber(format, at, first + offset));
}
