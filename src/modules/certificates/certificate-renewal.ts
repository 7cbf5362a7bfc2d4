import { and, asc, desc, eq, gt, inArray, isNull, lte, sql, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { domains, jobs, sslCertificates, websites, type Job, type SslCertificate } from '../../db/schema/index.js';
import { SSL_RENEWAL_SCAN_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { historyEntry } from '../../jobs/job-state.js';
import { enqueue } from '../../jobs/outbox.js';
import { serverQueue, type JobProducer } from '../../jobs/queue.js';
import { AppError } from '../../shared/errors/app-error.js';
import { recordAudit, systemActor, type AuditActor } from '../audit/audit.service.js';
import { recordEvent } from '../events/domain-events.js';
import { countExpiryAlert } from './certificate-metrics.js';
import { certificateAudit, certificateEventFacts } from './certificates.service.js';
import { issueSslPayload } from './steps/issue-ssl.js';

/**
 * The renewal task (a repeatable maintenance job of the worker, and `mpanel ssl renew`): finds the
 * certificates due in every tenant through the `ssl_renewal_scan` policy (no superuser, no
 * BYPASSRLS: the scan sees only certificates with renew_after set, and only their ids), then
 * takes each in a transaction of its tenant, the certificate row locked, and schedules one
 * ISSUE_SSL job with `force` on the site's server queue. Two workers (or a worker and the CLI)
 * scanning at once serialise on that lock: the second sees the first one's job in progress, or
 * the certificate no longer due, and schedules nothing.
 *
 * The job keeps the certificate's key (see issue-ssl.ts) and writes the new chain over the old
 * file: with the variable layout nginx serves it at the next handshake, no reload. A renewal that
 * gives up backs off (certificates.service recordFailure: renew_after moves later, doubling), and
 * a certificate within SSL_EXPIRY_ALERT of its notAfter whose renewal keeps failing raises
 * certificate.expiring once (audit row, metric, staff email).
 */

/** A certificate as the cross-tenant scan sees it: where it lives and when, nothing more. */
export interface ScannedCertificate {
  readonly id: string;
  readonly tenantId: string;
  readonly commonName: string;
  readonly renewAfter: Date | null;
  readonly notAfter: Date | null;
}

export interface RenewalDeps {
  readonly db: Database;
  readonly producer: JobProducer;
  readonly logger: Logger;
  /** Attempts of each ISSUE_SSL job (SSL_ISSUE_MAX_ATTEMPTS). */
  readonly maxAttempts: number;
}

export interface RenewalSettings {
  /** Certificates scheduled per run at most (SSL_RENEW_BATCH); the rest wait for the next run. */
  readonly batch: number;
  /** How long a scheduled (or stuck) renewal keeps its certificate out of the due list (SSL_RENEW_RETRY_BASE). */
  readonly leaseMs: number;
  /** SSL_EXPIRY_ALERT in milliseconds. */
  readonly expiryAlertMs: number;
}

/** One read across tenants through the ssl_renewal_scan policy, in its own transaction. */
async function scan(db: Database, where: SQL | undefined, order: SQL[], limit: number): Promise<ScannedCertificate[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${SSL_RENEWAL_SCAN_SETTING}, 'on', true)`);
    return tx
      .select({ id: sslCertificates.id, tenantId: sslCertificates.tenantId, commonName: sslCertificates.commonName, renewAfter: sslCertificates.renewAfter, notAfter: sslCertificates.notAfter })
      .from(sslCertificates)
      .where(where)
      .orderBy(...order)
      .limit(limit);
  });
}

/** Certificates whose renew_after has passed at `now`, the longest waiting first (optionally in one tenant). */
export function dueCertificates(db: Database, now: Date, limit: number, tenantId?: string): Promise<ScannedCertificate[]> {
  return scan(db, and(lte(sslCertificates.renewAfter, now), tenantId ? eq(sslCertificates.tenantId, tenantId) : undefined), [asc(sslCertificates.renewAfter), asc(sslCertificates.id)], limit);
}

/** Every certificate the task manages (renew_after set), optionally in one tenant or for one name. */
export function managedCertificates(db: Database, filter: { tenantId?: string; name?: string }, limit: number): Promise<ScannedCertificate[]> {
  return scan(
    db,
    and(filter.tenantId ? eq(sslCertificates.tenantId, filter.tenantId) : undefined, filter.name ? eq(sslCertificates.commonName, filter.name) : undefined),
    [asc(sslCertificates.commonName), asc(sslCertificates.id)],
    limit,
  );
}

/** Certificates within `windowMs` of their notAfter at `now` whose renewal is failing and that have not raised certificate.expiring yet. */
function expiringCertificates(db: Database, now: Date, windowMs: number, limit: number, tenantId?: string): Promise<ScannedCertificate[]> {
  return scan(
    db,
    and(lte(sslCertificates.notAfter, new Date(now.getTime() + windowMs)), gt(sslCertificates.renewalFailures, 0), isNull(sslCertificates.expiryAlertedAt), tenantId ? eq(sslCertificates.tenantId, tenantId) : undefined),
    [asc(sslCertificates.notAfter)],
    limit,
  );
}

export type RenewalOutcome = { kind: 'scheduled'; job: Job } | { kind: 'skipped'; reason: string };

type SiteCheck =
  | { kind: 'ok'; subscriptionId: string; domainId: string; domain: string; serverId: string }
  | { kind: 'not-hosted' }
  | { kind: 'in-progress'; jobId: string };

/** Whether the certificate's site can take a renewal now: still hosted, no ISSUE_SSL of it in progress. */
async function checkSite(tx: Tx, row: SslCertificate): Promise<SiteCheck> {
  const [site] = await tx
    .select({ website: websites, domain: domains })
    .from(domains)
    .leftJoin(websites, eq(websites.domainId, domains.id))
    .where(eq(domains.id, row.domainId))
    .orderBy(desc(websites.createdAt));
  const website = site?.website;
  const subscriptionId = site?.domain.subscriptionId;
  if (!site || !website || website.status === 'TERMINATED' || !subscriptionId) return { kind: 'not-hosted' };
  const [running] = await tx
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.subscriptionId, subscriptionId), eq(jobs.type, 'ISSUE_SSL'), inArray(jobs.status, ['PENDING', 'QUEUED', 'RUNNING'])));
  if (running) return { kind: 'in-progress', jobId: running.id };
  return { kind: 'ok', subscriptionId, domainId: site.domain.id, domain: site.domain.name, serverId: website.serverId };
}

const NOT_HOSTED = 'The site of this certificate is not hosted (any more): nothing to renew';
const inProgress = (jobId: string) => `An ISSUE_SSL job (${jobId}) of this site is still in progress`;

async function insertJob(tx: Tx, row: SslCertificate, site: Extract<SiteCheck, { kind: 'ok' }>, options: { maxAttempts: number; actor: AuditActor; reason: string; scheduledAt?: Date | undefined }): Promise<Job> {
  const [job] = await tx
    .insert(jobs)
    .values({
      tenantId: row.tenantId,
      subscriptionId: site.subscriptionId,
      type: 'ISSUE_SSL',
      queue: serverQueue(site.serverId),
      maxAttempts: options.maxAttempts,
      payload: issueSslPayload.parse({ subscriptionId: site.subscriptionId, domainId: site.domainId, domain: site.domain, serverId: site.serverId, force: true, scheduledAt: options.scheduledAt?.toISOString() }),
      history: [historyEntry('PENDING')],
    })
    .returning();
  if (!job) throw new Error('insert into jobs returned no row');
  await recordAudit(tx, {
    tenantId: row.tenantId,
    actor: options.actor,
    action: 'ssl_certificate.renew_requested',
    targetType: 'ssl_certificate',
    targetId: row.id,
    before: certificateAudit(row),
    metadata: { jobId: job.id, reason: options.reason },
  });
  return job;
}

/**
 * Puts one ISSUE_SSL job (force) for the locked certificate `row` in the outbox, audited as
 * ssl_certificate.renew_requested (an admin's renew). 409 when the site is not hosted any more,
 * or when an ISSUE_SSL job of its subscription is still in progress.
 */
export async function insertRenewalJob(tx: Tx, row: SslCertificate, options: { maxAttempts: number; actor: AuditActor; reason: string }): Promise<Job> {
  const site = await checkSite(tx, row);
  if (site.kind === 'not-hosted') throw new AppError('CONFLICT', NOT_HOSTED);
  if (site.kind === 'in-progress') throw new AppError('CONFLICT', inProgress(site.jobId));
  return insertJob(tx, row, site, options);
}

/**
 * Schedules the renewal of one certificate in its tenant, the row locked: when `due` is set (the
 * task, `--due`), only if its renew_after has passed at `due.now`, otherwise whatever its dates
 * (`--all`, <domain>). A job already in progress, a certificate no longer due or a site gone is a
 * skip, not an error. The job is handed to BullMQ after the commit.
 *
 * With `due`, renew_after also moves `due.leaseMs` on (scheduled, or skipped because a job is in
 * progress): the batch is taken longest-waiting first, so a certificate whose job waits for a
 * worker that is down must not hold the front of the line at every run. A renewal that succeeds
 * sets a new renew_after; one that fails backs off from the same base (recordFailure). A site
 * that is gone takes its certificate out of the task (renew_after cleared).
 */
export async function scheduleRenewal(
  deps: RenewalDeps,
  target: { tenantId: string; id: string },
  options: { due?: { now: Date; leaseMs: number } | undefined; actor?: AuditActor; reason: string },
): Promise<RenewalOutcome> {
  const { due } = options;
  const outcome = await withTenant(deps.db, target.tenantId, async (tx): Promise<RenewalOutcome> => {
    const [row] = await tx.select().from(sslCertificates).where(eq(sslCertificates.id, target.id)).for('update');
    if (!row) return { kind: 'skipped', reason: 'no such certificate' };
    if (due && (row.renewAfter === null || row.renewAfter > due.now)) return { kind: 'skipped', reason: 'not due (any more)' };
    const site = await checkSite(tx, row);
    const lease = async () => {
      if (due) await tx.update(sslCertificates).set({ renewAfter: new Date(due.now.getTime() + due.leaseMs), updatedAt: new Date() }).where(eq(sslCertificates.id, row.id));
    };
    if (site.kind === 'not-hosted') {
      if (due) await tx.update(sslCertificates).set({ renewAfter: null, updatedAt: new Date() }).where(eq(sslCertificates.id, row.id));
      return { kind: 'skipped', reason: NOT_HOSTED };
    }
    if (site.kind === 'in-progress') {
      await lease();
      return { kind: 'skipped', reason: inProgress(site.jobId) };
    }
    const job = await insertJob(tx, row, site, { maxAttempts: deps.maxAttempts, actor: options.actor ?? systemActor, reason: options.reason, scheduledAt: due?.now });
    await lease();
    return { kind: 'scheduled', job };
  });
  if (outcome.kind === 'scheduled') await enqueue(deps.db, deps.producer, deps.logger, [outcome.job]);
  return outcome;
}

/**
 * Raises certificate.expiring for one certificate whose renewal has failed, once: the row marked (expiry_alerted_at), an
 * audit row, the event (staff email), the metric and an ALERT log line. Cleared by the next
 * issuance, so a certificate that is renewed and later fails again alerts again.
 */
async function raiseExpiryAlert(db: Database, logger: Logger, target: ScannedCertificate, now: Date, windowMs: number): Promise<boolean> {
  const row = await withTenant(db, target.tenantId, async (tx) => {
    const [before] = await tx.select().from(sslCertificates).where(eq(sslCertificates.id, target.id)).for('update');
    if (!before || before.expiryAlertedAt !== null || before.renewAfter === null || before.notAfter === null || before.renewalFailures === 0) return null;
    if (before.notAfter.getTime() > now.getTime() + windowMs) return null; // renewed meanwhile
    const [after] = await tx.update(sslCertificates).set({ expiryAlertedAt: now, updatedAt: new Date() }).where(eq(sslCertificates.id, before.id)).returning();
    if (!after) return null;
    await recordAudit(tx, {
      tenantId: target.tenantId,
      actor: systemActor,
      action: 'ssl_certificate.expiring',
      targetType: 'ssl_certificate',
      targetId: after.id,
      after: { ...certificateAudit(after), lastError: after.lastError, renewalFailures: after.renewalFailures },
      metadata: { windowSeconds: Math.round(windowMs / 1000) },
    });
    await recordEvent(tx, target.tenantId, { type: 'certificate.expiring', subject: { type: 'ssl_certificate', id: after.id }, payload: await certificateEventFacts(tx, after, after.lastError) });
    return after;
  });
  if (!row) return false;
  countExpiryAlert();
  logger.error(
    { certificateId: row.id, notAfter: row.notAfter, renewalFailures: row.renewalFailures },
    `ALERT certificate for ${row.altNames.join(', ')} expires ${row.notAfter?.toISOString() ?? '?'} and is not renewed${row.lastError ? `: ${row.lastError}` : ''}`,
  );
  return true;
}

export interface RenewalRun {
  readonly due: number;
  readonly scheduled: number;
  readonly skipped: number;
  readonly alerted: number;
}

/**
 * One run of the renewal task at `now` (injectable for tests): expiry alerts first, then up to
 * `batch` due certificates scheduled (in every tenant, or in `scope.tenantId` only). A failure on
 * one certificate is logged and the run goes on.
 */
export async function runRenewalTask(deps: RenewalDeps, settings: RenewalSettings, now: Date = new Date(), scope: { tenantId?: string } = {}): Promise<RenewalRun> {
  let alerted = 0;
  for (const target of await expiringCertificates(deps.db, now, settings.expiryAlertMs, settings.batch, scope.tenantId)) {
    if (await raiseExpiryAlert(deps.db, deps.logger, target, now, settings.expiryAlertMs)) alerted += 1;
  }
  const due = await dueCertificates(deps.db, now, settings.batch, scope.tenantId);
  let scheduled = 0;
  let skipped = 0;
  for (const target of due) {
    try {
      const outcome = await scheduleRenewal(deps, target, { due: { now, leaseMs: settings.leaseMs }, reason: 'due' });
      if (outcome.kind === 'scheduled') scheduled += 1;
      else skipped += 1;
    } catch (error) {
      skipped += 1;
      deps.logger.warn({ err: error, certificateId: target.id }, `could not schedule the renewal of ${target.commonName}; the next run retries`);
    }
  }
  if (scheduled + alerted > 0) deps.logger.info({ due: due.length, scheduled, skipped, alerted }, `ssl renewal: ${scheduled} renewal(s) scheduled, ${alerted} expiry alert(s)`);
  return { due: due.length, scheduled, skipped, alerted };
}
