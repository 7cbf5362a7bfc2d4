import { readFile } from 'node:fs/promises';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { jobs, servers, sslCertificates, websites, type Server } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import { requireStepDomain } from '../../domains/domains.service.js';
import { defineStep, type StepContext } from '../../step-services.js';
import { checkSite, checkZone, createResolver, type SiteCheckResult } from '../site-check.js';

/**
 * VERIFY_AND_ACTIVATE, the last step of an order: the site must be live as a visitor sees it.
 * `domain` and `www.domain` are resolved through our DNS (DNS_RESOLVER, PowerDNS); every address
 * they resolve to must be one of the site's web server's registered addresses, and only such an
 * address is connected to; `http://<name>:<http port>/` must answer 200 without a redirect.
 *
 * Content: when PROVISION_HOSTING reported that index.html is mPanel's placeholder (always, for a
 * new site), the page must contain the placeholder's marker for this domain, which proves the
 * answer came from this site's vhost and not from a catch-all server. When the customer's own
 * index.html was already there (a re-provisioned site), any 200 is accepted.
 *
 * The step only verifies: once it succeeds the subscription turns ACTIVE and the order
 * FULFILLED, audited (modules/provisioning/provisioning-outcomes.ts). A failed check is retryable (a
 * reload still in progress, DNS being fixed); within one attempt it keeps checking for
 * SITE_CHECK_TIMEOUT_MS. For products without a website (DNS, e-mail) it checks that the zone answers.
 */

export const verifyAndActivatePayload = z.object({
  subscriptionId: z.uuid(),
  domainId: z.uuid(),
  domain: z.string(),
});
export type VerifyAndActivatePayload = z.output<typeof verifyAndActivatePayload>;

const hostingResult = z.looseObject({ placeholder: z.boolean() });

interface VerifyTarget {
  readonly server: Server | null;
  /** Whether the page must be the placeholder (see above). */
  readonly expectPlaceholder: boolean;
  /** The site has an ISSUED certificate (ISSUE_SSL ran): it must be served over HTTPS, HTTP redirecting. */
  readonly https: boolean;
}

/** What to check: the site's web server (none for a product without a website) and the page to expect. */
async function loadVerifyTarget(context: StepContext, payload: VerifyAndActivatePayload): Promise<VerifyTarget> {
  return withTenant(context.db, context.job.tenantId, async (tx) => {
    await requireStepDomain(tx, payload.domainId, payload.domain);
    const [site] = await tx
      .select({ server: servers })
      .from(websites)
      .innerJoin(servers, eq(servers.id, websites.serverId))
      .where(eq(websites.domainId, payload.domainId));
    let expectPlaceholder = true;
    if (site && context.job.orderId) {
      const [hosting] = await tx
        .select({ result: jobs.result })
        .from(jobs)
        .where(and(eq(jobs.orderId, context.job.orderId), eq(jobs.type, 'PROVISION_HOSTING')));
      const parsed = hostingResult.safeParse(hosting?.result);
      if (parsed.success) expectPlaceholder = parsed.data.placeholder;
    }
    const [certificate] = await tx.select({ status: sslCertificates.status }).from(sslCertificates).where(eq(sslCertificates.domainId, payload.domainId));
    return { server: site?.server ?? null, expectPlaceholder, https: certificate?.status === 'ISSUED' };
  });
}

export const verifyAndActivate = defineStep({
  type: 'VERIFY_AND_ACTIVATE',
  payload: verifyAndActivatePayload,
  async handle(payload, context) {
    const domain = payload.domain;
    const { env, hosting } = context.services;
    const { server, expectPlaceholder, https } = await loadVerifyTarget(context, payload);
    const resolver = createResolver(env.DNS_RESOLVER);
    const deadline = Date.now() + env.SITE_CHECK_TIMEOUT_MS;

    if (!server) {
      await checkZone(resolver, domain, deadline);
      return { checked: 'zone', zone: domain };
    }
    const allowed = [server.ipv4, server.ipv6].filter((address): address is string => address !== null);
    if (allowed.length === 0) {
      throw new PermanentStepError(`the web server ${server.hostname} has no registered address, and the site is only checked on its server's addresses`);
    }
    const expect = expectPlaceholder ? hosting.forServer(server).placeholderMarker(domain) : null;
    const httpsPort = hosting.forServer(server).httpsPort;
    // Read at each check: Pebble's root is new at each of its starts.
    const secure = https && httpsPort !== null ? { port: httpsPort, ca: env.SITE_CHECK_CA_FILE ? await readFile(env.SITE_CHECK_CA_FILE, 'utf8') : undefined } : null;
    const checks: SiteCheckResult[] = [];
    for (const name of [domain, `www.${domain}`]) checks.push(await checkSite(resolver, { name, allowed, port: server.httpPort, expect, https: secure }, deadline));
    context.logger.info({ domain, checks }, `${domain} is live on ${server.hostname}${secure ? ' over HTTPS' : ''}`);
    return { checked: 'site', server: server.hostname, placeholder: expectPlaceholder, ...(secure ? { https: true } : {}), checks };
  },
});
