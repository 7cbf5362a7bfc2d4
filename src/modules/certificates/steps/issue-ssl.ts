import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { jobs, products, servers, subscriptions, websites, type Server, type SslCertificate } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import { systemActor } from '../../audit/audit.service.js';
import { requireStepDomain } from '../../domains/domains.service.js';
import { defineStep, type StepContext } from '../../step-services.js';
import { certificateNames, ensureCertificateRow, isCurrent, openPrivateKey, recordFailure, requestCertificate, storeIssued } from '../certificates.service.js';

/**
 * ISSUE_SSL, after DNS and hosting: a certificate for the domain and www (http-01 through the
 * site's web root), or the domain and its wildcard (dns-01 through PowerDNS) when the product has
 * `sslWildcard`; stored in ssl_certificates (key sealed), written to the web server (0600, nginx's
 * worker user), and the site switched to HTTPS with HTTP redirecting (HSTS when the product has
 * `hsts`). Idempotent: a current certificate in the row is put on the server again, not re-issued.
 *
 * A paid site is never held back by the CA: a failure is retried with the job's backoff, and once
 * the attempts are spent (or the CA refuses for good) the step records the certificate FAILED
 * with the CA's error, raises the admin alert (audit row, metric, log) and SUCCEEDS, so
 * VERIFY_AND_ACTIVATE checks the site over HTTP and the subscription turns ACTIVE. An admin
 * retries with POST /api/ssl-certificates/:id/renew.
 */

export const issueSslPayload = z.object({
  subscriptionId: z.uuid(),
  domainId: z.uuid(),
  domain: z.string(),
  serverId: z.uuid().nullish(),
  /** Issue a new certificate even when the stored one is current (an admin's renew). */
  force: z.boolean().default(false),
  /**
   * A renewal task's job: the time it was scheduled at, on the task's clock. A renewal that gives
   * up backs off from here or from now, whichever is later (the same instant outside tests).
   */
  scheduledAt: z.iso.datetime({ offset: true }).optional(),
});
export type IssueSslPayload = z.output<typeof issueSslPayload>;

/** The product features this step reads (validated by the catalog). */
const sslFeatures = z.looseObject({ hsts: z.boolean().optional(), sslWildcard: z.boolean().optional() });

interface IssueTarget {
  readonly server: Server;
  readonly domain: string;
  readonly websiteId: string | null;
  readonly hsts: boolean;
  readonly wildcard: boolean;
  readonly row: SslCertificate;
  readonly maxAttempts: number;
}

async function loadTarget(context: StepContext, payload: IssueSslPayload): Promise<IssueTarget> {
  const { serverId } = payload;
  if (!serverId) throw new PermanentStepError('no web server registered when the order was placed: nowhere to install a certificate');
  const tenantId = context.job.tenantId;
  return withTenant(context.db, tenantId, async (tx) => {
    const domain = await requireStepDomain(tx, payload.domainId, payload.domain);
    const [server] = await tx.select().from(servers).where(eq(servers.id, serverId));
    if (!server) throw new PermanentStepError(`the web server ${serverId} of this order does not exist`);
    const [website] = await tx.select({ id: websites.id }).from(websites).where(eq(websites.domainId, domain.id));
    const [product] = await tx
      .select({ features: products.features })
      .from(subscriptions)
      .innerJoin(products, eq(products.id, subscriptions.productId))
      .where(eq(subscriptions.id, payload.subscriptionId));
    const features = sslFeatures.safeParse(product?.features ?? {});
    const hsts = features.success && features.data.hsts === true;
    const wildcard = features.success && features.data.sslWildcard === true;
    const [job] = await tx.select({ maxAttempts: jobs.maxAttempts }).from(jobs).where(eq(jobs.id, context.job.id));
    const row = await ensureCertificateRow(tx, { tenantId, domainId: domain.id, websiteId: website?.id ?? null, domain: domain.name, wildcard });
    return { server, domain: domain.name, websiteId: website?.id ?? null, hsts, wildcard, row, maxAttempts: job?.maxAttempts ?? 1 };
  });
}

function isPermanent(error: unknown): boolean {
  return typeof error === 'object' && error !== null && Reflect.get(error, 'permanent') === true;
}

export const issueSsl = defineStep({
  type: 'ISSUE_SSL',
  payload: issueSslPayload,
  async handle(payload, context) {
    const { services } = context;
    const target = await loadTarget(context, payload);
    const hosting = services.hosting.forServer(target.server);
    const { names } = certificateNames(target.domain, target.wildcard);
    const metadata = { jobId: context.job.id, subscriptionId: payload.subscriptionId, server: target.server.hostname, attempt: context.attempt };
    try {
      let row = target.row;
      let issued = false;
      if (payload.force || !isCurrent(row, names)) {
        // A renewal keeps the key: nginx reads key and certificate from the file at each
        // handshake, in two reads, so a new key could meet the old certificate for an instant.
        const keep = row.privateKeyEncrypted && row.status === 'ISSUED' ? openPrivateKey(services.secrets, row) : null;
        const certificate = await requestCertificate(context.db, services, hosting, target.domain, target.wildcard, keep);
        row = await storeIssued(context.db, services.secrets, context.job.tenantId, row.id, certificate, { actor: systemActor, metadata });
        issued = true;
      }
      if (!row.certificatePem) throw new Error(`certificate ${row.id} has no chain stored`);
      const installed = await hosting.installCertificate(target.domain, { chainPem: row.certificatePem, privateKeyPem: openPrivateKey(services.secrets, row) }, { hsts: target.hsts });
      context.logger.info({ domain: target.domain, certificateId: row.id, issued, notAfter: row.notAfter }, `${target.domain} is served over HTTPS`);
      return { certificateId: row.id, status: 'ISSUED', https: true, issued, names: row.altNames, notAfter: row.notAfter?.toISOString() ?? null, fingerprintSha256: row.fingerprintSha256, vhostChanged: installed.vhostChanged };
    } catch (error) {
      const final = isPermanent(error) || context.attempt >= target.maxAttempts;
      if (!final) throw error;
      // Attempts spent: the site stays as it is (HTTP, or its previous certificate), the order goes on.
      // A row that held a certificate was being renewed: the renewal task backs off before the next try.
      const operation = target.row.certificatePem !== null && target.row.notAfter !== null ? 'renew' : 'issue';
      const retry = { baseMs: services.env.SSL_RENEW_RETRY_BASE * 1000, maxMs: services.env.SSL_RENEW_RETRY_MAX * 1000, from: payload.scheduledAt ? new Date(payload.scheduledAt) : undefined };
      const row = await recordFailure(context.db, context.logger, context.job.tenantId, target.row.id, error, { operation, actor: systemActor, metadata, retry });
      return { certificateId: row.id, status: row.status, https: row.status === 'ISSUED', lastError: row.lastError };
    }
  },
});
