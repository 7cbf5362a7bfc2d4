import { and, asc, eq, ne, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { dnsRecords, dnsZones, type DnsRecord, type DnsZone } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { DnsError, DnsNotFoundError, DnsRejectedError, type DnsPort } from '../../providers/dns.port.js';
import { AppError, conflict, notFound, validationFailed, type FieldError } from '../../shared/errors/app-error.js';
import { assertHostable } from '../domains/hosted-names.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { recordConflicts, validateRecord, type DnsRecordData, type RecordIssue } from './dns-records.js';
import { changeFor, rrsetKey, rrsetsOf } from './dns-rrsets.js';
import type { DnsSettings } from './dns-template.js';
import { listPage } from '../list-page.js';
import type {
  CreateRecordBody,
  DnsRecordView,
  DnsZoneDetailView,
  DnsZonesPage,
  DnsZoneView,
  ListZonesQuery,
  UpdateRecordBody,
} from './dns.types.js';

/**
 * DNS zones and records of a tenant. A record write changes PowerDNS and the database together:
 * inside the database transaction (zone row locked, so writes to one zone are serialised), the
 * rows are written and audited, the RRsets they touch are recomputed from the rows (all records
 * of that name and type) and PATCHed to PowerDNS, and only then does the transaction commit. When
 * PowerDNS refuses or cannot be reached, the transaction rolls back: the database is unchanged
 * and the caller is told why (422 with PowerDNS's message, or 503).
 */
export interface DnsDeps {
  db: Database;
  dns: DnsPort;
  settings: DnsSettings;
  logger: Logger;
  /** The platform's own host names from the configuration (domains/hosted-names.ts). */
  platformNames: readonly string[];
}

/** Who acts, in which tenant (from the token, never from the body). */
export interface DnsCaller {
  tenantId: string;
  actor: AuditActor;
}

export function zoneView(zone: DnsZone): DnsZoneView {
  return { id: zone.id, name: zone.name, status: zone.status, domainId: zone.domainId, serial: zone.serial, createdAt: zone.createdAt, updatedAt: zone.updatedAt };
}

export function recordView(record: DnsRecord): DnsRecordView {
  return {
    id: record.id,
    zoneId: record.zoneId,
    name: record.name,
    type: record.type,
    content: record.content,
    ttl: record.ttl,
    priority: record.priority,
    managed: record.managed,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

export const recordData = (row: DnsRecord): DnsRecordData => ({ name: row.name, type: row.type, content: row.content, ttl: row.ttl, priority: row.priority });

function recordAuditOf(row: DnsRecord): Record<string, unknown> {
  return { id: row.id, zoneId: row.zoneId, name: row.name, type: row.type, content: row.content, ttl: row.ttl, priority: row.priority, managed: row.managed };
}

/** PowerDNS's answer as the API's: refused → 422 with its reason, anything else → 503. */
export function dnsFailure(error: unknown, zone: string): unknown {
  if (error instanceof DnsRejectedError) {
    return new AppError('UPSTREAM_REJECTED', `PowerDNS rejected the change, so nothing was changed: ${error.upstreamMessage}`, {
      details: { upstream: 'powerdns', upstreamMessage: error.upstreamMessage },
      cause: error,
    });
  }
  if (error instanceof DnsNotFoundError) {
    return new AppError('UPSTREAM_REJECTED', `PowerDNS has no zone ${zone}, so nothing was changed; \`mpanel dns sync --fix\` recreates it from the database`, {
      details: { upstream: 'powerdns' },
      cause: error,
    });
  }
  if (error instanceof DnsError) {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'PowerDNS is unavailable, so nothing was changed; retry later', { retryAfterSeconds: 5, cause: error });
  }
  return error;
}

const asFields = (issues: readonly RecordIssue[]): FieldError[] => issues.map((issue) => ({ field: `body/${issue.field}`, message: issue.message }));

export async function listZones(db: Database, tenantId: string, query: ListZonesQuery): Promise<DnsZonesPage> {
  return listPage(db, tenantId, query, {
    table: dnsZones,
    filters: [query.status ? eq(dnsZones.status, query.status) : undefined],
    rows: (tx, q) => tx.select().from(dnsZones).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: zoneView,
  });
}

export async function getZone(deps: Pick<DnsDeps, 'db' | 'settings'>, tenantId: string, id: string): Promise<DnsZoneDetailView> {
  return withTenant(deps.db, tenantId, async (tx) => {
    const [zone] = await tx
      .select()
      .from(dnsZones)
      .where(and(eq(dnsZones.tenantId, tenantId), eq(dnsZones.id, id)));
    if (!zone) throw notFound('DNS zone');
    const records = await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zone.id)).orderBy(asc(sql`${dnsRecords.name} collate "C"`), asc(dnsRecords.type), asc(sql`${dnsRecords.content} collate "C"`));
    return { ...zoneView(zone), nameservers: [...deps.settings.nameservers], records: records.map(recordView) };
  });
}

