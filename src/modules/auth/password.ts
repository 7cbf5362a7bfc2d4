import bcrypt from 'bcrypt';
import { z } from 'zod';

export const BCRYPT_COST = 12;
const MIN_BYTES = 12;
/** bcrypt reads at most 72 bytes and silently ignores the rest: longer passwords are refused, not truncated. */
const MAX_BYTES = 72;

export const passwordSchema = z
  .string()
  .refine((value) => Buffer.byteLength(value, 'utf8') >= MIN_BYTES, `must be at least ${MIN_BYTES} bytes`)
  .refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_BYTES, `must be at most ${MAX_BYTES} bytes (UTF-8)`);

export async function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  return bcrypt.hash(password, cost);
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  // bcrypt would compare only the first 72 bytes, so a longer password sharing them would match.
  // No stored password is longer (passwordSchema), so a longer one never matches; the compare
  // still runs, against the same hash, to keep the timing of a wrong password.
  const matches = await bcrypt.compare(password, hash);
  return matches && Buffer.byteLength(password, 'utf8') <= MAX_BYTES;
}

/**
 * A hash of a random password, compared against when a login names no existing user, so that
 * "no such user" costs the same bcrypt time as "wrong password".
 */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(`dummy-${Math.random().toString(36).slice(2)}-password`);
  return dummyHash;
}

/** A readable random password for generated accounts (printed once, never stored in clear). */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join('');
}
