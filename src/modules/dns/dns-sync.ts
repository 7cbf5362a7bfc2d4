import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { dnsRecords, dnsZones, tenants, type DnsZone } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { DnsError, DnsRejectedError, type DnsPort } from '../../providers/dns.port.js';
import { AppError } from '../../shared/errors/app-error.js';
import { normalizeDomain } from '../../shared/domain-name.js';
import type { DnsRecordData } from './dns-records.js';
import { diffRRsets, repairChanges, toProviderRRset, wantedZone, type RRsetDrift, type WantedRRset } from './dns-rrsets.js';
import type { DnsSettings } from './dns-template.js';
import { recordData } from './dns.service.js';

/**
 * `mpanel dns sync`: the database is the source of truth for every ACTIVE zone; PowerDNS should
 * hold exactly its records, plus the configured apex NS (the SOA is PowerDNS's own and is not
 * compared). Reports, per zone, a zone missing from PowerDNS and every RRset that is missing,
 * extra or different; with `fix`, makes PowerDNS match (creates the zone, or one PATCH that
 * replaces and deletes RRsets) and records the new serial. A zone that PowerDNS holds for another
 * account is reported and never touched.
 */

export interface DnsSyncDeps {
  db: Database;
  dns: DnsPort;
  settings: DnsSettings;
  logger?: Logger;
}

