import type { DnsRRset, RRsetChange } from '../../providers/dns.port.js';
import { canonicalPresentation, toPresentation, type DnsRecordData } from './dns-records.js';

/**
 * From database rows to the RRsets PowerDNS should hold, and the difference between that and
 * what it does hold. Used by the API (the RRsets a write touches), the PROVISION_DNS step (a zone
 * that already existed) and `mpanel dns sync` (every zone).
 */

/** An RRset as mPanel wants it: contents in canonical presentation form, sorted. */
export interface WantedRRset {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly contents: readonly string[];
}

export const rrsetKey = (name: string, type: string): string => `${name} ${type}`;

/** The apex NS RRset of a zone, from the configured name servers. */
export function apexNs(zone: string, nameservers: readonly string[], ttl: number): WantedRRset {
  return { name: zone, type: 'NS', ttl, contents: nameservers.map((host) => canonicalPresentation('NS', host)).sort() };
}

/**
 * Groups records into RRsets. PowerDNS keeps one TTL per RRset; the API keeps the rows of an
 * RRset at one TTL, and should they ever differ the lowest wins (no cache holds data too long).
 */
export function rrsetsOf(records: readonly DnsRecordData[]): WantedRRset[] {
  const groups = new Map<string, { name: string; type: string; ttl: number; contents: Set<string> }>();
  for (const record of records) {
    const key = rrsetKey(record.name, record.type);
    const group = groups.get(key) ?? { name: record.name, type: record.type, ttl: record.ttl, contents: new Set<string>() };
    group.ttl = Math.min(group.ttl, record.ttl);
    group.contents.add(canonicalPresentation(record.type, toPresentation(record)));
    groups.set(key, group);
  }
  return [...groups.values()].map((group) => ({ name: group.name, type: group.type, ttl: group.ttl, contents: [...group.contents].sort() }));
}

/** Every RRset of the zone as the database says it should be: its records plus the apex NS. */
export function wantedZone(zone: string, records: readonly DnsRecordData[], nameservers: readonly string[], nsTtl: number): WantedRRset[] {
  return [apexNs(zone, nameservers, nsTtl), ...rrsetsOf(records)];
}

export function toProviderRRset(rrset: WantedRRset): DnsRRset {
  return { name: rrset.name, type: rrset.type, ttl: rrset.ttl, records: rrset.contents.map((content) => ({ content, disabled: false })) };
}

/** The change that makes PowerDNS hold `rrset`; an RRset with no contents is deleted. */
export function changeFor(name: string, type: string, rrset: WantedRRset | undefined): RRsetChange {
  return rrset && rrset.contents.length > 0
    ? { kind: 'replace', name: rrset.name, type: rrset.type, ttl: rrset.ttl, contents: rrset.contents }
    : { kind: 'delete', name, type };
}

export interface RRsetDrift {
  /** missing: in the database, not in PowerDNS; extra: the other way round; different: contents or TTL. */
  readonly kind: 'missing' | 'extra' | 'different';
  readonly name: string;
  readonly type: string;
  readonly expected?: { ttl: number; contents: readonly string[] };
  readonly actual?: { ttl: number; contents: readonly string[] };
}

/** PowerDNS's RRsets in the same canonical form (SOA left out: PowerDNS owns its serial). */
function actualRRsets(rrsets: readonly DnsRRset[]): Map<string, WantedRRset> {
  const actual = new Map<string, WantedRRset>();
  for (const rrset of rrsets) {
    if (rrset.type === 'SOA') continue;
    const contents = rrset.records.map((record) => `${record.disabled ? 'disabled: ' : ''}${canonicalPresentation(rrset.type, record.content)}`).sort();
    actual.set(rrsetKey(rrset.name, rrset.type), { name: rrset.name, type: rrset.type, ttl: rrset.ttl, contents });
  }
  return actual;
}

const sameContents = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((value, index) => value === b[index]);

/** What differs between the wanted RRsets and PowerDNS's, in a stable order (name, type). */
export function diffRRsets(wanted: readonly WantedRRset[], actual: readonly DnsRRset[]): RRsetDrift[] {
  const have = actualRRsets(actual);
  const drift: RRsetDrift[] = [];
  const seen = new Set<string>();
  for (const rrset of wanted) {
    const key = rrsetKey(rrset.name, rrset.type);
    seen.add(key);
    const current = have.get(key);
    const expected = { ttl: rrset.ttl, contents: rrset.contents };
    if (!current) drift.push({ kind: 'missing', name: rrset.name, type: rrset.type, expected });
    else if (current.ttl !== rrset.ttl || !sameContents(current.contents, rrset.contents)) {
      drift.push({ kind: 'different', name: rrset.name, type: rrset.type, expected, actual: { ttl: current.ttl, contents: current.contents } });
    }
  }
  for (const [key, current] of have) {
    if (!seen.has(key)) drift.push({ kind: 'extra', name: current.name, type: current.type, actual: { ttl: current.ttl, contents: current.contents } });
  }
  return drift.sort((a, b) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type));
}

/** The PATCH that removes the drift: REPLACE what is missing or different, DELETE what is extra. */
export function repairChanges(drift: readonly RRsetDrift[]): RRsetChange[] {
  return drift.map((item) =>
    item.kind === 'extra' || !item.expected
      ? { kind: 'delete', name: item.name, type: item.type }
      : { kind: 'replace', name: item.name, type: item.type, ttl: item.expected.ttl, contents: item.expected.contents },
  );
}
