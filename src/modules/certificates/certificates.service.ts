import { randomInt } from 'node:crypto';
import { eq, inArray, isNotNull, and } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { acmeAccounts, domains, sslCertificates, type SslCertificate } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import {
  CertificateError,
  type CertificateAccount,
  type CertificateAuthorities,
  type CertificateAuthority,
  type CertificateRequest,
  type Dns01Hooks,
  type IssuedCertificate,
} from '../../providers/certificates.port.js';
import type { DnsPort } from '../../providers/dns.port.js';
import type { HostingPort } from '../../providers/hosting.port.js';
import type { SecretBox } from '../../shared/crypto/secret-box.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { recordEvent, type DomainEventPayload } from '../events/domain-events.js';
import { countCertificateFailure } from './certificate-metrics.js';

/**
 * Certificates of the hosted sites: the install's ACME account, issuing a certificate for a
 * site's names (http-01 through the site's web root, dns-01 through PowerDNS for a wildcard),
 * storing it (the key sealed with SECRETS_ENCRYPTION_KEY), putting it on the web server, and
 * recording a failure the way an admin sees it (FAILED with the CA's words, an audit row, a metric).
 * Used by ISSUE_SSL, the renewal task and the API's renew.
 */

const DAY_MS = 86_400_000;

/** What issuing needs from the composition root (a subset of StepServices). */
export interface CertificateServices {
  readonly certificates: CertificateAuthorities;
  readonly secrets: SecretBox;
  readonly dns: DnsPort;
}

export function privateKeyAssociatedData(certificateId: string): string {
  return `ssl_certificates:${certificateId}:private_key`;
}

function accountAssociatedData(directoryUrl: string): string {
  return `acme_accounts:${directoryUrl}:account_key`;
}

const accounts = new WeakMap<CertificateAuthorities, Promise<CertificateAccount>>();

/**
 * The install's ACME account at the configured CA: read from acme_accounts (sealed key), or
 * registered once and stored. Two workers registering at once both register; the first row
 * stored wins and the other account is simply never used.
 */
export async function installAuthority(db: Database, services: CertificateServices): Promise<CertificateAuthority> {
  const { certificates, secrets } = services;
  let account = accounts.get(certificates);
  if (!account) {
    account = loadOrRegisterAccount(db, certificates, secrets);
    accounts.set(certificates, account);
    account.catch(() => accounts.delete(certificates));
  }
  return certificates.forAccount(await account);
}

async function loadOrRegisterAccount(db: Database, certificates: CertificateAuthorities, secrets: SecretBox): Promise<CertificateAccount> {
  const directoryUrl = certificates.directoryUrl;
  const read = async () => {
    const [row] = await db.select().from(acmeAccounts).where(eq(acmeAccounts.directoryUrl, directoryUrl));
    return row ? { accountUrl: row.accountUrl, accountKeyPem: secrets.openText(row.accountKeyEncrypted, accountAssociatedData(directoryUrl)) } : null;
  };
  const stored = await read();
  if (stored) return stored;
  const registered = await certificates.forAccount(null).ensureAccount();
  await db
    .insert(acmeAccounts)
    .values({ directoryUrl, accountUrl: registered.accountUrl, accountKeyEncrypted: secrets.seal(registered.accountKeyPem, accountAssociatedData(directoryUrl)) })
    .onConflictDoNothing();
  const winner = await read();
  if (!winner) throw new Error(`the ACME account for ${directoryUrl} was stored but cannot be read back`);
  return winner;
}

/** The names a site's certificate covers: the domain and www (http-01), or the domain and its wildcard (dns-01). */
export function certificateNames(domain: string, wildcard: boolean): { names: string[]; challenge: 'http-01' | 'dns-01' } {
  return wildcard ? { names: [domain, `*.${domain}`], challenge: 'dns-01' } : { names: [domain, `www.${domain}`], challenge: 'http-01' };
}

/**
 * dns-01 in the site's own zone: a wildcard and its base name put two values at one fqdn at
 * once, so changes to an fqdn are serialised and each writes the whole set of values.
 */
