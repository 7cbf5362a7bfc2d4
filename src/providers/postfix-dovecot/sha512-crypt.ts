import { createHash, randomBytes } from 'node:crypto';

/**
 * SHA512-CRYPT (`$6$`, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512", as glibc's crypt(3)
 * and Dovecot's {SHA512-CRYPT} scheme read it), computed in-process: a mailbox's password is hashed
 * without passing it to a command line (`doveadm pw -p` would show it in `ps`). About 10 ms of CPU
 * per IMAP login at the default 5,000 rounds, against 0.2 s for bcrypt at cost 12
 * (../shared/infra-recipe.md, Dovecot). Checked against `openssl passwd -6` in the tests.
 */

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The byte order of the final encoding: 21 groups of three bytes, then the last byte alone. */
const ORDER: readonly (readonly [number, number, number])[] = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

function encode24(b2: number, b1: number, b0: number, count: number): string {
  let word = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < count; i += 1) {
    out += ITOA64[word & 0x3f];
    word >>>= 6;
  }
  return out;
}

/** `length` bytes of `block` repeated (the P and S sequences of the algorithm). */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += block.length) block.copy(out, offset, 0, Math.min(block.length, length - offset));
  return out;
}

const sha512 = (...parts: Buffer[]): Buffer => {
  const hash = createHash('sha512');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** `$6$<salt>$<hash>` (5,000 rounds, the default, so no `rounds=` field). */
export function sha512Crypt(password: string, salt: string = randomSalt()): string {
  if (!/^[./0-9A-Za-z]{1,16}$/.test(salt)) throw new RangeError('the salt must be 1-16 characters of [./0-9A-Za-z]');
  const rounds = 5000;
  const p = Buffer.from(password, 'utf8');
  const s = Buffer.from(salt, 'ascii');

  const b = sha512(p, s, p);
  const a = createHash('sha512').update(p).update(s);
  let remaining = p.length;
  for (; remaining > 64; remaining -= 64) a.update(b);
  a.update(b.subarray(0, remaining));
  for (let bits = p.length; bits > 0; bits >>= 1) a.update(bits & 1 ? b : p);
  let c = a.digest();

  const dp = sha512(...Array.from({ length: p.length }, () => p));
  const pSeq = repeatTo(dp, p.length);
  const ds = sha512(...Array.from({ length: 16 + c[0]! }, () => s));
  const sSeq = repeatTo(ds, s.length);

  for (let i = 0; i < rounds; i += 1) {
    const round = createHash('sha512');
    round.update(i & 1 ? pSeq : c);
    if (i % 3 !== 0) round.update(sSeq);
    if (i % 7 !== 0) round.update(pSeq);
    round.update(i & 1 ? c : pSeq);
    c = round.digest();
  }

  let encoded = '';
  for (const [x, y, z] of ORDER) encoded += encode24(c[x]!, c[y]!, c[z]!, 4);
  encoded += encode24(0, 0, c[63]!, 2);
  return `$6$${salt}$${encoded}`;
}

function randomSalt(): string {
  return [...randomBytes(16)].map((byte) => ITOA64[byte & 0x3f]).join('');
}
