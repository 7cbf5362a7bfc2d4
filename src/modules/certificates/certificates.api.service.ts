import { and, desc, eq, inArray } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { domains, jobs, sslCertificates, websites, type SslCertificate } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { historyEntry } from '../../jobs/job-state.js';
import { enqueue } from '../../jobs/outbox.js';
import { serverQueue, type JobProducer } from '../../jobs/queue.js';
import { AppError, notFound } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { AuthContext } from '../auth/auth-context.js';
import { listPage } from '../list-page.js';
import { certificateAudit } from './certificates.service.js';
import { issueSslPayload } from './steps/issue-ssl.js';
import type { CertificatesPage, CertificateView, ListCertificatesQuery, RenewAccepted } from './certificates.types.js';

/** GET /api/ssl-certificates[/:id] and POST /api/ssl-certificates/:id/renew. */

export function certificateView(row: SslCertificate): CertificateView {
  return {
    id: row.id,
    domainId: row.domainId,
    websiteId: row.websiteId,
    commonName: row.commonName,
    names: row.altNames,
    status: row.status,
    challenge: row.challenge,
    issuer: row.issuer,
    serialNumber: row.serialNumber,
    fingerprintSha256: row.fingerprintSha256,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    renewAfter: row.renewAfter,
    lastError: row.lastError,
    failedAt: row.failedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export async function listCertificates(db: Database, auth: AuthContext, query: ListCertificatesQuery): Promise<CertificatesPage> {
  return listPage(db, auth.tenantId, query, {
    table: sslCertificates,
    filters: [query.status ? eq(sslCertificates.status, query.status) : undefined],
    rows: (tx, q) => tx.select().from(sslCertificates).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: certificateView,
  });
}

async function findCertificate(tx: Tx, tenantId: string, id: string, lock = false): Promise<SslCertificate> {
  const query = tx
    .select()
    .from(sslCertificates)
    .where(and(eq(sslCertificates.tenantId, tenantId), eq(sslCertificates.id, id)));
  const [row] = lock ? await query.for('update') : await query;
  if (!row) throw notFound('SSL certificate');
  return row;
}

export async function getCertificate(db: Database, auth: AuthContext, id: string): Promise<CertificateView> {
  return certificateView(await withTenant(db, auth.tenantId, (tx) => findCertificate(tx, auth.tenantId, id)));
}

export interface RenewDeps {
  readonly db: Database;
  readonly producer: JobProducer;
  readonly logger: Logger;
  readonly maxAttempts: number;
}

/**
 * An admin's renew (also the retry of a FAILED certificate): one ISSUE_SSL job with force on the
 * site's web server queue, audited. 409 while another ISSUE_SSL of the same subscription runs,
 * or when the site is gone.
 */
export async function requestRenewal(deps: RenewDeps, auth: AuthContext, id: string, actor: AuditActor): Promise<RenewAccepted> {
  const tenantId = auth.tenantId;
  const result = await withTenant(deps.db, tenantId, async (tx) => {
    const row = await findCertificate(tx, tenantId, id, true);
    const [site] = await tx
      .select({ website: websites, domain: domains })
      .from(domains)
      .leftJoin(websites, eq(websites.domainId, domains.id))
      .where(eq(domains.id, row.domainId))
      .orderBy(desc(websites.createdAt));
    const website = site?.website;
    if (!site || !website || website.status === 'TERMINATED' || !site.domain.subscriptionId) throw new AppError('CONFLICT', 'The site of this certificate is not hosted (any more): nothing to renew');
    const [running] = await tx
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.subscriptionId, site.domain.subscriptionId), eq(jobs.type, 'ISSUE_SSL'), inArray(jobs.status, ['PENDING', 'QUEUED', 'RUNNING'])));
    if (running) throw new AppError('CONFLICT', `An ISSUE_SSL job (${running.id}) of this site is still in progress`);
    const [job] = await tx
      .insert(jobs)
      .values({
        tenantId,
        subscriptionId: site.domain.subscriptionId,
        type: 'ISSUE_SSL',
        queue: serverQueue(website.serverId),
        maxAttempts: deps.maxAttempts,
        payload: issueSslPayload.parse({ subscriptionId: site.domain.subscriptionId, domainId: site.domain.id, domain: site.domain.name, serverId: website.serverId, force: true }),
        history: [historyEntry('PENDING')],
      })
      .returning();
    if (!job) throw new Error('insert into jobs returned no row');
    await recordAudit(tx, {
      tenantId,
      actor,
      action: 'ssl_certificate.renew_requested',
      targetType: 'ssl_certificate',
      targetId: row.id,
      before: certificateAudit(row),
      metadata: { jobId: job.id },
    });
    return { body: { certificateId: row.id, job: { id: job.id, type: job.type, status: job.status } }, job };
  });
  await enqueue(deps.db, deps.producer, deps.logger, [result.job]);
  return result.body;
}
