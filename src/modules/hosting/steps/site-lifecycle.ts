import path from 'node:path';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { backups, domains, servers, subscriptions, websites, type Server, type Website, type WebsiteStatus } from '../../../db/schema/index.js';
import { withTenant, type Tx } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import type { HostingPort } from '../../../providers/hosting.port.js';
import type { AuditAction } from '../../audit/audit-actions.js';
import { recordAudit, systemActor } from '../../audit/audit.service.js';
import { deleteCertificateKeys } from '../../certificates/certificates.service.js';
import { scheduleZoneDeletion } from '../../dns/zone-retention.js';
import { terminateSubscriptionDomains } from '../../domains/domains.service.js';
import { defineStep, type StepContext } from '../../step-services.js';

/**
 * The subscription lifecycle on the web server: SUSPEND_SITE (the vhost answers a "suspended"
 * page, files kept), UNSUSPEND_SITE (back to the site) and TERMINATE_SITE (vhost removed, the
 * site's directory archived to BACKUPS_DIR then removed, the DNS zone scheduled for deletion after
 * DNS_ZONE_RETENTION). Each is idempotent: the driver leaves what is already in the wanted state,
 * and the rows are only written when they change. The pipeline moves the subscription to its new
 * status when the step succeeds (pipeline.ts, lifecycleTransitions).
 */

export const lifecyclePayload = z.object({
  subscriptionId: z.uuid(),
  /** null for a subscription without a site (DNS or e-mail only): only the rows change. */
  websiteId: z.uuid().nullable(),
  /**
   * A hold (SUSPEND_SITE) or its release (UNSUSPEND_SITE) for a FAILED subscription
   * (../failed-site-hold.ts): the site changes, the subscription's status does not.
   */
  hold: z.boolean().optional(),
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

function hostingOf(site: Site, context: StepContext): HostingPort {
  return context.services.hosting.forServer(site.server);
}

const websiteActions: Record<WebsiteStatus, AuditAction> = {
  PENDING: 'website.updated',
  ACTIVE: 'website.unsuspended',
  SUSPENDED: 'website.suspended',
  TERMINATED: 'website.terminated',
};

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
    action: websiteActions[status],
    targetType: 'website',
    targetId: website.id,
    before: { status: website.status },
    after: { status },
    metadata: { jobId: context.job.id },
  });
}

/** A hold whose subscription was retried (or terminated) before it ran has nothing to hold. */
async function holdStillWanted(context: StepContext, subscriptionId: string): Promise<boolean> {
  const [row] = await withTenant(context.db, context.job.tenantId, (tx) =>
    tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, subscriptionId)),
  );
  return row?.status === 'FAILED';
}

export const suspendSite = defineStep({
  type: 'SUSPEND_SITE',
  payload: lifecyclePayload,
  async handle(payload, context) {
    const site = await loadSite(context, payload.websiteId);
    if (!site) return { site: null };
    if (payload.hold && !(await holdStillWanted(context, payload.subscriptionId))) return { site: site.domain, held: false, reason: 'the subscription is no longer FAILED' };
    await hostingOf(site, context).suspendSite(site.domain);
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
    await hostingOf(site, context).unsuspendSite(site.domain);
    await withTenant(context.db, context.job.tenantId, (tx) => setWebsiteStatus(tx, context, site.website, 'ACTIVE'));
    return { site: site.domain, server: site.server.hostname };
  },
});

export const terminateSite = defineStep({
  type: 'TERMINATE_SITE',
  payload: lifecyclePayload,
  async handle(payload, context) {
    const { env } = context.services;
    const site = await loadSite(context, payload.websiteId);
    // Removing is idempotent in the driver: a re-run finds no vhost and nothing left to archive.
    const removed = site && site.website.status !== 'TERMINATED' ? await hostingOf(site, context).removeSite(site.domain, env.BACKUPS_DIR) : null;
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
      const terminated = await terminateSubscriptionDomains(tx, payload.subscriptionId);
      for (const domain of terminated) await scheduleZoneDeletion(tx, domain.id, deleteAfter);
      await deleteCertificateKeys(tx, context.job.tenantId, terminated.map((domain) => domain.id), { jobId: context.job.id, subscriptionId: payload.subscriptionId });
    });
    return { site: site?.domain ?? null, archive: removed?.archive ?? null, zoneDeleteAfter: deleteAfter.toISOString(), archiveDir: path.resolve(env.BACKUPS_DIR) };
  },
});
