import { createDecipheriv, hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSecretBox, SecretBoxError, type SecretBoxFailure } from './secret-box.js';

const KEY = 'test-secret-box-key-0123456789abcdef-0123';
const OTHER_KEY = 'another-secret-box-key-0123456789abcdef-9';
const AAD = 'ssl_certificates:7b0c2b4e-0000-4000-8000-000000000001:private_key';
const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

function failure(run: () => unknown): SecretBoxFailure | 'no error' {
  try {
    run();
    return 'no error';
  } catch (error) {
    if (error instanceof SecretBoxError) return error.reason;
    throw error;
  }
}

/** Flips one bit of the byte at `index` in a base64url part. */
function flipBit(part: string, index: number): string {
  const bytes = Buffer.from(part, 'base64url');
  bytes[index % bytes.length]! ^= 0x01;
  return bytes.toString('base64url');
}

describe('secret box', () => {
  const box = createSecretBox({ key: KEY });

  it('round-trips text and bytes, with a fresh nonce each time', () => {
    const sealed = box.seal(PEM, AAD);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect(box.openText(sealed, AAD)).toBe(PEM);
    expect(box.seal(PEM, AAD)).not.toBe(sealed);

    const bytes = Uint8Array.from([0, 255, 1, 128, 0]);
    expect([...box.open(box.seal(bytes, AAD), AAD)]).toEqual([...bytes]);
    expect(box.openText(box.seal('', AAD), AAD)).toBe('');
  });

  it('round-trips any text under any associated data (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ maxLength: 80 }), (text, aad) => {
        expect(box.openText(box.seal(text, aad), aad)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('is standard AES-256-GCM under HKDF-SHA256(key, info label): another implementation can open it', () => {
    const sealed = box.seal('interoperable', 'row-1');
    const [, keyId = '', nonce = '', ciphertext = '', tag = ''] = sealed.split('.');
    const key = Buffer.from(hkdfSync('sha256', Buffer.from(KEY), Buffer.alloc(0), 'mpanel secret-box v1 aes-256-gcm key', 32));
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(JSON.stringify(['v1', keyId, 'row-1'])));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    expect(Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString()).toBe('interoperable');
  });

  it('refuses a tampered ciphertext, tag, nonce or key id', () => {
    const sealed = box.seal(PEM, AAD);
    const [version = '', keyId = '', nonce = '', ciphertext = '', tag = ''] = sealed.split('.');
    for (let index = 0; index < Buffer.from(ciphertext, 'base64url').length; index += 7) {
      expect(failure(() => box.open([version, keyId, nonce, flipBit(ciphertext, index), tag].join('.'), AAD))).toBe('authentication-failed');
    }
    expect(failure(() => box.open([version, keyId, nonce, ciphertext, flipBit(tag, 3)].join('.'), AAD))).toBe('authentication-failed');
    expect(failure(() => box.open([version, keyId, flipBit(nonce, 0), ciphertext, tag].join('.'), AAD))).toBe('authentication-failed');
    expect(failure(() => box.open([version, flipBit(keyId, 0), nonce, ciphertext, tag].join('.'), AAD))).toBe('unknown-key');
    // Truncated ciphertext (a shorter plaintext cannot be forged by cutting).
    expect(failure(() => box.open([version, keyId, nonce, Buffer.from(ciphertext, 'base64url').subarray(1).toString('base64url'), tag].join('.'), AAD))).toBe('authentication-failed');
  });

  it('refuses the right ciphertext under other associated data (moved to another row or purpose)', () => {
    const sealed = box.seal(PEM, AAD);
    expect(failure(() => box.open(sealed, AAD.replace('private_key', 'account_key')))).toBe('authentication-failed');
    expect(failure(() => box.open(sealed, ''))).toBe('authentication-failed');
    expect(failure(() => box.open(box.seal(PEM, ''), AAD))).toBe('authentication-failed');
  });

  it('says the key is unknown when opened with another key, without revealing anything', () => {
    const sealed = box.seal(PEM, AAD);
    let caught: SecretBoxError | undefined;
    try {
      createSecretBox({ key: OTHER_KEY }).open(sealed, AAD);
    } catch (error) {
      if (error instanceof SecretBoxError) caught = error;
    }
    expect(caught?.reason).toBe('unknown-key');
    const message = caught?.message ?? '';
    expect(message).toContain('SECRETS_ENCRYPTION_KEY');
    for (const secret of [KEY, OTHER_KEY, PEM, sealed, sealed.split('.')[3]!]) expect(message).not.toContain(secret);
  });

  it('refuses text that is not a sealed secret, or of an unknown version', () => {
    const sealed = box.seal(PEM, AAD);
    const parts = sealed.split('.');
    for (const bad of ['', 'plain text', PEM, sealed.slice(0, -3), `${sealed}.x`, parts.slice(0, 4).join('.'), sealed.replace('.', '..'), `${sealed}=`, sealed.replace(parts[2]!, `${parts[2]!}AA`)]) {
      expect(failure(() => box.open(bad, AAD))).toBe('malformed');
    }
    expect(failure(() => box.open(['v2', ...parts.slice(1)].join('.'), AAD))).toBe('unknown-version');
  });

  it('refuses a key shorter than 32 bytes, and accepts any string of 32 bytes or more', () => {
    expect(() => createSecretBox({ key: 'x'.repeat(31) })).toThrow(/at least 32 bytes/);
    expect(() => createSecretBox({ key: KEY, previousKeys: ['short'] })).toThrow(/previous \(#1\).*at least 32 bytes/);
    const unicodeKey = 'ключ-ключ-ключ-ключ'; // 19 characters, 35 bytes
    expect(createSecretBox({ key: unicodeKey }).openText(createSecretBox({ key: unicodeKey }).seal('x', 'a'), 'a')).toBe('x');
  });

  it('opens secrets sealed under a previous key after a rotation, seals with the new one, and says which need re-sealing', () => {
    const before = createSecretBox({ key: OTHER_KEY });
    const old = before.seal(PEM, AAD);
    const rotated = createSecretBox({ key: KEY, previousKeys: [OTHER_KEY] });
    expect(rotated.openText(old, AAD)).toBe(PEM);
    expect(rotated.isCurrent(old)).toBe(false);
    const resealed = rotated.seal(rotated.open(old, AAD), AAD);
    expect(rotated.isCurrent(resealed)).toBe(true);
    // Once the old key is dropped, what was re-sealed still opens and what was not says so.
    expect(box.openText(resealed, AAD)).toBe(PEM);
    expect(failure(() => box.open(old, AAD))).toBe('unknown-key');
    // A previous key never seals.
    expect(failure(() => before.open(rotated.seal('new', AAD), AAD))).toBe('unknown-key');
  });
});