/** The zone, locked for the transaction; record writes need it ACTIVE (provisioned, not deleted). */
async function lockWritableZone(tx: Tx, tenantId: string, zoneId: string): Promise<DnsZone> {
  const [zone] = await tx
    .select()
    .from(dnsZones)
    .where(and(eq(dnsZones.tenantId, tenantId), eq(dnsZones.id, zoneId)))
    .for('update');
  if (!zone) throw notFound('DNS zone');
  if (zone.status === 'PENDING') throw conflict(`The zone ${zone.name} is still being provisioned; its records can change once it is ACTIVE`);
  if (zone.status === 'DELETED') throw conflict(`The zone ${zone.name} is deleted`);
  return zone;
}

/** The record and its zone (locked); another tenant's record is not found. */
async function lockRecord(tx: Tx, tenantId: string, recordId: string): Promise<{ zone: DnsZone; record: DnsRecord }> {
  const [found] = await tx
    .select({ zoneId: dnsRecords.zoneId })
    .from(dnsRecords)
    .where(and(eq(dnsRecords.tenantId, tenantId), eq(dnsRecords.id, recordId)));
  if (!found) throw notFound('DNS record');
  // Zone first, then the record: every write locks in this order, so two writes cannot deadlock.
  const zone = await lockWritableZone(tx, tenantId, found.zoneId);
  const [record] = await tx.select().from(dnsRecords).where(eq(dnsRecords.id, recordId)).for('update');
  if (!record) throw notFound('DNS record');
  return { zone, record };
}

/** The TTL the other records of the RRset have, if any (they share one). */
const rrsetTtl = (others: readonly DnsRecord[], name: string, type: string): number | undefined =>
  others.filter((other) => other.name === name && other.type === type).reduce<number | undefined>((min, other) => (min === undefined ? other.ttl : Math.min(min, other.ttl)), undefined);

/**
 * Gives every other record of the record's RRset the record's TTL (PowerDNS has one TTL per
 * RRset); returns the ids it changed.
 */
async function alignRRsetTtl(tx: Tx, zoneId: string, record: DnsRecordData, exceptId: string): Promise<string[]> {
  const changed = await tx
    .update(dnsRecords)
    .set({ ttl: record.ttl })
    .where(and(eq(dnsRecords.zoneId, zoneId), eq(dnsRecords.name, record.name), eq(dnsRecords.type, record.type), ne(dnsRecords.ttl, record.ttl), ne(dnsRecords.id, exceptId)))
    .returning({ id: dnsRecords.id });
  return changed.map((row) => row.id);
}

/**
 * Recomputes the given RRsets from the rows (as this transaction sees them) and writes them to
 * PowerDNS in one PATCH; then records the new SOA serial. Throws (so the caller's transaction
 * rolls back) when PowerDNS refuses or is unreachable.
 */
async function pushRRsets(tx: Tx, deps: Pick<DnsDeps, 'dns' | 'logger'>, zone: DnsZone, keys: readonly Pick<DnsRecordData, 'name' | 'type'>[]): Promise<void> {
  const unique = [...new Map(keys.map((key) => [rrsetKey(key.name, key.type), key])).values()];
  const rows = await tx
    .select()
    .from(dnsRecords)
    .where(and(eq(dnsRecords.zoneId, zone.id), or(...unique.map((key) => and(eq(dnsRecords.name, key.name), eq(dnsRecords.type, key.type))))));
  const wanted = new Map(rrsetsOf(rows.map(recordData)).map((rrset) => [rrsetKey(rrset.name, rrset.type), rrset]));
  const changes = unique.map((key) => changeFor(key.name, key.type, wanted.get(rrsetKey(key.name, key.type))));
  try {
    await deps.dns.patchRRsets(zone.name, changes);
  } catch (error) {
    throw dnsFailure(error, zone.name);
  }
  // The change is in PowerDNS now: failing to read the serial must not undo it in the database.
  try {
    const { serial } = await deps.dns.getZone(zone.name);
    if (serial !== zone.serial) await tx.update(dnsZones).set({ serial }).where(eq(dnsZones.id, zone.id));
  } catch (error) {
    deps.logger.warn({ err: error, zone: zone.name }, 'could not read the zone serial back from PowerDNS after a change; dns sync will');
  }
}