export interface DnsSyncOptions {
  /** Only this zone (in whichever tenant holds it). */
  zone?: string | undefined;
  fix: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface ZoneSyncResult {
  readonly tenantId: string;
  readonly tenantSlug: string;
  readonly zoneId: string;
  readonly zone: string;
  readonly missingZone: boolean;
  readonly drift: readonly RRsetDrift[];
  readonly fixed: boolean;
  /** Why the zone could not be repaired (or checked). */
  readonly error?: string;
}

export interface DnsSyncReport {
  readonly checked: number;
  /** Zones with drift or an error, in the order checked. */
  readonly results: readonly ZoneSyncResult[];
  /** Zones still out of sync: drift not fixed, or an error. */
  readonly remaining: number;
}

interface ZoneToCheck {
  tenantId: string;
  tenantSlug: string;
  zone: DnsZone;
  records: DnsRecordData[];
}

/** Every ACTIVE zone with its records, tenant by tenant (each read under that tenant's RLS). */
async function zonesToCheck(db: Database, zoneName: string | undefined): Promise<ZoneToCheck[]> {
  const tenantRows = await db.select({ id: tenants.id, slug: tenants.slug }).from(tenants).orderBy(asc(tenants.slug));
  const result: ZoneToCheck[] = [];
  for (const tenant of tenantRows) {
    const found = await withTenant(db, tenant.id, async (tx) => {
      const zones = await tx
        .select()
        .from(dnsZones)
        .where(and(eq(dnsZones.status, 'ACTIVE'), zoneName === undefined ? undefined : eq(dnsZones.name, zoneName)))
        .orderBy(asc(dnsZones.name));
      if (zones.length === 0) return [];
      const records = await tx
        .select()
        .from(dnsRecords)
        .where(
          inArray(
            dnsRecords.zoneId,
            zones.map((zone) => zone.id),
          ),
        );
      return zones.map((zone) => ({ tenantId: tenant.id, tenantSlug: tenant.slug, zone, records: records.filter((row) => row.zoneId === zone.id).map(recordData) }));
    });
    result.push(...found);
  }
  return result;
}

/** The zone belongs to another PowerDNS account: a repair must not touch it. */
class ForeignZoneError extends Error {
  override name = 'ForeignZoneError';
}

const foreignZoneMessage = (account: string) => `PowerDNS holds this zone for account "${account}", not this tenant: left untouched`;

async function repair(deps: DnsSyncDeps, item: ZoneToCheck, wanted: readonly WantedRRset[], drift: readonly RRsetDrift[], missing: boolean): Promise<void> {
  const { zone } = item;
  let serial: number;
  if (missing) {
    const { settings } = deps;
    const created = await deps.dns.createZone({ name: zone.name, account: item.tenantId, nameservers: settings.nameservers, soa: settings.soa, rrsets: wanted.map(toProviderRRset) });
    if (!created.created && created.zone.account !== item.tenantId) throw new ForeignZoneError(foreignZoneMessage(created.zone.account));
    serial = created.zone.serial;
    // Created meanwhile (by a PROVISION_DNS retry, say): bring it in line like any existing zone.
    const left = created.created ? [] : diffRRsets(wanted, created.zone.rrsets);
    if (left.length > 0) {
      await deps.dns.patchRRsets(zone.name, repairChanges(left));
      serial = (await deps.dns.getZone(zone.name)).serial;
    }
  } else {
    await deps.dns.patchRRsets(zone.name, repairChanges(drift));
    serial = (await deps.dns.getZone(zone.name)).serial;
  }
  await withTenant(deps.db, item.tenantId, (tx) => tx.update(dnsZones).set({ serial }).where(eq(dnsZones.id, zone.id)));
}

export async function syncDns(deps: DnsSyncDeps, options: DnsSyncOptions): Promise<DnsSyncReport> {
  let zoneName: string | undefined;
  if (options.zone !== undefined) {
    const check = normalizeDomain(options.zone);
    if (!check.ok) throw new AppError('VALIDATION_FAILED', `--zone: the zone name ${check.reason}`);
    zoneName = check.name;
  }
  const zones = await zonesToCheck(deps.db, zoneName);
  if (zoneName !== undefined && zones.length === 0) throw new AppError('NOT_FOUND', `no ACTIVE zone named ${zoneName} in the database`);

  const results: ZoneSyncResult[] = [];
  let remaining = 0;
  for (const [index, item] of zones.entries()) {
    const { zone } = item;
    const wanted = wantedZone(zone.name, item.records, deps.settings.nameservers, deps.settings.soa.ttl);
    const actual = await deps.dns.findZone(zone.name);
    const base = { tenantId: item.tenantId, tenantSlug: item.tenantSlug, zoneId: zone.id, zone: zone.name };
    if (actual && actual.account !== item.tenantId) {
      results.push({ ...base, missingZone: false, drift: [], fixed: false, error: foreignZoneMessage(actual.account) });
      remaining += 1;
    } else {
      const missingZone = actual === null;
      const drift = actual ? diffRRsets(wanted, actual.rrsets) : wanted.map((rrset): RRsetDrift => ({ kind: 'missing', name: rrset.name, type: rrset.type, expected: { ttl: rrset.ttl, contents: rrset.contents } }));
      if (drift.length > 0) {
        let fixed = false;
        let error: string | undefined;
        if (options.fix) {
          try {
            await repair(deps, item, wanted, drift, missingZone);
            fixed = true;
          } catch (failure) {
            // A refused repair is this zone's problem; an unreachable PowerDNS stops the whole run.
            if (failure instanceof ForeignZoneError) error = failure.message;
            else if (failure instanceof DnsRejectedError) error = `PowerDNS refused the repair: ${failure.upstreamMessage}`;
            else throw failure;
          }
        }
        if (!fixed) remaining += 1;
        results.push({ ...base, missingZone, drift, fixed, ...(error ? { error } : {}) });
      }
    }
    options.onProgress?.(index + 1, zones.length);
  }
  return { checked: zones.length, results, remaining };
}

const list = (contents: readonly string[]) => (contents.length === 0 ? '(none)' : contents.join(' | '));

/** Human-readable lines for one zone's result. */
export function formatZoneResult(result: ZoneSyncResult): string[] {
  const what = result.missingZone ? `zone missing in PowerDNS (${result.drift.length} RRsets to create)` : `${result.drift.length} RRset(s) differ`;
  const lines = [`${result.zone} (tenant ${result.tenantSlug}): ${result.error && result.drift.length === 0 ? 'not checked' : what}${result.fixed ? ': FIXED' : ''}`];
  if (!result.missingZone) {
    for (const item of result.drift) {
      const where = `${item.name} ${item.type}`;
      if (item.kind === 'missing' && item.expected) lines.push(`  missing    ${where}: ttl ${item.expected.ttl} ${list(item.expected.contents)}`);
      else if (item.kind === 'extra' && item.actual) lines.push(`  extra      ${where}: ttl ${item.actual.ttl} ${list(item.actual.contents)}`);
      else if (item.expected && item.actual) {
        lines.push(`  different  ${where}: database ttl ${item.expected.ttl} ${list(item.expected.contents)}; PowerDNS ttl ${item.actual.ttl} ${list(item.actual.contents)}`);
      }
    }
  }
  if (result.error) lines.push(`  ${result.error}`);
  return lines;
}

export function formatSummary(report: DnsSyncReport, fix: boolean): string {
  const drifted = report.results.length;
  const fixed = report.results.filter((result) => result.fixed).length;
  return `dns sync: ${report.checked} zone(s) checked, ${drifted} out of sync${fix ? `, ${fixed} fixed` : ''}, ${report.remaining} remaining`;
}

/** Zones below this count get no progress output: the run is over before it would help. */
export const PROGRESS_MIN_ZONES = 20;
const BAR_WIDTH = 30;

/**
 * Progress on a stream: a bar redrawn in place (`\r[####      ] 120/500 zones`) on a terminal,
 * otherwise a plain line at every tenth, for logs and CI.
 */
export function progressReporter(stream: { isTTY?: boolean; write(text: string): unknown }): (done: number, total: number) => void {
  let lastTenth = -1;
  return (done, total) => {
    if (total < PROGRESS_MIN_ZONES) return;
    if (stream.isTTY) {
      const filled = Math.round((done / total) * BAR_WIDTH);
      stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${done}/${total} zones${done === total ? '\n' : ''}`);
      return;
    }
    const tenth = Math.floor((done * 10) / total);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      stream.write(`dns sync: ${done}/${total} zones\n`);
    }
  };
}

/**
 * The CLI command: prints each out-of-sync zone and a summary to `out`, progress to `progress`.
 * Returns the exit code: 1 while drift remains (so cron and CI notice), else 0.
 */
export async function runDnsSync(
  deps: DnsSyncDeps,
  options: { zone?: string | undefined; fix: boolean },
  io: { out: (line: string) => void; progress: { isTTY?: boolean; write(text: string): unknown } },
): Promise<number> {
  let report: DnsSyncReport;
  try {
    report = await syncDns(deps, { zone: options.zone, fix: options.fix, onProgress: progressReporter(io.progress) });
  } catch (error) {
    if (error instanceof DnsError) throw new AppError('DEPENDENCY_UNAVAILABLE', `dns sync stopped: ${error.message}`, { cause: error });
    throw error;
  }
  for (const result of report.results) for (const line of formatZoneResult(result)) io.out(line);
  io.out(formatSummary(report, options.fix));
  return report.remaining > 0 ? 1 : 0;
}