function zoneDns01(dns: DnsPort, zone: string): Dns01Hooks {
  const live = new Map<string, Set<string>>();
  let queue: Promise<void> = Promise.resolve();
  const change = (fqdn: string, edit: (values: Set<string>) => void): Promise<void> => {
    const next = queue.then(async () => {
      const values = live.get(fqdn) ?? new Set<string>();
      edit(values);
      live.set(fqdn, values);
      await dns.patchRRsets(zone, [
        values.size === 0 ? { kind: 'delete', name: fqdn, type: 'TXT' } : { kind: 'replace', name: fqdn, type: 'TXT', ttl: 60, contents: [...values].map((value) => `"${value}"`) },
      ]);
    });
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    setTxt: (fqdn, value) => change(fqdn, (values) => values.add(value)),
    removeTxt: (fqdn, value) => change(fqdn, (values) => values.delete(value)),
  };
}

/** A new certificate from the CA for the site's names, proving control through the site (http-01) or its zone (dns-01). */
export async function requestCertificate(
  db: Database,
  services: CertificateServices,
  hosting: HostingPort,
  domain: string,
  wildcard: boolean,
  /** The key to keep (a renewal): see CertificateRequest.privateKeyPem. */
  privateKeyPem: string | null = null,
): Promise<IssuedCertificate> {
  const { names, challenge } = certificateNames(domain, wildcard);
  const key = privateKeyPem ? { privateKeyPem } : {};
  const authority = await installAuthority(db, services);
  const request: CertificateRequest =
    challenge === 'http-01'
      ? {
          names,
          challenge,
          ...key,
          http01: { put: (token, keyAuthorization) => hosting.putAcmeChallenge(domain, token, keyAuthorization), remove: (token) => hosting.removeAcmeChallenge(domain, token) },
        }
      : { names, challenge, ...key, dns01: zoneDns01(services.dns, domain) };
  return authority.issue(request);
}

/**
 * When the renewal task takes a certificate: two thirds into its lifetime or 30 days before it
 * expires, whichever is sooner, moved earlier by a random part (up to 1/15 of the lifetime, at
 * most 3 days) so that certificates issued together are not all renewed in the same minute.
 */
export function renewalTime(notBefore: Date, notAfter: Date, spreadMs = randomInt(0, 1 + Math.floor(Math.min((notAfter.getTime() - notBefore.getTime()) / 15, 3 * DAY_MS)))): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  const twoThirds = notBefore.getTime() + Math.floor((lifetime * 2) / 3);
  const monthBefore = notAfter.getTime() - 30 * DAY_MS;
  return new Date(Math.max(notBefore.getTime(), Math.min(twoThirds, monthBefore) - spreadMs));
}

/** The certificate row of a domain, created PENDING when there is none (one row per domain, renewed in place). */
export async function ensureCertificateRow(tx: Tx, values: { tenantId: string; domainId: string; websiteId: string | null; domain: string; wildcard: boolean }): Promise<SslCertificate> {
  const { names, challenge } = certificateNames(values.domain, values.wildcard);
  await tx
    .insert(sslCertificates)
    .values({ tenantId: values.tenantId, domainId: values.domainId, websiteId: values.websiteId, commonName: values.domain, altNames: names, status: 'PENDING', challenge })
    .onConflictDoNothing({ target: sslCertificates.domainId });
  const [row] = await tx.select().from(sslCertificates).where(eq(sslCertificates.domainId, values.domainId)).for('update');
  if (!row) throw new Error(`no certificate row for domain ${values.domainId}`);
  return row;
}

/** What an audit row may say about a certificate: never the key. */
export function certificateAudit(row: Pick<SslCertificate, 'status' | 'altNames' | 'serialNumber' | 'notAfter' | 'fingerprintSha256' | 'issuer'>): Record<string, unknown> {
  return { status: row.status, names: row.altNames, serialNumber: row.serialNumber, notAfter: row.notAfter?.toISOString() ?? null, fingerprintSha256: row.fingerprintSha256, issuer: row.issuer };
}