/**
 * The record as it will be stored: valid for the zone (400 naming the field otherwise), with its
 * TTL, and in no conflict with the zone's other records (409). A record joining an RRset (a new
 * one, or one moved to another name) takes that RRset's TTL unless a TTL is given; `current` is
 * the record being changed, which keeps its own TTL on its own name.
 */
function checkRecord(
  deps: DnsDeps,
  zone: DnsZone,
  others: readonly DnsRecord[],
  input: Parameters<typeof validateRecord>[0],
  givenTtl: number | undefined,
  current?: Pick<DnsRecord, 'name' | 'ttl'>,
): DnsRecordData {
  const checked = validateRecord(input, zone.name, deps.settings.defaultTtl);
  if (!checked.ok) throw validationFailed(asFields(checked.issues), 'The record is not valid');
  const { name, type } = checked.value;
  const rrsetTtlNow = current && current.name === name ? current.ttl : rrsetTtl(others, name, type);
  const record = { ...checked.value, ttl: givenTtl ?? rrsetTtlNow ?? current?.ttl ?? deps.settings.defaultTtl };
  const conflicts = recordConflicts(record, others.map(recordData));
  if (conflicts.length > 0) throw conflict('The record conflicts with the records of the zone', asFields(conflicts));
  return record;
}

/** After a row is written: its RRset's TTL aligned, the audit row, and PowerDNS updated (or the transaction undone). */
async function commitRecordChange(
  tx: Tx,
  deps: DnsDeps,
  caller: DnsCaller,
  zone: DnsZone,
  change: { action: 'dns_record.created' | 'dns_record.updated'; row: DnsRecord; record: DnsRecordData; before?: DnsRecord },
): Promise<void> {
  const { row, record, before } = change;
  const ttlChanged = await alignRRsetTtl(tx, zone.id, record, row.id);
  await recordAudit(tx, {
    tenantId: caller.tenantId,
    actor: caller.actor,
    action: change.action,
    targetType: 'dns_record',
    targetId: row.id,
    before: before ? recordAuditOf(before) : null,
    after: recordAuditOf(row),
    metadata: { zone: zone.name, ...(ttlChanged.length > 0 ? { rrsetTtlAlsoSetOn: ttlChanged } : {}) },
  });
  await pushRRsets(tx, deps, zone, before ? [before, record] : [record]);
}

export async function createRecord(deps: DnsDeps, caller: DnsCaller, zoneId: string, body: CreateRecordBody): Promise<DnsRecordView> {
  return withTenant(deps.db, caller.tenantId, async (tx) => {
    const zone = await lockWritableZone(tx, caller.tenantId, zoneId);
    const existing = await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zone.id));
    const record = checkRecord(deps, zone, existing, body, body.ttl);
    await assertHostable(tx, { tenantId: caller.tenantId, name: record.name, platformNames: deps.platformNames, field: 'body/name' });
    const [row] = await tx
      .insert(dnsRecords)
      .values({ tenantId: caller.tenantId, zoneId: zone.id, name: record.name, type: record.type, content: record.content, ttl: record.ttl, priority: record.priority, managed: false })
      .returning();
    if (!row) throw new Error('insert into dns_records returned no row');
    await commitRecordChange(tx, deps, caller, zone, { action: 'dns_record.created', row, record });
    return recordView(row);
  });
}

