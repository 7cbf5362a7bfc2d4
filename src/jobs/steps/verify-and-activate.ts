import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { domains, jobs, servers, websites } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { placeholderMarker } from '../../providers/nginx/vhost.js';
import { isNormalizedDomain } from '../../shared/domain-name.js';
import { PermanentStepError } from '../pipeline.js';
import { defineStep, type StepContext } from '../registry.js';
import { checkSite, checkZone, createResolver, type SiteCheckResult } from './site-check.js';

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
 * The step only verifies: once it succeeds the pipeline marks the subscription ACTIVE and the
 * order FULFILLED, audited (activateWhenComplete in pipeline.ts). A failed check is retryable (a
 * reload still in progress, DNS being fixed); within one attempt it keeps checking for
 * SITE_CHECK_TIMEOUT_MS. For products without a website (DNS, e-mail) it checks that the zone answers.
 */

export const verifyAndActivatePayload = z.looseObject({
  subscriptionId: z.uuid(),
  domainId: z.uuid(),
  domain: z.string(),
});
export type VerifyAndActivatePayload = z.output<typeof verifyAndActivatePayload>;

const hostingResult = z.looseObject({ placeholder: z.boolean() });

interface VerifyPlan {
  readonly server: { hostname: string; ipv4: string | null; ipv6: string | null; httpPort: number } | null;
  /** Whether the page must be the placeholder (see above). */
  readonly expectPlaceholder: boolean;
}

async function plan(context: StepContext, payload: VerifyAndActivatePayload): Promise<VerifyPlan> {
  return withTenant(context.db, context.job.tenantId, async (tx) => {
    const [domain] = await tx.select({ name: domains.name }).from(domains).where(eq(domains.id, payload.domainId));
    if (!domain) throw new PermanentStepError(`domain ${payload.domainId} does not exist`);
    if (domain.name !== payload.domain) throw new PermanentStepError(`domain ${payload.domainId} is ${domain.name}, not ${payload.domain}`);
    const [site] = await tx
      .select({ hostname: servers.hostname, ipv4: servers.ipv4, ipv6: servers.ipv6, httpPort: servers.httpPort })
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
    return { server: site ?? null, expectPlaceholder };
  });
}

export const verifyAndActivate = defineStep({
  type: 'VERIFY_AND_ACTIVATE',
  payload: verifyAndActivatePayload,
  async handle(payload, context) {
    const domain = payload.domain;
    if (!isNormalizedDomain(domain)) throw new PermanentStepError(`"${domain}" is not a normalised domain name`);
    const { server, expectPlaceholder } = await plan(context, payload);
    const resolver = createResolver(context.env.DNS_RESOLVER);
    const deadline = Date.now() + context.env.SITE_CHECK_TIMEOUT_MS;

    if (!server) {
      await checkZone(resolver, domain, deadline);
      return { checked: 'zone', zone: domain };
    }
    const allowed = [server.ipv4, server.ipv6].filter((address): address is string => address !== null);
    if (allowed.length === 0) {
      throw new PermanentStepError(`the web server ${server.hostname} has no registered address, and the site is only checked on its server's addresses`);
    }
    const expect = expectPlaceholder ? placeholderMarker(domain) : null;
    const checks: SiteCheckResult[] = [];
    for (const name of [domain, `www.${domain}`]) checks.push(await checkSite(resolver, { name, allowed, port: server.httpPort, expect }, deadline));
    context.logger.info({ domain, checks }, `${domain} is live on ${server.hostname}`);
    return { checked: 'site', server: server.hostname, placeholder: expectPlaceholder, checks };
  },
});
