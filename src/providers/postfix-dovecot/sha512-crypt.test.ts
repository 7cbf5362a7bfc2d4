import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { sha512Crypt } from './sha512-crypt.js';

it('matches openssl passwd -6 (glibc crypt) for short, long and non-ASCII passwords', () => {
  for (const [password, salt] of [['S3cret-pass', 'abcdefgh'], ['x'.repeat(150), 'Zz./9'], ['pässwörd ✓', 'saltsaltsaltsalt']] as const) {
    const expected = execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: password }).toString().trim();
    expect(sha512Crypt(password, salt)).toBe(expected);
  }
  expect(sha512Crypt('same')).not.toBe(sha512Crypt('same')); // a random salt each time
});
