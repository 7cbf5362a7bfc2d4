import { asc, eq } from 'drizzle-orm';
import { afterAll } from 'vitest';
import { loadEnv } from '../../src/config/env.js';
import { dnsRecords, dnsZones } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { powerDns, provisionTestZone, ZoneCleanup } from '../helpers/dns.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

// The zones live in the shared PowerDNS too: the suite's file deletes them when it ends (a hook
// registered while the suite imports its fixtures).
const cleanup = new ZoneCleanup();
afterAll(() => cleanup.deleteAll(loadEnv()));

/** A provisioned zone of tenant A, in the database and in PowerDNS. */
async function createZone({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const { zone } = await provisionTestZone(loadEnv(), db, tenant, cleanup);
  return { id: zone.zoneId };
}

/** The www A record of a provisioned zone of tenant A (and, for the snapshot, the zone's id). */
async function createRecord({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const { zone, order } = await provisionTestZone(loadEnv(), db, tenant, cleanup);
  const [www] = await withTenant(db, tenant.id, (tx) => tx.select().from(dnsRecords).where(eq(dnsRecords.name, `www.${order.domain.name}`)));
  if (!www) throw new Error(`no www record in ${zone.zone}`);
  return { id: www.id, zoneId: zone.zoneId };
}

/** The zone row, its records (read as tenant A) and what PowerDNS serves for it. */
async function zoneSnapshot({ db, tenant }: CrossTenantContext, zoneId: string) {
  const state = await withTenant(db, tenant.id, async (tx) => ({
    zone: await tx.select().from(dnsZones).where(eq(dnsZones.id, zoneId)),
    records: await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zoneId)).orderBy(asc(dnsRecords.id)),
  }));
  const name = state.zone[0]?.name;
  return { ...state, powerDns: name ? await powerDns(loadEnv()).getZone(name) : null };
}

function byZone(context: CrossTenantContext, { id }: Record<string, string>) {
  return zoneSnapshot(context, id!);
}

/** The zone of the record: after the control call deletes the record, the zone still shows it gone. */
function byRecord(context: CrossTenantContext, { zoneId }: Record<string, string>) {
  return zoneSnapshot(context, zoneId!);
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/dns/zones/:id', create: createZone, snapshot: byZone },
  { route: 'POST /api/dns/zones/:id/records', create: createZone, body: { name: 'cross-tenant', type: 'A', content: '192.0.2.99' }, snapshot: byZone },
  { route: 'PATCH /api/dns/records/:id', create: createRecord, body: { content: '192.0.2.98' }, snapshot: byRecord },
  { route: 'DELETE /api/dns/records/:id', create: createRecord, snapshot: byRecord },
];
