import { DrizzleQueryError } from 'drizzle-orm';
import { AppError } from './app-error.js';

/**
 * Turns PostgreSQL errors into AppErrors at the edge. Only the codes the app relies on are mapped;
 * anything else stays an unknown error (a 500 that leaks nothing).
 */
interface PgErrorLike {
  code: string;
  constraint?: string;
}

function isPgError(error: unknown): error is PgErrorLike {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code);
}

/** Walks `cause` chains too: drizzle wraps driver errors ("Failed query: ...") with the pg error as cause. */
export function findPgError(error: unknown): PgErrorLike | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (isPgError(current)) return current;
    current = typeof current === 'object' && 'cause' in current ? current.cause : undefined;
  }
  return undefined;
}

/**
 * node-pg's errors for a connection that is gone carry no SQLSTATE ("Connection terminated
 * unexpectedly", "Client has encountered a connection error and is not queryable", a socket's
 * ECONNRESET): after pg_terminate_backend or a restart, a transaction's next query, or its
 * ROLLBACK, fails with one of them. Recognised only as the cause of a failed query (drizzle's
 * DrizzleQueryError), so that a socket error from anywhere else is never taken for the database's.
 */
const LOST_CONNECTION_MESSAGE = /^(Connection terminated|Client has encountered a connection error|Client was closed)/;
const LOST_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT']);

function isLostConnection(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof DrizzleQueryError) {
      const cause: unknown = current.cause;
      if (!(cause instanceof Error)) return false;
      const code = 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined;
      return LOST_CONNECTION_MESSAGE.test(cause.message) || (code !== undefined && LOST_CONNECTION_CODES.has(code));
    }
    current = typeof current === 'object' && 'cause' in current ? current.cause : undefined;
  }
  return false;
}

const unavailable = (error: unknown) => new AppError('DEPENDENCY_UNAVAILABLE', 'The database is unavailable, retry later', { retryAfterSeconds: 1, cause: error });

export function fromPgError(error: unknown): AppError | undefined {
  const pg = findPgError(error);
  if (!pg) return isLostConnection(error) ? unavailable(error) : undefined;
  switch (pg.code) {
    case '23505':
      return new AppError('CONFLICT', 'A record with the same unique value already exists', {
        details: pg.constraint ? { constraint: pg.constraint } : {},
        cause: error,
      });
    case '23503':
      return new AppError('CONFLICT', 'The record is referenced by, or references, another record', { cause: error });
    // A value that passed the request schema but that PostgreSQL cannot hold or compare: a NUL
    // character in text (22021) or JSON (22P05), a lone surrogate in JSON (22P02), a date or time
    // zone out of its range (22008, 22009, 22007), a number too large for its column (22003).
    // They come from the request, so they are the client's error, not a 500.
    case '22021':
    case '22P05':
    case '22P02':
    case '22007':
    case '22008':
    case '22009':
    case '22003':
      return new AppError('BAD_REQUEST', 'The request contains a value the database cannot store or compare (a NUL character, or a date or number out of range)', {
        cause: error,
      });
    case '57P01': // admin_shutdown (pg_terminate_backend)
    case '57P03': // cannot_connect_now
    case '08000':
    case '08003':
    case '08006':
      return unavailable(error);
    default:
      return undefined;
  }
}
