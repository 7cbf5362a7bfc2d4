import { isIPv4, isIPv6 } from 'node:net';
import type { DnsRecordType } from '../../db/schema/index.js';

/**
 * DNS records as mPanel stores them, and the rules every record passes before it reaches the
 * database or PowerDNS — shared by the API (dns.service.ts) and the default template of new
 * zones (dns-template.ts).
 *
 * Stored form (dns_records): `name` is the owner FQDN, lower case, no trailing dot; `content` is
 * the record data without the priority, host names lower case without the trailing dot:
 *   A      192.0.2.10                 AAAA  2001:db8::10 (RFC 5952 form)
 *   CNAME  target.example.com         NS    ns1.example.net (below the apex only)
 *   MX     mail.example.com + priority
 *   TXT    the text itself, unquoted (printable ASCII; split into 255-byte strings for DNS)
 *   SRV    "weight port target" + priority (target "." = no service)
 *   CAA    flags tag "value", e.g. 0 issue "letsencrypt.org"
 * PowerDNS receives the presentation form (`toPresentation`): host names absolute with the dot,
 * `priority target.` for MX and SRV, quoted TXT strings.
 */

export const MIN_TTL = 60;
export const MAX_TTL = 604_800;
export const MAX_TXT_LENGTH = 4_000;
const TXT_STRING_BYTES = 255;

/** A record in its stored form, ready for the database and for `toPresentation`. */
export interface DnsRecordData {
  readonly name: string;
  readonly type: DnsRecordType;
  readonly content: string;
  readonly ttl: number;
  readonly priority: number | null;
}

/** A record as a caller writes it: the name may be relative to the zone ('www', '@'). */
export interface RecordInput {
  readonly name: string;
  readonly type: DnsRecordType;
  readonly content: string;
  readonly ttl?: number | undefined;
  readonly priority?: number | null | undefined;
}

export interface RecordIssue {
  readonly field: 'name' | 'type' | 'content' | 'ttl' | 'priority';
  readonly message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; issues: RecordIssue[] };

type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

const HOST_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

function checkLabels(name: string, allowWildcard: boolean): string | undefined {
  if (name.length > 253) return 'is longer than 253 characters';
  if (!/^[\x21-\x7e]+$/.test(name)) return 'must be ASCII without spaces (write an internationalised name in its xn-- form)';
  const labels = name.split('.');
  for (const [index, label] of labels.entries()) {
    if (label === '*' && allowWildcard && index === 0) continue;
    if (label === '*') return "may use * only as its first label (a wildcard like *.example.com)";
    if (!HOST_LABEL.test(label)) return `has an invalid label "${label}" (letters, digits, - and _; 1-63 characters; no - at either end)`;
  }
  return undefined;
}

/**
 * The owner FQDN of a record written relative to the zone ('@', 'www', '*', '_dmarc') or in full
 * ('www.example.com', with or without the trailing dot). A name with a dot is always read as a
 * full name, so a deeper name is written in full ('_acme-challenge.www.example.com'): that keeps
 * 'www.other.test' from silently becoming 'www.other.test.example.com'.
 */
export function resolveOwnerName(input: string, zone: string): NameCheck {
  const raw = input.trim().toLowerCase();
  if (raw === '' || raw === '.') return { ok: false, reason: 'is empty' };
  if (raw === '@') return { ok: true, name: zone };
  const absolute = raw.endsWith('.');
  const bare = absolute ? raw.slice(0, -1) : raw;
  const name = !absolute && !bare.includes('.') ? `${bare}.${zone}` : bare;
  if (name !== zone && !name.endsWith(`.${zone}`)) {
    return { ok: false, reason: `is outside the zone ${zone}: write it relative to the zone ('www', '@') or in full, ending in .${zone}` };
  }
  const invalid = checkLabels(name, true);
  return invalid ? { ok: false, reason: invalid } : { ok: true, name };
}

