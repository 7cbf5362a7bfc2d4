import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { secretNames, type SecretName } from './env.js';

/**
 * The secrets in an env file (./.env, which the CLI and scripts/services.sh read): strong random
 * values are added for the missing ones, and an existing value is never replaced (a new
 * SECRETS_ENCRYPTION_KEY would make what it encrypted unreadable; a new JWT_SECRET or
 * MARKETING_WEBHOOK_SECRET would log everyone out or break the marketing site's orders).
 */

/** A fresh value for `name`, from the system CSPRNG, in characters that need no quoting in a .env file. */
export function generateSecret(name: SecretName): string {
  switch (name) {
    case 'JWT_SECRET':
      return randomBytes(48).toString('base64url'); // 384 bits, above HS256's 256
    case 'MARKETING_WEBHOOK_SECRET':
      return randomBytes(32).toString('hex'); // hex: pasted into another system's settings as is
    case 'STRIPE_WEBHOOK_SECRET':
      return `whsec_${randomBytes(32).toString('base64url')}`;
    case 'STRIPE_API_KEY':
      // A placeholder in the key's format until Stripe is connected: calls to Stripe fail (401) until
      // it is replaced by the account's secret key; nothing else needs it.
      return `sk_test_unconnected_${randomBytes(24).toString('hex')}`;
    case 'POWERDNS_API_KEY':
      return randomBytes(32).toString('hex'); // written into pdns.conf by scripts/services.sh
    case 'SECRETS_ENCRYPTION_KEY':
      return randomBytes(32).toString('base64url'); // 32 random bytes, 43 characters
  }
}

export interface SecretsFileResult {
  /** Absolute path of the env file. */
  readonly file: string;
  readonly created: boolean;
  /** Secrets that were missing (or empty) and now have a generated value. */
  readonly written: readonly SecretName[];
  /** Secrets that already had a value, left as they were. */
  readonly kept: readonly SecretName[];
  /** The file was readable by others and is now 0600. */
  readonly tightened: boolean;
}

const FILE_MODE = 0o600;

const HEADER = [
  '# mPanel settings (see .env.example). Secrets written by `mpanel secrets generate`: keep this',
  '# file private (mode 0600) and out of version control.',
  '',
].join('\n');

/** Reads the env file as Node's loader does (last assignment wins, empty = unset); {} when absent. */
export function readEnvFile(file: string): Partial<Record<string, string>> {
  try {
    return parseEnv(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    if (isNotFound(error)) return {};
    throw error;
  }
}

/** Adds a generated value for every missing secret to `file` (created 0600 if absent); never replaces one. */
export function ensureSecrets(envFile: string): SecretsFileResult {
  const file = path.resolve(envFile);
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const current = text === undefined ? {} : parseEnv(text);
  const written = secretNames.filter((name) => !current[name]);
  const kept = secretNames.filter((name) => Boolean(current[name]));
  let tightened = false;

  if (written.length > 0) {
    let lines = (text ?? HEADER).split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const name of written) {
      const assignment = `${name}=${generateSecret(name)}`;
      // An empty assignment (as copied from .env.example) is replaced where it stands.
      const defines = new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=`);
      const at = lines.findIndex((line) => defines.test(line));
      if (at === -1) {
        lines.push(assignment);
      } else {
        lines[at] = assignment;
        lines = lines.filter((line, index) => index <= at || !defines.test(line));
      }
    }
    writeAtomically(file, `${lines.join('\n')}\n`);
  } else if ((fs.statSync(file).mode & 0o077) !== 0) {
    fs.chmodSync(file, FILE_MODE);
    tightened = true;
  }
  return { file, created: text === undefined, written, kept, tightened };
}

/** Writes a sibling temporary file (0600 from its creation) and renames it over `file`. */
function writeAtomically(file: string, content: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temporary, content, { mode: FILE_MODE, flag: 'wx' });
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}