/** The facts of a certificate event (ids, names, expiry, error): never key material. */
export async function certificateEventFacts(tx: Tx, row: SslCertificate, error?: string | null): Promise<DomainEventPayload<'certificate.issued'>> {
  const [domain] = await tx.select({ subscriptionId: domains.subscriptionId }).from(domains).where(eq(domains.id, row.domainId));
  return {
    certificateId: row.id,
    subscriptionId: domain?.subscriptionId ?? null,
    names: row.altNames.length > 0 ? row.altNames : [row.commonName],
    notAfter: row.notAfter?.toISOString() ?? null,
    ...(error ? { error } : {}),
  };
}

/**
 * Stores an issued certificate in its row (the key sealed to that row), audited, with the
 * certificate.issued event (or certificate.renewed when the row held a certificate before);
 * clears the renewal backoff and the expiry alert. Returns the row.
 */
export async function storeIssued(
  db: Database,
  secrets: SecretBox,
  tenantId: string,
  certificateId: string,
  issued: IssuedCertificate,
  audit: { actor: AuditActor; metadata: Record<string, unknown> },
): Promise<SslCertificate> {
  return withTenant(db, tenantId, async (tx) => {
    const [before] = await tx.select().from(sslCertificates).where(eq(sslCertificates.id, certificateId)).for('update');
    if (!before) throw new Error(`certificate ${certificateId} does not exist`);
    const [row] = await tx
      .update(sslCertificates)
      .set({
        status: 'ISSUED',
        commonName: issued.names[0] ?? before.commonName,
        altNames: [...issued.names],
        issuer: [issued.issuer.commonName, issued.issuer.organization].filter(Boolean).join(', ') || null,
        serialNumber: issued.serialNumber,
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        certificatePem: issued.certificatePem,
        privateKeyEncrypted: secrets.seal(issued.privateKeyPem, privateKeyAssociatedData(certificateId)),
        fingerprintSha256: issued.fingerprintSha256,
        renewAfter: renewalTime(issued.notBefore, issued.notAfter),
        lastError: null,
        failedAt: null,
        renewalFailures: 0,
        expiryAlertedAt: null,
        updatedAt: new Date(),
      })
      .where(eq(sslCertificates.id, certificateId))
      .returning();
    if (!row) throw new Error(`certificate ${certificateId} vanished`);
    await recordAudit(tx, {
      tenantId,
      actor: audit.actor,
      action: 'ssl_certificate.issued',
      targetType: 'ssl_certificate',
      targetId: row.id,
      before: before.status === 'PENDING' ? null : certificateAudit(before),
      after: certificateAudit(row),
      metadata: audit.metadata,
    });
    const renewed = before.certificatePem !== null && before.notAfter !== null;
    await recordEvent(tx, tenantId, { type: renewed ? 'certificate.renewed' : 'certificate.issued', subject: { type: 'ssl_certificate', id: row.id }, payload: await certificateEventFacts(tx, row) });
    return row;
  });
}

/**
 * When the renewal task tries again after `failures` renewals in a row gave up: `baseMs`,
 * doubling per failure, at most `maxMs`.
 */
export function renewalRetryDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
}

