import { describe, expect, it } from 'vitest';
import { isNormalizedDomain, normalizeDomain } from './domain-name.js';

describe('normalizeDomain', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['www.example.co.uk.', 'www.example.co.uk'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['münchen.example.test', 'xn--mnchen-3ya.example.test'],
    ['a-b.example.xn--p1ai', 'a-b.example.xn--p1ai'],
  ])('%s → %s', (input, output) => {
    expect(normalizeDomain(input)).toEqual({ ok: true, name: output });
  });

  it.each([
    ['', 'empty'],
    ['localhost', 'single label'],
    ['../etc/passwd', 'path traversal'],
    ['exa mple.com', 'space'],
    ['example.com;rm -rf /', 'shell metacharacter'],
    ['example.com}', 'nginx metacharacter'],
    ['example.com\nserver_name evil', 'newline'],
    ['-bad.example.com', 'leading hyphen'],
    ['bad-.example.com', 'trailing hyphen'],
    ['a..b.com', 'empty label'],
    [`${'a'.repeat(64)}.com`, '64-char label'],
    [`${Array.from({ length: 51 }, () => 'abcd').join('.')}.com`, '254+ chars'],
    ['example.c0m', 'numeric tld'],
    [`${Array.from({ length: 50 }, () => 'abcd').join('.')}.comx`, '254 chars'],
    ['user@example.com', 'at sign'],
  ])('rejects %j (%s)', (input) => {
    expect(normalizeDomain(input).ok).toBe(false);
  });

  it('recognises normalised names', () => {
    expect(isNormalizedDomain('example.com')).toBe(true);
    expect(isNormalizedDomain('Example.com')).toBe(false);
  });
});
