import { and, desc, lt, or, eq, type Column, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';

/**
 * Keyset ("cursor") pagination over (created_at DESC, id DESC): stable under inserts, no OFFSET
 * scans. The cursor is opaque to clients: base64url of the last row's position.
 */
export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
};

interface Position {
  createdAt: Date;
  id: string;
}

const positionSchema = z.object({ t: z.iso.datetime(), i: z.uuid() });

export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify({ t: position.createdAt.toISOString(), i: position.id })).toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  try {
    const raw: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const parsed = positionSchema.parse(raw);
    return { createdAt: new Date(parsed.t), id: parsed.i };
  } catch {
    throw new AppError('VALIDATION_FAILED', 'The cursor is not valid', { fields: [{ field: 'querystring/cursor', message: 'is not a cursor returned by this API' }] });
  }
}

/** WHERE clause for "rows after this cursor" and the ORDER BY that goes with it. */
export function keyset(createdAt: Column, id: Column, cursor: string | undefined): { where: SQL | undefined; orderBy: SQL[] } {
  const orderBy = [desc(createdAt), desc(id)];
  if (!cursor) return { where: undefined, orderBy };
  const position = decodeCursor(cursor);
  return { where: or(lt(createdAt, position.createdAt), and(eq(createdAt, position.createdAt), lt(id, position.id))), orderBy };
}

/** Given `limit + 1` rows, the page and the cursor of the next one (null at the end). */
export function page<Row extends Position>(rows: Row[], limit: number): { items: Row[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

export const pageOf = <Item extends z.ZodType>(item: Item) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });
