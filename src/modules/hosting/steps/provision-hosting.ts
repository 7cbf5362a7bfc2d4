import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { servers, websites, type Server, type Website } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import type { EnsureSiteResult } from '../../../providers/hosting.port.js';
import { recordAudit, systemActor } from '../../audit/audit.service.js';
import { requireStepDomain } from '../../domains/domains.service.js';
import { defineStep, type StepContext } from '../../step-services.js';

/**
 * PROVISION_HOSTING: the site on the web server chosen at order intake (payload.serverId): its
 * directory and placeholder page, the vhost, `nginx -t` and a reload (providers/nginx), then the
 * websites row (server, docroot, ACTIVE). Idempotent: the driver leaves what is already right
 * (and never overwrites the customer's index.html), and the row is upserted on (tenant, domain).
 */

export const provisionHostingPayload = z.object({
  subscriptionId: z.uuid(),
  domainId: z.uuid(),
  domain: z.string(),
  serverId: z.uuid().nullish(),
});
export type ProvisionHostingPayload = z.output<typeof provisionHostingPayload>;

export interface ProvisionHostingResult extends Record<string, unknown> {
  websiteId: string;
  serverId: string;
  docroot: string;
  vhost: string;
  /** The site's index.html is mPanel's placeholder (VERIFY_AND_ACTIVATE then expects to see it). */
  placeholder: boolean;
  vhostChanged: boolean;
}

async function loadTargets(context: StepContext, payload: ProvisionHostingPayload): Promise<{ server: Server; domainName: string }> {
  const { serverId } = payload;
  if (!serverId) {
    throw new PermanentStepError('no web server registered when the order was placed (register one with `mpanel servers add --role WEB` or POST /api/servers)');
  }
  return withTenant(context.db, context.job.tenantId, async (tx) => {
    const [server] = await tx.select().from(servers).where(eq(servers.id, serverId));
    if (!server) throw new PermanentStepError(`the web server ${serverId} of this order does not exist`);
    if (server.role !== 'WEB') throw new PermanentStepError(`server ${server.hostname} is a ${server.role} server, not a WEB server`);
    if (server.status === 'DISABLED') throw new PermanentStepError(`the web server ${server.hostname} is DISABLED`);
    const domain = await requireStepDomain(tx, payload.domainId, payload.domain);
    return { server, domainName: domain.name };
  });
}

function websiteAudit(website: Website): Record<string, unknown> {
  return { domainId: website.domainId, serverId: website.serverId, docroot: website.docroot, status: website.status };
}

/** Inserts or brings up to date the websites row, audited when it changes (a re-run writes nothing). */
async function upsertWebsite(context: StepContext, payload: ProvisionHostingPayload, server: Server, site: EnsureSiteResult): Promise<Website> {
  const tenantId = context.job.tenantId;
  return withTenant(context.db, tenantId, async (tx) => {
    const [existing] = await tx
      .select()
      .from(websites)
      .where(and(eq(websites.tenantId, tenantId), eq(websites.domainId, payload.domainId)))
      .for('update');
    if (existing && existing.serverId === server.id && existing.docroot === site.docroot && existing.status === 'ACTIVE') return existing;

    const [website] = existing
      ? await tx.update(websites).set({ serverId: server.id, docroot: site.docroot, status: 'ACTIVE', suspendedAt: null }).where(eq(websites.id, existing.id)).returning()
      : await tx
          .insert(websites)
          .values({ tenantId, subscriptionId: payload.subscriptionId, domainId: payload.domainId, serverId: server.id, docroot: site.docroot, status: 'ACTIVE' })
          .returning();
    if (!website) throw new Error('upsert of websites returned no row');
    await recordAudit(tx, {
      tenantId,
      actor: systemActor,
      action: existing ? 'website.updated' : 'website.created',
      targetType: 'website',
      targetId: website.id,
      before: existing ? websiteAudit(existing) : null,
      after: websiteAudit(website),
      metadata: { domain: site.domain, server: server.hostname, jobId: context.job.id, subscriptionId: payload.subscriptionId },
    });
    return website;
  });
}

export const provisionHosting = defineStep({
  type: 'PROVISION_HOSTING',
  payload: provisionHostingPayload,
  async handle(payload, context): Promise<ProvisionHostingResult> {
    const { server, domainName } = await loadTargets(context, payload);
    const site = await context.services.hosting.forServer(server).ensureSite(domainName);
    const website = await upsertWebsite(context, payload, server, site);
    context.logger.info({ domain: domainName, server: server.hostname, vhostChanged: site.vhostChanged }, `site ${domainName} is set up on ${server.hostname}`);
    return { websiteId: website.id, serverId: server.id, docroot: site.docroot, vhost: site.vhostPath, placeholder: site.placeholder, vhostChanged: site.vhostChanged };
  },
});
