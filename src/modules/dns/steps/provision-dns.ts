import { and, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../../../config/database.js';
import { dnsRecords, dnsZones, servers, type DnsRecord, type DnsZone, type ServerRole } from '../../../db/schema/index.js';
import { withTenant, type Tx } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import { DnsRejectedError, type DnsPort } from '../../../providers/dns.port.js';
import { recordAudit, systemActor } from '../../audit/audit.service.js';
import { requireStepDomain } from '../../domains/domains.service.js';
import { defineStep } from '../../step-services.js';
import type { DnsRecordData } from '../dns-records.js';
import { diffRRsets, repairChanges, rrsetKey, toProviderRRset, wantedZone } from '../dns-rrsets.js';
import { defaultRecords, dnsSettings, type DnsSettings, type ServerAddresses } from '../dns-template.js';
import { recordData } from '../dns.service.js';

/**
 * PROVISION_DNS: the order's domain gets its zone in PowerDNS (Native, SOA and NS from the
 * configuration, owned by the tenant through PowerDNS's `account`) with the default records
 * (dns-template.ts), and the same zone and records in dns_zones / dns_records, ACTIVE with the
 * PowerDNS serial.
 *
 * Idempotent, check then act, all in one database transaction:
 * 1. upsert the zone row and the template's rows (`managed`): an unchanged row keeps its id and is
 *    not rewritten; RRsets a user has taken over (edited records) are left to the user;
 * 2. create the zone in PowerDNS with every RRset in the same request, so it never exists half
 *    made. If it exists already (409, or a 500 after which it exists) and is this tenant's, the
 *    difference from the database is PATCHed; when nothing differs, nothing is written, so a second
 *    run leaves PowerDNS (serial included) and the rows exactly as they were.
 * A rejection by PowerDNS (bad template settings, a zone of another account) fails the step at
 * once; an unreachable PowerDNS throws, and the pipeline retries with backoff.
 */

export const provisionDnsPayload = z.object({
  subscriptionId: z.uuid(),
  domainId: z.uuid(),
  domain: z.string(),
  /** The web server chosen for the site; null/absent: the configured default address. */
  serverId: z.uuid().nullish(),
  /** The mail server of the mailboxes; null/absent: the configured default address. */
  mailServerId: z.uuid().nullish(),
});
export type ProvisionDnsPayload = z.output<typeof provisionDnsPayload>;

export interface ProvisionDnsDeps {
  db: Database;
  dns: DnsPort;
  settings: DnsSettings;
  logger: Logger;
}

export interface ProvisionDnsResult extends Record<string, unknown> {
  zoneId: string;
  zone: string;
  serial: number;
  /** true when this run created the zone in PowerDNS. */
  created: boolean;
  /** RRsets this run had to write to an existing zone (0 on a repeat run). */
  repaired: number;
  records: number;
}

async function serverAddresses(tx: Tx, id: string, role: ServerRole): Promise<ServerAddresses> {
  const [server] = await tx.select({ hostname: servers.hostname, ipv4: servers.ipv4, ipv6: servers.ipv6 }).from(servers).where(eq(servers.id, id));
  if (!server) throw new PermanentStepError(`the ${role} server ${id} of this order does not exist`);
  if (!server.ipv4 && !server.ipv6) throw new PermanentStepError(`the ${role} server ${server.hostname} has no IPv4 or IPv6 address for the DNS records`);
  return { ipv4: server.ipv4, ipv6: server.ipv6 };
}

/** The zone row, created PENDING if absent, locked for this transaction. */
async function upsertZone(tx: Tx, tenantId: string, domainId: string, name: string): Promise<DnsZone> {
  await tx.insert(dnsZones).values({ tenantId, domainId, name, status: 'PENDING' }).onConflictDoNothing({ target: [dnsZones.tenantId, dnsZones.name] });
  const [zone] = await tx.select().from(dnsZones).where(eq(dnsZones.name, name)).for('update');
  if (!zone) throw new Error(`dns_zones row for ${name} is missing after its upsert`);
  return zone;
}

/**
 * Makes the template's rows exist (managed = true) without touching rows that already match, so a
 * repeat run changes nothing. Per RRset: if a user record holds that name and type (or a user CNAME
 * holds the name), the RRset is the user's and the template leaves it; otherwise the managed rows
 * become exactly the template's. Managed rows of RRsets the template no longer has are removed.
 * Returns how many rows it inserted, updated or deleted.
 */
async function upsertTemplate(tx: Tx, tenantId: string, zoneId: string, template: readonly DnsRecordData[]): Promise<number> {
  const existing = await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zoneId));
  const userOwned = (record: DnsRecordData) =>
    existing.some((row) => !row.managed && row.name === record.name && (row.type === record.type || row.type === 'CNAME'));
  const wanted = template.filter((record) => !userOwned(record));
  const wantedKeys = new Set(wanted.map((record) => rrsetKey(record.name, record.type)));

  let changes = 0;
  const keep = new Set<string>();
  for (const record of wanted) {
    const match = existing.find(
      (row) => row.managed && !keep.has(row.id) && row.name === record.name && row.type === record.type && row.content === record.content && row.priority === record.priority,
    );
    if (match) {
      keep.add(match.id);
      if (match.ttl !== record.ttl) {
        await tx.update(dnsRecords).set({ ttl: record.ttl }).where(eq(dnsRecords.id, match.id));
        changes += 1;
      }
      continue;
    }
    await tx.insert(dnsRecords).values({ tenantId, zoneId, ...record, managed: true });
    changes += 1;
  }
  const stale = existing.filter(
    (row: DnsRecord) => row.managed && !keep.has(row.id) && (wantedKeys.has(rrsetKey(row.name, row.type)) || !template.some((t) => t.name === row.name && t.type === row.type)),
  );
  if (stale.length > 0) {
    await tx.delete(dnsRecords).where(and(eq(dnsRecords.zoneId, zoneId), inArray(dnsRecords.id, stale.map((row) => row.id))));
    changes += stale.length;
  }
  return changes;
}

