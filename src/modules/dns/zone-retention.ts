import { and, eq, isNotNull, lte, ne } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { dnsZones, tenants } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import type { DnsPort } from '../../providers/dns.port.js';
import { releaseHostedName } from '../domains/hosted-names.js';
import { recordAudit, systemActor } from '../audit/audit.service.js';

/**
 * A terminated subscription's zone stays answerable for the retention period (mail forwarding, a
 * change of mind), then the retention sweep below deletes it from PowerDNS. Setting the date once
 * keeps a re-run of the termination from pushing it back.
 */
export async function scheduleZoneDeletion(tx: Tx, domainId: string, deleteAfter: Date): Promise<void> {
  const [zone] = await tx.select().from(dnsZones).where(eq(dnsZones.domainId, domainId));
  if (zone && zone.status !== 'DELETED' && !zone.deleteAfter) await tx.update(dnsZones).set({ deleteAfter }).where(eq(dnsZones.id, zone.id));
}

/**
 * Deletes from PowerDNS the zones of terminated subscriptions whose retention has passed
 * (`dns_zones.delete_after`), then marks them DELETED. Runs as a repeatable maintenance task.
 * Tenants are walked one by one (the tenants table has no row-level security; dns_zones has);
 * a zone PowerDNS no longer has counts as deleted, so a re-run after a crash is harmless.
 */
export async function deleteExpiredZones(db: Database, dns: DnsPort, logger: Logger, now = new Date()): Promise<number> {
  let deleted = 0;
  for (const tenant of await db.select({ id: tenants.id }).from(tenants)) {
    const due = await withTenant(db, tenant.id, (tx) =>
      tx
        .select()
        .from(dnsZones)
        .where(and(isNotNull(dnsZones.deleteAfter), lte(dnsZones.deleteAfter, now), ne(dnsZones.status, 'DELETED'))),
    );
    for (const zone of due) {
      await dns.deleteZone(zone.name);
      await withTenant(db, tenant.id, async (tx) => {
        await tx.update(dnsZones).set({ status: 'DELETED', deletedAt: now }).where(eq(dnsZones.id, zone.id));
        // The name is free for any tenant again once its zone is gone.
        if (zone.domainId) await releaseHostedName(tx, zone.domainId);
        await recordAudit(tx, {
          tenantId: tenant.id,
          actor: systemActor,
          action: 'dns_zone.deleted',
          targetType: 'dns_zone',
          targetId: zone.id,
          before: { name: zone.name, status: zone.status },
          after: { name: zone.name, status: 'DELETED' },
          metadata: { deleteAfter: zone.deleteAfter?.toISOString() },
        });
      });
      logger.info({ zone: zone.name, tenant: tenant.id }, `DNS zone ${zone.name} deleted after its retention period`);
      deleted += 1;
    }
  }
  return deleted;
}
