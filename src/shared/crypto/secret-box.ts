import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (certificate private keys, the ACME account key, DKIM keys): AES-256-GCM under
 * a key derived from SECRETS_ENCRYPTION_KEY.
 *
 * Sealed form: `v1.<key id>.<nonce>.<ciphertext>.<tag>`, each part base64url.
 * - The AES key is HKDF-SHA256 of the configured string with a fixed info label, so any string of
 *   at least 32 bytes works (a passphrase, hex, base64) and the same string always gives the same key.
 * - The key id is a second HKDF output (6 bytes, not the key): it tells "sealed under a key that is
 *   not configured" apart from "tampered with", and picks the right key when old keys are listed
 *   for rotation. It reveals nothing about the key beyond "same key or not".
 * - The nonce is 12 random bytes per seal (random nonces are safe far beyond the number of secrets
 *   mPanel will ever seal under one key).
 * - Associated data (the purpose and the row, e.g. `ssl_certificates:<id>:private_key`) is
 *   authenticated, not stored: a ciphertext copied to another row or purpose does not open there.
 *   The version and key id are authenticated with it, so the header cannot be swapped either.
 */

const VERSION = 'v1';
const KEY_INFO = 'mpanel secret-box v1 aes-256-gcm key';
const KEY_ID_INFO = 'mpanel secret-box v1 key id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_BYTES = 6;
export const MIN_SECRET_KEY_BYTES = 32;

export type SecretBoxFailure =
  /** Not something seal() produced: wrong shape, bad base64url, wrong lengths. */
  | 'malformed'
  /** A format version this code does not know. */
  | 'unknown-version'
  /** Sealed under a key that is neither the current one nor a listed previous one. */
  | 'unknown-key'
  /** The key is right, but the ciphertext, tag or associated data is not what was sealed. */
  | 'authentication-failed';

/** Opening failed; the message never contains the plaintext, the key or the sealed text. */
export class SecretBoxError extends Error {
  override name = 'SecretBoxError';

  constructor(
    readonly reason: SecretBoxFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface SecretBoxOptions {
  /** The current key string (SECRETS_ENCRYPTION_KEY): seals with it, opens with it. */
  readonly key: string;
  /** Keys in use before a rotation: opened with, never sealed with. */
  readonly previousKeys?: readonly string[];
}

export interface SecretBox {
  /** Encrypts `plaintext` (UTF-8 when a string) bound to `associatedData`. */
  seal(plaintext: string | Uint8Array, associatedData: string): string;
  /** The plaintext bytes; SecretBoxError when it cannot be opened with this associated data. */
  open(sealed: string, associatedData: string): Buffer;
  /** open() as UTF-8 text (refuses bytes that are not valid UTF-8). */
  openText(sealed: string, associatedData: string): string;
  /**
   * False when `sealed` is under a previous key (re-seal it with the current one to finish a
   * rotation). Checks the header only: it does not authenticate.
   */
  isCurrent(sealed: string): boolean;
}

interface DerivedKey {
  readonly id: string;
  readonly key: Buffer;
}

function deriveKey(secret: string, position: string): DerivedKey {
  const material = Buffer.from(secret, 'utf8');
  if (material.length < MIN_SECRET_KEY_BYTES) {
    throw new RangeError(`the ${position} secret-box key must be at least ${MIN_SECRET_KEY_BYTES} bytes (got ${material.length})`);
  }
  // No salt: the derivation must be reproducible from the configured string alone. The input is a
  // high-entropy secret, not a password, so no slow KDF is needed.
  const key = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), KEY_INFO, 32));
  const id = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), KEY_ID_INFO, KEY_ID_BYTES)).toString('base64url');
  return { id, key };
}

/** Version, key id and the caller's data, encoded without ambiguity (no separator tricks). */
function additionalData(keyId: string, associatedData: string): Buffer {
  return Buffer.from(JSON.stringify([VERSION, keyId, associatedData]), 'utf8');
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodePart(part: string, expectedBytes?: number): Buffer | null {
  if (!BASE64URL.test(part)) return null;
  const bytes = Buffer.from(part, 'base64url');
  // Re-encoding must give the same text: refuses non-canonical padding bits.
  if (bytes.toString('base64url') !== part) return null;
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) return null;
  return bytes;
}

export function createSecretBox(options: SecretBoxOptions): SecretBox {
  const current = deriveKey(options.key, 'current');
  const keys = [current, ...(options.previousKeys ?? []).map((secret, index) => deriveKey(secret, `previous (#${index + 1})`))];

  function parse(sealed: string) {
    const parts = sealed.split('.');
    if (parts[0] !== VERSION) {
      if (parts.length === 5 && /^v\d+$/.test(parts[0] ?? '')) throw new SecretBoxError('unknown-version', `sealed secret has format version "${parts[0]}", this build reads ${VERSION}`);
      throw new SecretBoxError('malformed', 'not a sealed secret (expected v1.<key id>.<nonce>.<ciphertext>.<tag>)');
    }
    const [, keyId = '', nonceText = '', ciphertextText = '', tagText = ''] = parts;
    const nonce = decodePart(nonceText, NONCE_BYTES);
    const ciphertext = decodePart(ciphertextText);
    const tag = decodePart(tagText, TAG_BYTES);
    if (parts.length !== 5 || decodePart(keyId, KEY_ID_BYTES) === null || !nonce || !ciphertext || !tag) {
      throw new SecretBoxError('malformed', 'sealed secret is damaged: a part is missing or has the wrong length or encoding');
    }
    return { keyId, nonce, ciphertext, tag };
  }

  function open(sealed: string, associatedData: string): Buffer {
    const { keyId, nonce, ciphertext, tag } = parse(sealed);
    // The key id is stored in the clear beside the ciphertext: comparing it is not a secret comparison.
    const candidates = keys.filter((candidate) => candidate.id === keyId);
    if (candidates.length === 0) {
      throw new SecretBoxError('unknown-key', `sealed secret is under key ${keyId}, which is not configured (current key ${current.id}${keys.length > 1 ? ` and ${keys.length - 1} previous` : ''}): was SECRETS_ENCRYPTION_KEY changed without listing the old key?`);
    }
    // Two configured keys with the same 6-byte id are all but impossible; try each anyway.
    for (const candidate of candidates) {
      const decipher = createDecipheriv('aes-256-gcm', candidate.key, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(keyId, associatedData));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch {
        // Authentication failed with this key: try the next, then report.
      }
    }
    throw new SecretBoxError('authentication-failed', 'sealed secret failed authentication: it was altered, or belongs to another row or purpose (associated data differs)');
  }

  return {
    seal(plaintext, associatedData) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(additionalData(current.id, associatedData));
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
      return [VERSION, current.id, nonce.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    open,
    openText(sealed, associatedData) {
      const bytes = open(sealed, associatedData);
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new SecretBoxError('malformed', 'sealed secret opened, but its content is not UTF-8 text');
      }
    },
    isCurrent(sealed) {
      return parse(sealed).keyId === current.id;
    },
  };
}