/** The CA's own words for a failure when it sent some, else the message (both without key material). */
export function failureText(error: unknown): { kind: string; message: string } {
  if (error instanceof CertificateError) return { kind: error.kind, message: error.caMessage ? `${error.message} (CA: ${error.caMessage})` : error.message };
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

export interface RenewalRetry {
  readonly baseMs: number;
  readonly maxMs: number;
  /** The renewal task's clock when it scheduled the job: the backoff counts from it when it is later than now. */
  readonly from?: Date | undefined;
}

function renewalBackoff(failures: number, renewAfter: Date, now: number, retry: RenewalRetry = { baseMs: 3_600_000, maxMs: 86_400_000 }) {
  const delay = renewalRetryDelay(failures, retry.baseMs, retry.maxMs);
  const from = Math.max(now, retry.from?.getTime() ?? now);
  return { renewalFailures: failures, renewAfter: new Date(Math.max(renewAfter.getTime(), from + delay)) };
}

/**
 * The admin alert for a certificate that could not be obtained after every attempt: the row
 * records it (FAILED, or still ISSUED with lastError when a valid certificate keeps serving), an
 * audit row `ssl_certificate.failed`, the certificate.failed event (staff email), the failure
 * metric, and an error log line. A renewal also backs off: renewal_failures counts up and
 * renew_after moves to now + renewalRetryDelay (never earlier than it was), so the renewal task
 * tries again later rather than at its next run.
 */
export async function recordFailure(
  db: Database,
  logger: Logger,
  tenantId: string,
  certificateId: string,
  error: unknown,
  context: { operation: 'issue' | 'renew'; actor: AuditActor; metadata: Record<string, unknown>; retry?: RenewalRetry },
): Promise<SslCertificate> {
  const { kind, message } = failureText(error);
  const lastError = message.slice(0, 2000);
  const row = await withTenant(db, tenantId, async (tx) => {
    const [before] = await tx.select().from(sslCertificates).where(eq(sslCertificates.id, certificateId)).for('update');
    if (!before) throw new Error(`certificate ${certificateId} does not exist`);
    const now = Date.now();
    const stillValid = before.status === 'ISSUED' && before.notAfter !== null && before.notAfter.getTime() > now;
    // A managed certificate (renew_after set) backs off; a first issuance waits for an admin's retry.
    const backoff = context.operation === 'renew' && before.renewAfter !== null ? renewalBackoff(before.renewalFailures + 1, before.renewAfter, now, context.retry) : {};
    const [after] = await tx
      .update(sslCertificates)
      .set({ status: stillValid ? 'ISSUED' : 'FAILED', lastError, failedAt: new Date(now), updatedAt: new Date(now), ...backoff })
      .where(eq(sslCertificates.id, certificateId))
      .returning();
    if (!after) throw new Error(`certificate ${certificateId} vanished`);
    await recordAudit(tx, {
      tenantId,
      actor: context.actor,
      action: 'ssl_certificate.failed',
      targetType: 'ssl_certificate',
      targetId: certificateId,
      before: certificateAudit(before),
      after: { ...certificateAudit(after), lastError },
      metadata: { ...context.metadata, operation: context.operation, kind },
    });
    await recordEvent(tx, tenantId, { type: 'certificate.failed', subject: { type: 'ssl_certificate', id: certificateId }, payload: await certificateEventFacts(tx, after, lastError) });
    return after;
  });
  countCertificateFailure(context.operation, kind);
  logger.error({ certificateId, kind, operation: context.operation, names: row.altNames }, `ALERT certificate ${context.operation} for ${row.altNames.join(', ')} failed for good: ${lastError}`);
  return row;
}

/** The stored key of an ISSUED certificate, opened (for writing it to the web server again). */
export function openPrivateKey(secrets: SecretBox, row: SslCertificate): string {
  if (!row.privateKeyEncrypted) throw new Error(`certificate ${row.id} has no stored key`);
  return secrets.openText(row.privateKeyEncrypted, privateKeyAssociatedData(row.id));
}

/** True when the row's certificate can keep serving: ISSUED, not due for renewal, names as wanted. */
export function isCurrent(row: SslCertificate, names: readonly string[], now = new Date()): boolean {
  return (
    row.status === 'ISSUED' &&
    row.certificatePem !== null &&
    row.privateKeyEncrypted !== null &&
    row.notAfter !== null &&
    row.notAfter > now &&
    (row.renewAfter === null || row.renewAfter > now) &&
    names.every((name) => row.altNames.includes(name))
  );
}

/**
 * Termination: the certificates of these domains lose their key (nothing is revoked; the chain
 * stays as a record), audited. The files on the web server go with the site (removeSite).
 */
export async function deleteCertificateKeys(tx: Tx, tenantId: string, domainIds: readonly string[], metadata: Record<string, unknown>): Promise<number> {
  if (domainIds.length === 0) return 0;
  const rows = await tx
    .update(sslCertificates)
    .set({ privateKeyEncrypted: null, renewAfter: null, updatedAt: new Date() })
    .where(and(inArray(sslCertificates.domainId, [...domainIds]), isNotNull(sslCertificates.privateKeyEncrypted)))
    .returning();
  for (const row of rows) {
    await recordAudit(tx, { tenantId, actor: { type: 'SYSTEM' }, action: 'ssl_certificate.deleted', targetType: 'ssl_certificate', targetId: row.id, before: certificateAudit(row), after: { key: 'deleted' }, metadata });
  }
  return rows.length;
}
