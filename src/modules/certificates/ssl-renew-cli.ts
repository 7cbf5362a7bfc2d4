import { eq, inArray } from 'drizzle-orm';
import { jobs, sslCertificates, type Job } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { AuditActor } from '../audit/audit.service.js';
import { dueCertificates, managedCertificates, scheduleRenewal, type RenewalDeps, type ScannedCertificate } from './certificate-renewal.js';

/**
 * `mpanel ssl renew [--due | --all | <domain>] [--tenant <slug>]`: schedules renewals the way the
 * worker's renewal task does (same locks, so running it next to a worker never doubles a job),
 * then follows the jobs (a worker runs them) with a progress bar until each has renewed or
 * failed. Exit code 1 when a renewal failed or the wait timed out.
 */

export type SslRenewSelection = { kind: 'due' } | { kind: 'all' } | { kind: 'domain'; domain: string };

export interface SslRenewOptions {
  readonly selection: SslRenewSelection;
  /** Only this tenant's certificates (its id). */
  readonly tenantId?: string | undefined;
  readonly actor: AuditActor;
  /** Follow the jobs until they finish (default) or only schedule them. */
  readonly wait: boolean;
  readonly timeoutMs: number;
  readonly pollMs?: number;
  /** "Due" is judged at this time (default now). */
  readonly now?: Date;
  /** --due: how long a scheduled renewal keeps its certificate out of the due list (SSL_RENEW_RETRY_BASE). */
  readonly leaseMs: number;
}

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface SslRenewIo {
  out(line: string): void;
  progress: ProgressStream;
}

const SCAN_LIMIT = 100_000;
const BAR_WIDTH = 30;

/**
 * Progress on a stream: a bar redrawn in place on a terminal
 * (`\r[#######        ] 3/12 certificates, 1 failed`), otherwise one line per change, for logs.
 */
export function renewalProgress(stream: ProgressStream, label: string): (done: number, total: number, failed: number) => void {
  let last = '';
  return (done, total, failed) => {
    const text = `${done}/${total} ${label}${failed > 0 ? `, ${failed} failed` : ''}`;
    if (text === last) return;
    last = text;
    if (stream.isTTY) {
      const filled = total === 0 ? BAR_WIDTH : Math.round((done / total) * BAR_WIDTH);
      stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${text}${done === total ? '\n' : ''}`);
    } else {
      stream.write(`ssl renew: ${text}\n`);
    }
  };
}

async function selectTargets(deps: RenewalDeps, options: SslRenewOptions): Promise<ScannedCertificate[]> {
  const { selection, tenantId } = options;
  if (selection.kind === 'due') return dueCertificates(deps.db, options.now ?? new Date(), SCAN_LIMIT, tenantId);
  if (selection.kind === 'all') return managedCertificates(deps.db, { tenantId }, SCAN_LIMIT);
  const name = selection.domain.toLowerCase();
  // In one tenant any certificate of the name (a FAILED first issuance too); across tenants the managed ones.
  const found = tenantId
    ? await withTenant(deps.db, tenantId, (tx) =>
        tx
          .select({ id: sslCertificates.id, tenantId: sslCertificates.tenantId, commonName: sslCertificates.commonName, renewAfter: sslCertificates.renewAfter, notAfter: sslCertificates.notAfter })
          .from(sslCertificates)
          .where(eq(sslCertificates.commonName, name)),
      )
    : await managedCertificates(deps.db, { name }, 2);
  if (found.length === 0) {
    throw new AppError('NOT_FOUND', `no certificate for ${name}${tenantId ? ' in this tenant' : ' (one never issued needs --tenant)'}`);
  }
  if (found.length > 1) throw new AppError('CONFLICT', `${name} has certificates in several tenants: name one with --tenant`);
  return found;
}

type Result = { kind: 'renewed' | 'failed'; line: string };

/** What a finished ISSUE_SSL job says about its certificate; null while it runs. */
function jobResult(job: Job, name: string): Result | null {
  if (job.status === 'FAILED') return { kind: 'failed', line: `failed ${name}: ${job.lastError ?? 'unknown error'}` };
  if (job.status !== 'SUCCEEDED') return null;
  const result = job.result ?? {};
  const error = typeof result.lastError === 'string' ? result.lastError : null;
  if (error || result.status !== 'ISSUED') return { kind: 'failed', line: `failed ${name}: ${error ?? `certificate ${String(result.status)}`}` };
  const notAfter = typeof result.notAfter === 'string' ? ` until ${result.notAfter}` : '';
  return { kind: 'renewed', line: `renewed ${name}${notAfter}` };
}

/** Runs the command; returns the exit code. */
export async function runSslRenew(deps: RenewalDeps, options: SslRenewOptions, io: SslRenewIo): Promise<number> {
  const targets = await selectTargets(deps, options);
  const scheduling = renewalProgress(io.progress, 'certificates scheduled');
  const scheduled = new Map<string, { job: Job; name: string }>();
  let skipped = 0;
  for (const [index, target] of targets.entries()) {
    const outcome = await scheduleRenewal(deps, target, { due: options.selection.kind === 'due' ? { now: options.now ?? new Date(), leaseMs: options.leaseMs } : undefined, actor: options.actor, reason: 'cli' });
    if (outcome.kind === 'scheduled') scheduled.set(outcome.job.id, { job: outcome.job, name: target.commonName });
    else {
      skipped += 1;
      io.out(`skipped ${target.commonName}: ${outcome.reason}`);
    }
    if (targets.length >= 20) scheduling(index + 1, targets.length, 0);
  }
  io.out(`ssl renew: ${targets.length} certificate(s) selected, ${scheduled.size} renewal(s) scheduled, ${skipped} skipped`);
  if (!options.wait || scheduled.size === 0) return 0;

  const following = renewalProgress(io.progress, 'certificates');
  const results = new Map<string, Result>();
  const deadline = Date.now() + options.timeoutMs;
  const byTenant = new Map<string, string[]>();
  for (const { job } of scheduled.values()) byTenant.set(job.tenantId, [...(byTenant.get(job.tenantId) ?? []), job.id]);
  for (;;) {
    for (const [tenantId, ids] of byTenant) {
      const open = ids.filter((id) => !results.has(id));
      if (open.length === 0) continue;
      const rows = await withTenant(deps.db, tenantId, (tx) => tx.select().from(jobs).where(inArray(jobs.id, open)));
      for (const row of rows) {
        const result = jobResult(row, scheduled.get(row.id)?.name ?? row.id);
        if (result) {
          results.set(row.id, result);
          io.out(result.line);
        }
      }
    }
    const failed = [...results.values()].filter((result) => result.kind === 'failed').length;
    following(results.size, scheduled.size, failed);
    if (results.size === scheduled.size) {
      io.out(`ssl renew: ${results.size - failed} renewed, ${failed} failed`);
      return failed > 0 ? 1 : 0;
    }
    if (Date.now() > deadline) {
      if (io.progress.isTTY) io.progress.write('\n');
      for (const [id, { job, name }] of scheduled) {
        if (!results.has(id)) io.out(`still waiting: ${name} (job ${id} on queue ${job.queue}): is a worker consuming that queue? (\`mpanel worker\`)`);
      }
      io.out(`ssl renew: timed out with ${scheduled.size - results.size} renewal(s) unfinished; they go on in the worker`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
  }
}
