import path from 'node:path';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { backups, dnsZones, domains, servers, websites, type Server, type Website, type WebsiteStatus } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { recordAudit, systemActor } from '../../modules/audit/audit.service.js';
import { hostingForServer, hostingSettings } from '../../providers/nginx/hosting-drivers.js';
import type { NginxHosting } from '../../providers/nginx/nginx-hosting.js';
import { PermanentStepError } from '../pipeline.js';
import { defineStep, type StepContext } from '../registry.js';
import { asStepError } from './provision-hosting.js';

/**
 * The subscription lifecycle on the web server: SUSPEND_SITE (the vhost answers a "suspended"
 * page, files kept), UNSUSPEND_SITE (back to the site) and TERMINATE_SITE (vhost removed, the
 * site's directory archived to BACKUPS_DIR then removed, the DNS zone scheduled for deletion after
 * DNS_ZONE_RETENTION). Each is idempotent: the driver leaves what is already in the wanted state,
 * and the rows are only written when they change. The pipeline moves the subscription to its new
 * status when the step succeeds (pipeline.ts, lifecycleTransitions).
 */

export const lifecyclePayload = z.looseObject({
  subscriptionId: z.uuid(),
  /** null for a subscription without a site (DNS or e-mail only): only the rows change. */
  websiteId: z.uuid().nullable(),
});
export type LifecyclePayload = z.output<typeof lifecyclePayload>;

interface Site {
  website: Website;
  server: Server;
  domain: string;
}

async function loadSite(context: StepContext, websiteId: string | null): Promise<Site | undefined> {
  if (!websiteId) return undefined;
  return withTenant(context.db, context.job.tenantId, async (tx) => {
    const [row] = await tx
      .select({ website: websites, server: servers, domain: domains.name })
      .from(websites)
      .innerJoin(servers, eq(servers.id, websites.serverId))
      .innerJoin(domains, eq(domains.id, websites.domainId))
      .where(eq(websites.id, websiteId));
    if (!row) throw new PermanentStepError(`website ${websiteId} does not exist`);
    return row;
  });
}

async function onServer<T>(site: Site, context: StepContext, act: (hosting: NginxHosting) => Promise<T>): Promise<T> {
  try {
    return await act(hostingForServer(site.server, hostingSettings(context.env)));
  } catch (error) {
    throw asStepError(error);
  }
}

/** Sets the website's status (audited), unless it already has it. */
async function setWebsiteStatus(tx: Tx, context: StepContext, website: Website, status: WebsiteStatus): Promise<void> {
  if (website.status === status) return;
  const now = new Date();
  await tx
    .update(websites)
    .set({
      status,
      ...(status === 'SUSPENDED' ? { suspendedAt: now } : {}),
      ...(status === 'ACTIVE' ? { suspendedAt: null } : {}),
      ...(status === 'TERMINATED' ? { terminatedAt: now } : {}),
    })
    .where(eq(websites.id, website.id));
  await recordAudit(tx, {
    tenantId: context.job.tenantId,
    actor: systemActor,
    action: `website.${status.toLowerCase()}`,
    targetType: 'website',
    targetId: website.id,
    before: { status: website.status },
    after: { status },
    metadata: { jobId: context.job.id },
  });
}

export const suspendSite = defineStep({
  type: 'SUSPEND_SITE',
  payload: lifecyclePayload,
  async handle(payload, context) {
    const site = await loadSite(context, payload.websiteId);
    if (!site) return { site: null };
    await onServer(site, context, (hosting) => hosting.suspendSite(site.domain));
    await withTenant(context.db, context.job.tenantId, (tx) => setWebsiteStatus(tx, context, site.website, 'SUSPENDED'));
    return { site: site.domain, server: site.server.hostname };
  },
});

export const unsuspendSite = defineStep({
  type: 'UNSUSPEND_SITE',
  payload: lifecyclePayload,
  async handle(payload, context) {
    const site = await loadSite(context, payload.websiteId);
    if (!site) return { site: null };
    await onServer(site, context, (hosting) => hosting.unsuspendSite(site.domain));
    await withTenant(context.db, context.job.tenantId, (tx) => setWebsiteStatus(tx, context, site.website, 'ACTIVE'));
    return { site: site.domain, server: site.server.hostname };
  },
});

export const terminateSite = defineStep({
  type: 'TERMINATE_SITE',
  payload: lifecyclePayload,
  async handle(payload, context) {
    const { env } = context;
    const site = await loadSite(context, payload.websiteId);
    // Removing is idempotent in the driver: a re-run finds no vhost and nothing left to archive.
    const removed = site && site.website.status !== 'TERMINATED' ? await onServer(site, context, (hosting) => hosting.removeSite(site.domain, env.BACKUPS_DIR)) : null;
    const deleteAfter = new Date(Date.now() + env.DNS_ZONE_RETENTION * 1000);

    await withTenant(context.db, context.job.tenantId, async (tx) => {
      if (site) await setWebsiteStatus(tx, context, site.website, 'TERMINATED');
      if (site && removed?.archive) {
        await tx.insert(backups).values({
          tenantId: context.job.tenantId,
          subscriptionId: payload.subscriptionId,
          websiteId: site.website.id,
          kind: 'WEBSITE',
          status: 'COMPLETED',
          location: removed.archive,
          startedAt: new Date(),
          completedAt: new Date(),
        });
      }
      const subscriptionDomains = await tx.select().from(domains).where(eq(domains.subscriptionId, payload.subscriptionId));
      for (const domain of subscriptionDomains) {
        if (domain.status !== 'TERMINATED') await tx.update(domains).set({ status: 'TERMINATED' }).where(eq(domains.id, domain.id));
        // The zone stays answerable for the retention period (mail forwarding, a change of mind),
        // then the DNS retention sweep deletes it from PowerDNS (jobs/dns-retention.ts).
        const [zone] = await tx.select().from(dnsZones).where(eq(dnsZones.domainId, domain.id));
        if (zone && zone.status !== 'DELETED' && !zone.deleteAfter) await tx.update(dnsZones).set({ deleteAfter }).where(eq(dnsZones.id, zone.id));
      }
    });
    return { site: site?.domain ?? null, archive: removed?.archive ?? null, zoneDeleteAfter: deleteAfter.toISOString(), archiveDir: path.resolve(env.BACKUPS_DIR) };
  },
});