export async function updateRecord(deps: DnsDeps, caller: DnsCaller, recordId: string, body: UpdateRecordBody): Promise<DnsRecordView> {
  return withTenant(deps.db, caller.tenantId, async (tx) => {
    const { zone, record: before } = await lockRecord(tx, caller.tenantId, recordId);
    const others = (await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zone.id))).filter((row) => row.id !== before.id);
    const input = {
      name: body.name ?? before.name,
      type: before.type,
      content: body.content ?? before.content,
      ttl: body.ttl ?? before.ttl,
      priority: body.priority !== undefined ? body.priority : before.priority,
    };
    const record = checkRecord(deps, zone, others, input, body.ttl, before);
    if (record.name !== before.name) await assertHostable(tx, { tenantId: caller.tenantId, name: record.name, platformNames: deps.platformNames, field: 'body/name' });
    // Edited by hand, the record is no longer the template's.
    const [after] = await tx
      .update(dnsRecords)
      .set({ name: record.name, content: record.content, ttl: record.ttl, priority: record.priority, managed: false })
      .where(eq(dnsRecords.id, before.id))
      .returning();
    if (!after) throw notFound('DNS record');
    await commitRecordChange(tx, deps, caller, zone, { action: 'dns_record.updated', row: after, record, before });
    return recordView(after);
  });
}

export async function deleteRecord(deps: DnsDeps, caller: DnsCaller, recordId: string): Promise<void> {
  await withTenant(deps.db, caller.tenantId, async (tx) => {
    const { zone, record } = await lockRecord(tx, caller.tenantId, recordId);
    await tx.delete(dnsRecords).where(eq(dnsRecords.id, record.id));
    await recordAudit(tx, {
      tenantId: caller.tenantId,
      actor: caller.actor,
      action: 'dns_record.deleted',
      targetType: 'dns_record',
      targetId: record.id,
      before: recordAuditOf(record),
      metadata: { zone: zone.name },
    });
    await pushRRsets(tx, deps, zone, [record]);
  });
}

/**
 * A record another feature owns (the mail step's DKIM key): the RRset of (name, type) in the zone
 * becomes exactly this one record, in the rows (not `managed`, so the zone template never removes
 * it) and in PowerDNS, audited, in the caller's transaction. Writes nothing when it already is.
 * Returns false when the zone has no ACTIVE row (provisioned by PROVISION_DNS first).
 */
export async function putFeatureRecord(
  tx: Tx,
  deps: Pick<DnsDeps, 'dns' | 'logger' | 'settings'>,
  caller: DnsCaller,
  zoneName: string,
  input: { name: string; type: 'TXT'; content: string },
): Promise<{ zoneFound: boolean; changed: boolean }> {
  const [zone] = await tx
    .select()
    .from(dnsZones)
    .where(and(eq(dnsZones.tenantId, caller.tenantId), eq(dnsZones.name, zoneName)))
    .for('update');
  if (!zone || zone.status !== 'ACTIVE') return { zoneFound: false, changed: false };
  const checked = validateRecord(input, zone.name, deps.settings.defaultTtl);
  if (!checked.ok) throw validationFailed(asFields(checked.issues), 'The record is not valid');
  const record = checked.value;
  const existing = await tx
    .select()
    .from(dnsRecords)
    .where(and(eq(dnsRecords.zoneId, zone.id), eq(dnsRecords.name, record.name), eq(dnsRecords.type, record.type)));
  if (existing.length === 1 && existing[0]!.content === record.content) return { zoneFound: true, changed: false };
  if (existing.length > 0) await tx.delete(dnsRecords).where(and(eq(dnsRecords.zoneId, zone.id), eq(dnsRecords.name, record.name), eq(dnsRecords.type, record.type)));
  const [row] = await tx
    .insert(dnsRecords)
    .values({ tenantId: caller.tenantId, zoneId: zone.id, name: record.name, type: record.type, content: record.content, ttl: record.ttl, priority: record.priority, managed: false })
    .returning();
  if (!row) throw new Error('insert into dns_records returned no row');
  await recordAudit(tx, {
    tenantId: caller.tenantId,
    actor: caller.actor,
    action: existing.length > 0 ? 'dns_record.updated' : 'dns_record.created',
    targetType: 'dns_record',
    targetId: row.id,
    before: existing[0] ? recordAuditOf(existing[0]) : null,
    after: recordAuditOf(row),
    metadata: { zone: zone.name },
  });
  await pushRRsets(tx, deps, zone, [record]);
  return { zoneFound: true, changed: true };
}