/** A host name a record points at (CNAME, MX, NS, SRV target): a full name, or '@' for the zone. */
export function resolveTarget(input: string, zone: string): NameCheck {
  const raw = input.trim().toLowerCase();
  if (raw === '@') return { ok: true, name: zone };
  const name = raw.replace(/\.$/, '');
  if (name === '') return { ok: false, reason: 'is empty' };
  const invalid = checkLabels(name, false);
  if (invalid) return { ok: false, reason: invalid };
  if (!name.includes('.')) return { ok: false, reason: `must be a fully qualified host name (e.g. ${name}.${zone}), or @ for the zone itself` };
  return { ok: true, name };
}

/** RFC 5952 text of an IPv6 address (lower case, longest zero run compressed, no mixed IPv4 tail). */
export function canonicalIpv6(address: string): string {
  // The WHATWG URL parser serialises IPv6 hosts exactly this way.
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** TXT text as DNS character-strings: quoted, `"` and `\` escaped, 255 bytes per string. */
export function quoteTxt(text: string): string {
  const strings: string[] = [];
  for (let i = 0; i < text.length; i += TXT_STRING_BYTES) strings.push(text.slice(i, i + TXT_STRING_BYTES));
  return (strings.length > 0 ? strings : ['']).map((part) => `"${part.replace(/[\\"]/g, (char) => `\\${char}`)}"`).join(' ');
}

/** The character-strings of a TXT presentation (`"a" "b\"c"` → ['a', 'b"c']); undefined if malformed. */
export function parseTxtStrings(presentation: string): string[] | undefined {
  const strings: string[] = [];
  let i = 0;
  const text = presentation.trim();
  while (i < text.length) {
    if (text[i] === ' ' || text[i] === '\t') {
      i += 1;
      continue;
    }
    const quoted = text[i] === '"';
    if (quoted) i += 1;
    let value = '';
    for (;;) {
      if (i >= text.length) {
        if (quoted) return undefined;
        break;
      }
      const char = text[i] ?? '';
      if (quoted && char === '"') {
        i += 1;
        break;
      }
      if (!quoted && (char === ' ' || char === '\t')) break;
      if (char === '\\') {
        const digits = /^\d{3}/.exec(text.slice(i + 1));
        if (digits) {
          value += String.fromCharCode(Number(digits[0]));
          i += 4;
        } else {
          value += text[i + 1] ?? '';
          i += 2;
        }
        continue;
      }
      value += char;
      i += 1;
    }
    strings.push(value);
  }
  return strings;
}

const PRINTABLE = /^[\x20-\x7e]*$/;
const CAA = /^(\d{1,3})\s+([A-Za-z0-9]{1,15})\s+(.+)$/;
const SRV = /^(\d{1,5})\s+(\d{1,5})\s+(\S+)$/;

