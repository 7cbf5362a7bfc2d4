import { domainToASCII } from 'node:url';
import { z } from 'zod';

/**
 * Customer domain names: lower-case, ASCII (IDN converted to punycode), fully qualified, no
 * trailing dot. This is the one check every layer uses before a name reaches DNS, a path or a
 * config file; what passes it contains only [a-z0-9.-].
 */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

export type DomainCheck = { ok: true; name: string } | { ok: false; reason: string };

export function normalizeDomain(input: string): DomainCheck {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed.length === 0) return { ok: false, reason: 'is empty' };
  if (/[\s/\\;{}'"`$<>|&*?#%@:,]/.test(trimmed)) return { ok: false, reason: 'contains characters a domain name cannot have' };
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii) return { ok: false, reason: 'is not a valid domain name' };
  if (ascii.length > 253) return { ok: false, reason: 'is longer than 253 characters' };
  const labels = ascii.split('.');
  if (labels.length < 2) return { ok: false, reason: 'must be fully qualified (e.g. example.com)' };
  if (!labels.every((label) => LABEL.test(label))) return { ok: false, reason: 'has a label that is empty, longer than 63 characters, or starts/ends with a hyphen' };
  if (!TLD.test(labels.at(-1) ?? '')) return { ok: false, reason: 'has an invalid top-level domain' };
  return { ok: true, name: ascii };
}

/** True when `name` is already in the normalised form (what providers accept at their boundary). */
export function isNormalizedDomain(name: string): boolean {
  const check = normalizeDomain(name);
  return check.ok && check.name === name;
}

/** zod: accepts a domain in any case or as an IDN, outputs the normalised ASCII name. */
export const domainName = z.string().max(300).transform((value, ctx) => {
  const check = normalizeDomain(value);
  if (!check.ok) {
    ctx.addIssue({ code: 'custom', message: `domain ${check.reason}` });
    return z.NEVER;
  }
  return check.name;
});
