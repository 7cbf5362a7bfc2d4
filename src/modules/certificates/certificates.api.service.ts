import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { sslCertificates, type SslCertificate } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import type { JobProducer } from '../../jobs/queue.js';
import { notFound } from '../../shared/errors/app-error.js';
import type { AuditActor } from '../audit/audit.service.js';
import type { AuthContext } from '../auth/auth-context.js';
import { listPage } from '../list-page.js';
import { insertRenewalJob } from './certificate-renewal.js';
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
    renewalFailures: row.renewalFailures,
    expiryAlertedAt: row.expiryAlertedAt,
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
    const job = await insertRenewalJob(tx, row, { maxAttempts: deps.maxAttempts, actor, reason: 'admin' });
    return { body: { certificateId: row.id, job: { id: job.id, type: job.type, status: job.status } }, job };
  });
  await enqueue(deps.db, deps.producer, deps.logger, [result.job]);
  return result.body;
}