function checkContent(type: DnsRecordType, content: string, zone: string): { ok: true; content: string } | { ok: false; reason: string } {
  const value = content.trim();
  switch (type) {
    case 'A':
      return isIPv4(value) ? { ok: true, content: value } : { ok: false, reason: 'must be an IPv4 address like 192.0.2.10' };
    case 'AAAA':
      return isIPv6(value) ? { ok: true, content: canonicalIpv6(value) } : { ok: false, reason: 'must be an IPv6 address like 2001:db8::10' };
    case 'CNAME':
    case 'NS':
    case 'MX': {
      const target = resolveTarget(value, zone);
      return target.ok ? { ok: true, content: target.name } : { ok: false, reason: `host name ${target.reason}` };
    }
    case 'TXT':
      if (content.length === 0) return { ok: false, reason: 'is empty' };
      if (content.length > MAX_TXT_LENGTH) return { ok: false, reason: `is longer than ${MAX_TXT_LENGTH} characters` };
      // Not trimmed: spaces inside TXT data are data.
      return PRINTABLE.test(content) ? { ok: true, content } : { ok: false, reason: 'must be printable ASCII text, without quotes around it' };
    case 'SRV': {
      const match = SRV.exec(value);
      if (!match) return { ok: false, reason: 'must be "weight port target" (the priority goes in the priority field), e.g. 5 5060 sip.example.com' };
      const [, weight, port, host] = match;
      if (Number(weight) > 65535) return { ok: false, reason: 'weight must be 0-65535' };
      if (Number(port) > 65535) return { ok: false, reason: 'port must be 0-65535' };
      if (host === '.') return { ok: true, content: `${Number(weight)} ${Number(port)} .` };
      const target = resolveTarget(host ?? '', zone);
      return target.ok ? { ok: true, content: `${Number(weight)} ${Number(port)} ${target.name}` } : { ok: false, reason: `target ${target.reason}` };
    }
    case 'CAA': {
      const match = CAA.exec(value);
      if (!match) return { ok: false, reason: 'must be "flags tag value", e.g. 0 issue "letsencrypt.org"' };
      const [, flags, tag, rawValue = ''] = match;
      if (Number(flags) > 255) return { ok: false, reason: 'flags must be 0-255' };
      const quoted = /^"(.*)"$/.exec(rawValue);
      const inner = quoted ? (quoted[1] ?? '') : rawValue;
      if (!PRINTABLE.test(inner) || /["\\]/.test(inner)) return { ok: false, reason: 'value must be printable ASCII without " or \\' };
      return { ok: true, content: `${Number(flags)} ${(tag ?? '').toLowerCase()} "${inner}"` };
    }
  }
}

/**
 * A CNAME or MX must not point at the record's own name (a CNAME loop; mail for a name sent to that
 * same name) nor at a loopback: `localhost`, a name under it, or an address literal (a host name is
 * expected, and an address written as one would reach whatever listens on the mail server's own
 * loopback).
 */
function targetIssue(target: string, owner: string): string | undefined {
  if (target === owner) return 'must not point at the record\'s own name';
  if (target === 'localhost' || target.endsWith('.localhost')) return 'must not point at a loopback name (localhost)';
  if (isIPv4(target) || isIPv6(target)) return 'must be a host name, not an address';
  return undefined;
}

/**
 * Checks one record on its own (its name against the zone, its content for its type, TTL and
 * priority) and returns it in stored form. Rules that depend on the zone's other records are in
 * `recordConflicts`. `defaultTtl` applies when the input has none.
 */
export function validateRecord(input: RecordInput, zone: string, defaultTtl: number): Checked<DnsRecordData> {
  const issues: RecordIssue[] = [];
  const owner = resolveOwnerName(input.name, zone);
  if (!owner.ok) issues.push({ field: 'name', message: owner.reason });
  const name = owner.ok ? owner.name : '';

  if (owner.ok && name === zone && input.type === 'CNAME') {
    issues.push({ field: 'name', message: 'a CNAME cannot be at the zone apex, which has the SOA and NS records' });
  }
  if (owner.ok && name === zone && input.type === 'NS') {
    issues.push({ field: 'name', message: "the zone's own NS records come from the configuration (DNS_NAMESERVERS); NS records here delegate a subdomain" });
  }
  if (owner.ok && input.type === 'SRV') {
    const labels = name.slice(0, -zone.length).split('.');
    if (!(labels[0]?.startsWith('_') && labels[1]?.startsWith('_'))) {
      issues.push({ field: 'name', message: 'an SRV name starts with _service._protocol, e.g. _sip._tcp.' + zone });
    }
  }

  const content = checkContent(input.type, input.content, zone);
  if (!content.ok) issues.push({ field: 'content', message: content.reason });
  const pointing = content.ok && owner.ok && (input.type === 'CNAME' || input.type === 'MX') ? targetIssue(content.content, name) : undefined;
  if (pointing) issues.push({ field: 'content', message: pointing });

  const ttl = input.ttl ?? defaultTtl;
  if (!Number.isInteger(ttl) || ttl < MIN_TTL || ttl > MAX_TTL) issues.push({ field: 'ttl', message: `must be a whole number of seconds from ${MIN_TTL} to ${MAX_TTL}` });

  const needsPriority = input.type === 'MX' || input.type === 'SRV';
  const priority = input.priority ?? null;
  if (needsPriority && priority === null) issues.push({ field: 'priority', message: `is required for ${input.type} records (0-65535, lower is preferred)` });
  if (!needsPriority && priority !== null) issues.push({ field: 'priority', message: 'only MX and SRV records have a priority' });
  if (priority !== null && (!Number.isInteger(priority) || priority < 0 || priority > 65535)) issues.push({ field: 'priority', message: 'must be 0-65535' });

  if (issues.length > 0 || !content.ok) return { ok: false, issues };
  return { ok: true, value: { name, type: input.type, content: content.content, ttl, priority } };
}

const sameRecord = (a: DnsRecordData, b: DnsRecordData) => a.name === b.name && a.type === b.type && a.content === b.content && a.priority === b.priority;

/**
 * Rules between a record and the zone's other records (`others` must not contain the record
 * itself when it is being changed): no duplicate, and a CNAME shares its name with nothing
 * (RFC 1034 §3.6.2), so at most one CNAME per name and no other record beside it.
 */
export function recordConflicts(candidate: DnsRecordData, others: readonly DnsRecordData[]): RecordIssue[] {
  if (others.some((other) => sameRecord(other, candidate))) {
    return [{ field: 'content', message: `the same ${candidate.type} record already exists at ${candidate.name}` }];
  }
  const atName = others.filter((other) => other.name === candidate.name);
  if (candidate.type === 'CNAME') {
    if (atName.some((other) => other.type === 'CNAME')) return [{ field: 'name', message: `${candidate.name} already has a CNAME record; a name has at most one` }];
    const types = [...new Set(atName.map((other) => other.type))];
    if (types.length > 0) return [{ field: 'name', message: `a CNAME cannot share its name with other records, and ${candidate.name} has ${types.join(', ')} records` }];
  } else if (atName.some((other) => other.type === 'CNAME')) {
    return [{ field: 'name', message: `${candidate.name} has a CNAME record, which cannot share its name with other records` }];
  }
  return [];
}

/** The record's data in DNS presentation format, as PowerDNS takes it. */
export function toPresentation(record: Pick<DnsRecordData, 'type' | 'content' | 'priority'>): string {
  const absolute = (host: string) => (host === '.' ? '.' : `${host}.`);
  switch (record.type) {
    case 'A':
    case 'AAAA':
    case 'CAA':
      return record.content;
    case 'CNAME':
    case 'NS':
      return absolute(record.content);
    case 'MX':
      return `${record.priority ?? 0} ${absolute(record.content)}`;
    case 'SRV': {
      const [weight, port, target = '.'] = record.content.split(' ');
      return `${record.priority ?? 0} ${weight} ${port} ${absolute(target)}`;
    }
    case 'TXT':
      return quoteTxt(record.content);
  }
}

/**
 * A presentation-format content in one canonical spelling, so that what PowerDNS returns can be
 * compared with what `toPresentation` produces: PowerDNS keeps the case of host names, writes
 * IPv6 its own way, and TXT strings may be split or escaped differently.
 */
export function canonicalPresentation(type: string, content: string): string {
  const text = content.trim().replace(/\s+/g, ' ');
  const host = (name: string) => (name === '.' ? '.' : `${name.toLowerCase().replace(/\.$/, '')}.`);
  switch (type) {
    case 'AAAA':
      return isIPv6(text) ? canonicalIpv6(text) : text;
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return host(text);
    case 'MX': {
      const [priority, exchange] = text.split(' ');
      return exchange === undefined ? text : `${Number(priority)} ${host(exchange)}`;
    }
    case 'SRV': {
      const [priority, weight, port, target] = text.split(' ');
      return target === undefined ? text : `${Number(priority)} ${Number(weight)} ${Number(port)} ${host(target)}`;
    }
    case 'TXT': {
      const strings = parseTxtStrings(content);
      return strings ? strings.map((part) => `"${part.replace(/[\\"]/g, (char) => `\\${char}`)}"`).join(' ') : text;
    }
    case 'CAA': {
      const match = CAA.exec(text);
      if (!match) return text;
      const [, flags, tag = '', value = ''] = match;
      return `${Number(flags)} ${tag.toLowerCase()} "${value.replace(/^"(.*)"$/, '$1')}"`;
    }
    default:
      return text;
  }
}