/** The step's work, with its dependencies given (the handler takes them from the step services). */
export async function provisionZone(deps: ProvisionDnsDeps, tenantId: string, payload: ProvisionDnsPayload): Promise<ProvisionDnsResult> {
  const name = payload.domain;
  const { settings } = deps;

  return withTenant(deps.db, tenantId, async (tx) => {
    const domain = await requireStepDomain(tx, payload.domainId, name);
    const web = payload.serverId ? await serverAddresses(tx, payload.serverId, 'WEB') : null;
    const mail = payload.mailServerId ? await serverAddresses(tx, payload.mailServerId, 'MAIL') : null;
    const template = defaultRecords(name, { web, mail }, settings);
    if (!template.ok) throw new PermanentStepError(`the default DNS records are not valid (check the DNS_* settings): ${template.problems.join('; ')}`);

    const zone = await upsertZone(tx, tenantId, domain.id, name);
    const rowChanges = await upsertTemplate(tx, tenantId, zone.id, template.records);
    const rows = await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zone.id));
    const wanted = wantedZone(name, rows.map(recordData), settings.nameservers, settings.soa.ttl);

    let created: boolean;
    let serial: number;
    let repaired = 0;
    try {
      const result = await deps.dns.createZone({ name, account: tenantId, nameservers: settings.nameservers, soa: settings.soa, rrsets: wanted.map(toProviderRRset) });
      if (!result.created && result.zone.account !== tenantId) {
        // The job's lastError reaches the tenant: it never carries the other account (a tenant id).
        deps.logger.warn({ zone: name, account: result.zone.account }, 'PowerDNS holds the zone for another account');
        throw new PermanentStepError(`the zone ${name} already exists in PowerDNS and is not this tenant's; the platform operator must resolve its ownership`);
      }
      created = result.created;
      serial = result.zone.serial;
      const drift = diffRRsets(wanted, result.zone.rrsets);
      if (drift.length > 0) {
        await deps.dns.patchRRsets(name, repairChanges(drift));
        serial = (await deps.dns.getZone(name)).serial;
        repaired = drift.length;
      }
    } catch (error) {
      if (error instanceof DnsRejectedError) throw new PermanentStepError(`PowerDNS rejected the zone ${name}: ${error.upstreamMessage}`);
      throw error;
    }

    const becameActive = zone.status !== 'ACTIVE';
    if (becameActive || zone.serial !== serial || zone.domainId !== domain.id || zone.deletedAt !== null) {
      await tx.update(dnsZones).set({ status: 'ACTIVE', serial, domainId: domain.id, deletedAt: null }).where(eq(dnsZones.id, zone.id));
    }
    if (becameActive || rowChanges > 0 || repaired > 0) {
      await recordAudit(tx, {
        tenantId,
        actor: systemActor,
        action: 'dns_zone.provisioned',
        targetType: 'dns_zone',
        targetId: zone.id,
        before: becameActive ? { status: zone.status } : null,
        after: { status: 'ACTIVE', name, serial, records: rows.length },
        metadata: { subscriptionId: payload.subscriptionId, createdInPowerDns: created, rowChanges, repairedRRsets: repaired },
      });
    }
    deps.logger.info({ zone: name, serial, created, repaired }, `DNS zone ${name} is ACTIVE (serial ${serial})`);
    return { zoneId: zone.id, zone: name, serial, created, repaired, records: rows.length };
  });
}

export const provisionDns = defineStep({
  type: 'PROVISION_DNS',
  payload: provisionDnsPayload,
  async handle(payload, { db, services, logger, job }) {
    return provisionZone({ db, dns: services.dns, settings: dnsSettings(services.env), logger }, job.tenantId, payload);
  },
});
