import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, matchTotp, stepAt, totpCode } from './totp.js';

describe('TOTP (RFC 6238)', () => {
  // RFC 6238 Appendix B, SHA-1 secret "12345678901234567890", 8 digits there; the last 6 are ours.
  const secret = Buffer.from('12345678901234567890');
  it.each([
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
  ])('t=%i → %s', (seconds, code) => {
    expect(totpCode(secret, stepAt(seconds * 1000))).toBe(code);
  });

  it('base32 round trip', () => {
    expect(base32Decode(base32Encode(secret)).equals(secret)).toBe(true);
  });

  it('accepts one step of drift, never the same or an earlier step twice', () => {
    const b32 = base32Encode(secret);
    const now = 1111111111_000;
    const code = totpCode(secret, stepAt(now));
    const step = matchTotp(b32, code, now, null);
    expect(step).toBe(stepAt(now));
    expect(matchTotp(b32, code, now, step)).toBeNull();
    expect(matchTotp(b32, totpCode(secret, stepAt(now) - 1), now, step)).toBeNull();
    expect(matchTotp(b32, totpCode(secret, stepAt(now) + 2), now, null)).toBeNull();
    expect(matchTotp(b32, 'abcdef', now, null)).toBeNull();
  });
});
