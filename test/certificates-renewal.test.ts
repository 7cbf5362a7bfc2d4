import { randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createContainer, type Container } from '../src/container.js';
import { auditLogs, domainEvents, jobs, sslCertificates, subscriptions, websites, type Price, type Server, type SslCertificate, type Tenant } from '../src/db/schema/index.js';
import { SSL_RENEWAL_SCAN_SETTING } from '../src/db/schema/rls.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { PROVISIONING_QUEUE, serverQueue } from '../src/jobs/queue.js';
import { createRegistry } from '../src/jobs/registry.js';
import { cliActor } from '../src/modules/audit/audit.service.js';
import { runRenewalTask, type RenewalDeps } from '../src/modules/certificates/certificate-renewal.js';
import { certificateView } from '../src/modules/certificates/certificates.api.service.js';
import { privateKeyAssociatedData } from '../src/modules/certificates/certificates.service.js';
import { renewalProgress, runSslRenew } from '../src/modules/certificates/ssl-renew-cli.js';
import { issueSsl } from '../src/modules/certificates/steps/issue-ssl.js';
import { provisionHosting } from '../src/modules/hosting/steps/provision-hosting.js';
import { fetchFrom } from '../src/modules/provisioning/site-check.js';
import { verifyAndActivate } from '../src/modules/provisioning/steps/verify-and-activate.js';
import { defineStep } from '../src/modules/step-services.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildServer, buildTenant, buildUser } from './factories.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './helpers/orders.js';
import { startSmtpListener, type SmtpListener } from './helpers/smtp-listener.js';

/**
 * Renewal on the real services: two tenants each get a site with a certificate from the real
 * Pebble (order → DNS → hosting → ISSUE_SSL → verify), then the renewal task, run with an injected
 * clock that makes them due, schedules one ISSUE_SSL per certificate even with two workers' tasks
 * racing, and nginx serves the renewed certificate. With the CA down, a renewal fails, backs off
 * on the task's clock, and raises certificate.expiring once (an email to the tenant's staff);
 * with the CA back it renews and clears the alert. The CLI schedules and follows renewals.
 */
Object.assign(process.env, {
  JOB_MAX_ATTEMPTS: '3',
  SSL_ISSUE_MAX_ATTEMPTS: '2',
  JOB_BACKOFF_BASE_MS: '50',
  OUTBOX_SWEEP_INTERVAL_MS: '200',
  OUTBOX_PENDING_AFTER_MS: '300',
  SITE_CHECK_TIMEOUT_MS: '3000',
  SSL_RENEW_INTERVAL_MS: '200',
  SSL_RENEW_RETRY_BASE: '1h',
  SSL_RENEW_RETRY_MAX: '1d',
  SSL_EXPIRY_ALERT: '7d',
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestApp;
let smtp: SmtpListener;
let tenantA: Tenant;
let tenantB: Tenant;
let serverA: Server;
let serverB: Server;
let staffB: string;
let workerContainer: Container;
let raceContainer: Container;
let outageContainer: Container;
let workers: RunningWorkers;
let workersB: RunningWorkers;
let rootPem: string;
/** The worker's renewal task sees Date.now() + this. */
let clockOffsetMs = 0;
const run = randomBytes(3).toString('hex');
const zones = new Set<string>();
const sites: { domain: string; server: () => Server }[] = [];
const domainA = `renew-a-${run}.certs-renewal.test`;
const domainB = `renew-b-${run}.certs-renewal.test`;

async function powerDns(method: string, resource: string, body?: unknown): Promise<Response> {
  return fetch(`${t.env.POWERDNS_API_URL}/servers/${t.env.POWERDNS_SERVER_ID}${resource}`, {
    method,
    headers: { 'x-api-key': t.env.POWERDNS_API_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** TEST-ONLY PROVISION_DNS: the zone with A records for @ and www at 127.0.0.1. */
const testDns = defineStep({
  type: 'PROVISION_DNS',
  payload: z.looseObject({ domain: z.string() }),
  async handle({ domain }) {
    const rrsets = [domain, `www.${domain}`].map((name) => ({ name: `${name}.`, type: 'A', ttl: 60, changetype: 'REPLACE', records: [{ content: '127.0.0.1', disabled: false }] }));
    zones.add(domain);
    const created = await powerDns('POST', '/zones', { name: `${domain}.`, kind: 'Native', nameservers: ['ns1.mpanel.test.'], rrsets });
    if (!created.ok && created.status !== 409) throw new Error(`PowerDNS POST ${created.status}: ${await created.text()}`);
    return {};
  },
});

const registry = () => createRegistry([testDns, provisionHosting, issueSsl, verifyAndActivate]);
const db = () => t.container.database.db;
const renewalDeps = (container: Container): RenewalDeps => ({ db: container.database.db, producer: container.producer, logger: container.logger, maxAttempts: container.env.SSL_ISSUE_MAX_ATTEMPTS });
const settings = { batch: 50, expiryAlertMs: 7 * DAY, leaseMs: HOUR };

async function placeOrder(tenant: Tenant, price: Price, domain: string): Promise<string> {
  const raw = JSON.stringify(orderPayload(tenant, price, { domain }));
  const res = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ subscriptionId: string }>().subscriptionId;
}

async function activated(tenant: Tenant, subscriptionId: string): Promise<void> {
  await eventually(
    async () => {
      const [row] = await withTenant(db(), tenant.id, (tx) => tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, subscriptionId)));
      return row?.status === 'ACTIVE';
    },
    60_000,
    'the order to be ACTIVE',
  );
}

const certificateOf = async (tenant: Tenant, domain: string): Promise<SslCertificate> => {
  const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(sslCertificates).where(eq(sslCertificates.commonName, domain)));
  if (!row) throw new Error(`no certificate for ${domain}`);
  return row;
};

/** The ISSUE_SSL jobs with force (renewals) of a tenant, oldest first. */
const renewalJobs = async (tenant: Tenant) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.type, 'ISSUE_SSL')).orderBy(jobs.createdAt))).filter((job) => job.payload.force === true);

const finishedJob = (tenant: Tenant, id: string) =>
  eventually(
    async () => {
      const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.id, id)));
      return row && ['SUCCEEDED', 'FAILED'].includes(row.status) ? row : null;
    },
    60_000,
    `job ${id} to finish`,
  );

const eventsOf = async (tenant: Tenant, certificateId: string) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.subjectId, certificateId)).orderBy(domainEvents.seq))).map((event) => event.type);

const servedSerial = async (domain: string) => (await fetchFrom(domain, '127.0.0.1', t.env.NGINX_HTTPS_PORT, 3_000, { ca: rootPem })).certificate?.serialNumber;

const serialOf = (row: SslCertificate) => new X509Certificate(row.certificatePem!).serialNumber;

beforeAll(async () => {
  smtp = await startSmtpListener();
  process.env.SMTP_PORT = String(smtp.port);
  t = await createTestApp();
  tenantA = await buildTenant(db());
  tenantB = await buildTenant(db());
  serverA = await buildServer(db(), tenantA, { hostname: `web-a-${run}.local`, ipv4: '127.0.0.1', httpPort: t.env.NGINX_HTTP_PORT });
  serverB = await buildServer(db(), tenantB, { hostname: `web-b-${run}.local`, ipv4: '127.0.0.1', httpPort: t.env.NGINX_HTTP_PORT });
  staffB = (await buildUser(db(), tenantB, { role: 'ADMIN' })).user.email.toLowerCase();
  const features = { diskQuotaMb: 512, mailboxes: 0, sslIncluded: true };
  const { price: priceA } = await buildOffer(db(), tenantA, { features });
  const { price: priceB } = await buildOffer(db(), tenantB, { features });
  rootPem = await fs.readFile(t.env.SITE_CHECK_CA_FILE!, 'utf8');
  workerContainer = createContainer(t.env, 'worker');
  raceContainer = createContainer(t.env, 'worker');
  outageContainer = createContainer({ ...t.env, ACME_DIRECTORY_URL: 'https://127.0.0.1:9/dir' }, 'worker');
  workers = await startWorkers(workerContainer, { registry: registry(), queues: [PROVISIONING_QUEUE, serverQueue(serverA.id)], clock: () => new Date(Date.now() + clockOffsetMs) });
  workersB = await startWorkers(workerContainer, { registry: registry(), queues: [serverQueue(serverB.id)] });
  sites.push({ domain: domainA, server: () => serverA }, { domain: domainB, server: () => serverB });
  const [subA, subB] = await Promise.all([placeOrder(tenantA, priceA, domainA), placeOrder(tenantB, priceB, domainB)]);
  await Promise.all([activated(tenantA, subA), activated(tenantB, subB)]);
  for (const [tenant, domain] of [[tenantA, domainA], [tenantB, domainB]] as const) {
    expect(await certificateOf(tenant, domain)).toMatchObject({ status: 'ISSUED', renewalFailures: 0 });
  }
}, 120_000);

afterAll(async () => {
  await workers?.close();
  await workersB?.close();
  for (const site of sites) await workerContainer?.providers.hosting.forServer(site.server()).removeSite(site.domain, null).catch(() => undefined);
  await workerContainer?.close();
  await raceContainer?.close();
  await outageContainer?.close();
  await Promise.all([...zones].map((zone) => powerDns('DELETE', `/zones/${zone}.`)));
  await smtp?.close();
  await t?.close();
});

describe('the renewal scan across tenants', () => {
  it('sees only managed certificates, only with its setting, and cannot write', async () => {
    // No tenant and no scan setting: nothing.
    expect(await db().select({ id: sslCertificates.id }).from(sslCertificates)).toEqual([]);
    const seen = await db().transaction(async (tx) => {
      await tx.execute(sql`select set_config(${SSL_RENEWAL_SCAN_SETTING}, 'on', true)`);
      const rows = await tx.select({ tenantId: sslCertificates.tenantId, renewAfter: sslCertificates.renewAfter }).from(sslCertificates);
      const updated = await tx.update(sslCertificates).set({ lastError: 'scan wrote this' }).returning({ id: sslCertificates.id });
      return { rows, updated };
    });
    expect(new Set(seen.rows.map((row) => row.tenantId))).toEqual(new Set([tenantA.id, tenantB.id]));
    expect(seen.rows.every((row) => row.renewAfter !== null)).toBe(true);
    expect(seen.updated).toEqual([]);
  });
});

describe('the renewal task', () => {
  it('two workers racing over the same due certificates schedule one renewal each; nginx serves the renewed certificates, same key', async () => {
    const before = { a: await certificateOf(tenantA, domainA), b: await certificateOf(tenantB, domainB) };
    // Nothing is due today.
    expect(await runRenewalTask(renewalDeps(raceContainer), settings)).toMatchObject({ due: 0, scheduled: 0 });
    const now = new Date(Math.max(before.a.renewAfter!.getTime(), before.b.renewAfter!.getTime()) + 1_000);
    const runs = await Promise.all([workerContainer, raceContainer, workerContainer, raceContainer].map((container) => runRenewalTask(renewalDeps(container), settings, now)));
    expect(runs.reduce((sum, result) => sum + result.scheduled, 0)).toBe(2);
    const scheduledA = await renewalJobs(tenantA);
    const scheduledB = await renewalJobs(tenantB);
    expect([scheduledA.length, scheduledB.length]).toEqual([1, 1]);
    expect(scheduledA[0]!.queue).toBe(serverQueue(serverA.id));
    expect(scheduledA[0]!.payload).toMatchObject({ force: true, scheduledAt: now.toISOString() });

    for (const [tenant, domain, job, old] of [
      [tenantA, domainA, scheduledA[0]!, before.a],
      [tenantB, domainB, scheduledB[0]!, before.b],
    ] as const) {
      const done = await finishedJob(tenant, job.id);
      expect(done.status).toBe('SUCCEEDED');
      expect(done.result).toMatchObject({ status: 'ISSUED', issued: true, vhostChanged: false });
      const row = await certificateOf(tenant, domain);
      expect(row.fingerprintSha256).not.toBe(old.fingerprintSha256);
      expect(row.renewAfter!.getTime()).toBeGreaterThan(Date.now());
      const secrets = workerContainer.stepServices.secrets;
      expect(secrets.openText(row.privateKeyEncrypted!, privateKeyAssociatedData(row.id))).toBe(secrets.openText(old.privateKeyEncrypted!, privateKeyAssociatedData(old.id)));
      expect(await servedSerial(domain)).toBe(serialOf(row));
      expect(await eventsOf(tenant, row.id)).toEqual(['certificate.issued', 'certificate.renewed']);
      const audit = await withTenant(db(), tenant.id, (tx) =>
        tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, row.id), eq(auditLogs.action, 'ssl_certificate.renew_requested'))),
      );
      expect(audit.map((entry) => entry.metadata)).toEqual([expect.objectContaining({ reason: 'due', jobId: job.id })]);
    }
    // Renewed: nothing is due today again.
    expect(await runRenewalTask(renewalDeps(raceContainer), settings)).toMatchObject({ due: 0, scheduled: 0 });
  }, 90_000);

  it("the worker's repeatable task renews a certificate once its clock passes renew_after", async () => {
    const before = await certificateOf(tenantA, domainA);
    clockOffsetMs = before.renewAfter!.getTime() - Date.now() + 1_000;
    const job = await eventually(async () => (await renewalJobs(tenantA)).find((row) => row.createdAt > before.updatedAt), 30_000, 'the worker to schedule the renewal');
    clockOffsetMs = 0;
    expect(await finishedJob(tenantA, job.id)).toMatchObject({ status: 'SUCCEEDED', result: expect.objectContaining({ issued: true }) });
    const row = await certificateOf(tenantA, domainA);
    expect(row.serialNumber).not.toBe(before.serialNumber);
    expect(await servedSerial(domainA)).toBe(serialOf(row));
  }, 60_000);

  it('with the CA down: the renewal fails, backs off on the task\'s clock, alerts once near expiry (staff email), and recovers when the CA is back', async () => {
    // B's certificate is renewed by a worker whose CA does not answer.
    await eventually(async () => (await renewalJobs(tenantB)).every((job) => ['SUCCEEDED', 'FAILED'].includes(job.status)), 30_000, "B's renewals to settle");
    await workersB.close();
    workersB = await startWorkers(outageContainer, { registry: registry(), queues: [serverQueue(serverB.id)] });
    const before = await certificateOf(tenantB, domainB);
    const eventsBefore = (await eventsOf(tenantB, before.id)).length;
    const deps = renewalDeps(raceContainer);
    // A's certificate was issued with B's: a run in B's tenant only keeps A out of this story.
    const onlyB = { tenantId: tenantB.id };
    const now = new Date(before.notAfter!.getTime() - 5 * DAY);

    // Due, not failing yet: a renewal, no alert.
    const first = await runRenewalTask(deps, settings, now, onlyB);
    expect(first).toMatchObject({ alerted: 0, scheduled: 1 });
    const [job] = (await renewalJobs(tenantB)).slice(-1);
    expect(await finishedJob(tenantB, job!.id)).toMatchObject({ status: 'SUCCEEDED', attempts: 2, result: expect.objectContaining({ status: 'ISSUED', https: true }) });
    const failed = await certificateOf(tenantB, domainB);
    // Still valid, so still served and still ISSUED; the error and the backoff recorded.
    expect(failed).toMatchObject({ status: 'ISSUED', renewalFailures: 1, fingerprintSha256: before.fingerprintSha256, expiryAlertedAt: null });
    expect(failed.lastError).toMatch(/127\.0\.0\.1:9|ECONNREFUSED|unavailable/i);
    expect(failed.renewAfter!.getTime()).toBe(now.getTime() + HOUR);
    expect(await servedSerial(domainB)).toBe(serialOf(before));

    // Failing 5 days before expiry: the alert, once; within the backoff no new try; after it, the next.
    const alertAt = new Date(now.getTime() + 30 * 60_000);
    expect(await runRenewalTask(deps, settings, alertAt, onlyB)).toMatchObject({ alerted: 1, scheduled: 0 });
    expect((await certificateOf(tenantB, domainB)).expiryAlertedAt).toEqual(alertAt);
    expect(await runRenewalTask(deps, settings, new Date(alertAt.getTime() + 60_000), onlyB)).toMatchObject({ alerted: 0, scheduled: 0 });
    const later = new Date(now.getTime() + HOUR + 1_000);
    expect(await runRenewalTask(deps, settings, later, onlyB)).toMatchObject({ alerted: 0, scheduled: 1 });
    const [retry] = (await renewalJobs(tenantB)).slice(-1);
    await finishedJob(tenantB, retry!.id);
    const twice = await certificateOf(tenantB, domainB);
    expect(twice.renewalFailures).toBe(2);
    // What staff see (GET /api/ssl-certificates[/:id]): the failures in a row and the alert.
    expect(certificateView(twice)).toMatchObject({ status: 'ISSUED', renewalFailures: 2, expiryAlertedAt: alertAt, lastError: twice.lastError });
    expect(twice.renewAfter!.getTime()).toBe(later.getTime() + 2 * HOUR);

    expect((await eventsOf(tenantB, before.id)).slice(eventsBefore)).toEqual(['certificate.failed', 'certificate.expiring', 'certificate.failed']);
    const alerts = await withTenant(db(), tenantB.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, before.id), eq(auditLogs.action, 'ssl_certificate.expiring'))));
    expect(alerts).toHaveLength(1);
    const failures = await withTenant(db(), tenantB.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, before.id), eq(auditLogs.action, 'ssl_certificate.failed'))));
    expect(failures.map((entry) => entry.metadata)).toEqual([expect.objectContaining({ operation: 'renew' }), expect.objectContaining({ operation: 'renew' })]);
    // The worker's event loop mails the tenant's staff.
    const mail = await eventually(async () => smtp.received.find((received) => received.envelopeTo.includes(staffB) && /expires/.test(received.parsed.subject ?? '')), 30_000, 'the expiry email');
    expect(mail.parsed.subject).toContain(domainB);
    expect(mail.parsed.text).toMatch(/127\.0\.0\.1:9|ECONNREFUSED|unavailable/i);
    expect(mail.parsed.text).not.toMatch(/PRIVATE KEY/);

    // The CA is back: the next due run renews, and the failure count and the alert are cleared.
    await workersB.close();
    workersB = await startWorkers(workerContainer, { registry: registry(), queues: [serverQueue(serverB.id)] });
    const back = new Date(twice.renewAfter!.getTime() + 1_000);
    expect(await runRenewalTask(deps, settings, back, onlyB)).toMatchObject({ scheduled: 1 });
    const [recovery] = (await renewalJobs(tenantB)).slice(-1);
    expect(await finishedJob(tenantB, recovery!.id)).toMatchObject({ status: 'SUCCEEDED', result: expect.objectContaining({ issued: true }) });
    const renewed = await certificateOf(tenantB, domainB);
    expect(renewed).toMatchObject({ status: 'ISSUED', renewalFailures: 0, expiryAlertedAt: null, lastError: null });
    expect(await servedSerial(domainB)).toBe(serialOf(renewed));
    expect((await eventsOf(tenantB, before.id)).slice(-1)).toEqual(['certificate.renewed']);
  }, 120_000);

  it('a renewal waiting for a worker that is down is not scheduled twice and leaves the front of the line until its lease runs out', async () => {
    await workersB.close();
    const before = await certificateOf(tenantB, domainB);
    const deps = renewalDeps(raceContainer);
    const onlyB = { tenantId: tenantB.id };
    const now = new Date(before.renewAfter!.getTime() + 1_000);
    expect(await runRenewalTask(deps, settings, now, onlyB)).toMatchObject({ due: 1, scheduled: 1 });
    const [waiting] = (await renewalJobs(tenantB)).slice(-1);
    expect((await certificateOf(tenantB, domainB)).renewAfter).toEqual(new Date(now.getTime() + HOUR));
    expect(await runRenewalTask(deps, settings, new Date(now.getTime() + 30 * 60_000), onlyB)).toMatchObject({ due: 0, scheduled: 0 });
    const afterLease = new Date(now.getTime() + HOUR + 1_000);
    expect(await runRenewalTask(deps, settings, afterLease, onlyB)).toMatchObject({ due: 1, scheduled: 0, skipped: 1 });
    expect((await certificateOf(tenantB, domainB)).renewAfter).toEqual(new Date(afterLease.getTime() + HOUR));
    expect((await renewalJobs(tenantB)).slice(-1)[0]?.id).toBe(waiting!.id);
    // The worker is back: the waiting job renews.
    workersB = await startWorkers(workerContainer, { registry: registry(), queues: [serverQueue(serverB.id)] });
    expect(await finishedJob(tenantB, waiting!.id)).toMatchObject({ status: 'SUCCEEDED', result: expect.objectContaining({ issued: true }) });
    expect(await servedSerial(domainB)).toBe(serialOf(await certificateOf(tenantB, domainB)));
  }, 60_000);
});

describe('mpanel ssl renew', () => {
  const io = () => {
    const lines: string[] = [];
    const progress: string[] = [];
    return { lines, progress, io: { out: (line: string) => lines.push(line), progress: { isTTY: true, write: (text: string) => progress.push(text) } } };
  };

  it('<domain> renews one certificate and follows it to the end with a progress bar; --due finds nothing due', async () => {
    const before = await certificateOf(tenantA, domainA);
    const out = io();
    const code = await runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'domain', domain: domainA }, actor: cliActor, leaseMs: HOUR, wait: true, timeoutMs: 60_000, pollMs: 100 }, out.io);
    expect(code, out.lines.join('\n')).toBe(0);
    expect(out.lines[0]).toBe('ssl renew: 1 certificate(s) selected, 1 renewal(s) scheduled, 0 skipped');
    expect(out.lines).toContainEqual(expect.stringMatching(new RegExp(`^renewed ${domainA.replace(/\./g, '\\.')} until `)));
    expect(out.lines.at(-1)).toBe('ssl renew: 1 renewed, 0 failed');
    expect(out.progress.at(-1)).toBe(`\r[${'#'.repeat(30)}] 1/1 certificates\n`);
    const row = await certificateOf(tenantA, domainA);
    expect(row.serialNumber).not.toBe(before.serialNumber);
    expect(await servedSerial(domainA)).toBe(serialOf(row));
    const audit = await withTenant(db(), tenantA.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, row.id), eq(auditLogs.action, 'ssl_certificate.renew_requested'))));
    expect(audit.filter((entry) => entry.metadata?.reason === 'cli')).toEqual([expect.objectContaining({ actorType: 'CLI' })]);

    const due = io();
    expect(await runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'due' }, actor: cliActor, leaseMs: HOUR, wait: true, timeoutMs: 5_000 }, due.io)).toBe(0);
    expect(due.lines).toEqual(['ssl renew: 0 certificate(s) selected, 0 renewal(s) scheduled, 0 skipped']);
  }, 60_000);

  it('--all --tenant renews only that tenant; a second run while the first is in progress skips; an unknown domain is an error', async () => {
    const jobsOfA = (await renewalJobs(tenantA)).length;
    const first = io();
    expect(await runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'all' }, tenantId: tenantB.id, actor: cliActor, leaseMs: HOUR, wait: false, timeoutMs: 1_000 }, first.io)).toBe(0);
    expect(first.lines).toEqual(['ssl renew: 1 certificate(s) selected, 1 renewal(s) scheduled, 0 skipped']);
    const [job] = (await renewalJobs(tenantB)).slice(-1);
    const second = io();
    await runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'all' }, tenantId: tenantB.id, actor: cliActor, leaseMs: HOUR, wait: false, timeoutMs: 1_000 }, second.io);
    const finishedFirst = await finishedJob(tenantB, job!.id);
    // Either the first job was still in progress (skipped) or it had finished (a new one scheduled): never two at once.
    if (second.lines.at(-1)?.includes('0 renewal(s) scheduled')) {
      expect(second.lines[0]).toMatch(new RegExp(`^skipped ${domainB.replace(/\./g, '\\.')}: An ISSUE_SSL job \\(${job!.id}\\) of this site is still in progress`));
    } else {
      const [next] = (await renewalJobs(tenantB)).slice(-1);
      expect(next!.createdAt.getTime()).toBeGreaterThanOrEqual(finishedFirst.finishedAt!.getTime());
      await finishedJob(tenantB, next!.id);
    }
    expect((await renewalJobs(tenantA)).length).toBe(jobsOfA);
    await expect(
      runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'domain', domain: `nothing-${run}.test` }, actor: cliActor, leaseMs: HOUR, wait: false, timeoutMs: 1_000 }, io().io),
    ).rejects.toThrow(/no certificate for nothing-/);
  }, 60_000);

  it('the wait times out naming the queue no worker consumes (exit 1); the renewal goes on once a worker is back', async () => {
    await workersB.close();
    const out = io();
    const code = await runSslRenew(
      renewalDeps(raceContainer),
      { selection: { kind: 'domain', domain: domainB }, tenantId: tenantB.id, actor: cliActor, leaseMs: HOUR, wait: true, timeoutMs: 300, pollMs: 50 },
      out.io,
    );
    expect(code).toBe(1);
    const [job] = (await renewalJobs(tenantB)).slice(-1);
    expect(out.lines.slice(-2)).toEqual([
      `still waiting: ${domainB} (job ${job!.id} on queue ${serverQueue(serverB.id)}): is a worker consuming that queue? (\`mpanel worker\`)`,
      'ssl renew: timed out with 1 renewal(s) unfinished; they go on in the worker',
    ]);
    workersB = await startWorkers(workerContainer, { registry: registry(), queues: [serverQueue(serverB.id)] });
    expect(await finishedJob(tenantB, job!.id)).toMatchObject({ status: 'SUCCEEDED', result: expect.objectContaining({ issued: true }) });
  }, 60_000);

  it('a certificate whose site is gone leaves the task (renew_after cleared) instead of coming back at every run', async () => {
    const before = await certificateOf(tenantA, domainA);
    await withTenant(db(), tenantA.id, (tx) => tx.update(websites).set({ status: 'TERMINATED' }).where(eq(websites.domainId, before.domainId)));
    const now = new Date(before.renewAfter!.getTime() + 1_000);
    expect(await runRenewalTask(renewalDeps(raceContainer), settings, now, { tenantId: tenantA.id })).toMatchObject({ due: 1, scheduled: 0, skipped: 1 });
    expect((await certificateOf(tenantA, domainA)).renewAfter).toBeNull();
    expect(await runRenewalTask(renewalDeps(raceContainer), settings, new Date(now.getTime() + 365 * DAY), { tenantId: tenantA.id })).toMatchObject({ due: 0 });
    await expect(runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'domain', domain: domainA }, actor: cliActor, leaseMs: HOUR, wait: false, timeoutMs: 1_000 }, io().io)).rejects.toThrow(
      /no certificate for .*never issued needs --tenant/,
    );
    const out = io();
    await runSslRenew(renewalDeps(raceContainer), { selection: { kind: 'domain', domain: domainA }, tenantId: tenantA.id, actor: cliActor, leaseMs: HOUR, wait: false, timeoutMs: 1_000 }, out.io);
    expect(out.lines[0]).toBe(`skipped ${domainA}: The site of this certificate is not hosted (any more): nothing to renew`);
  });

  it('progress: a bar redrawn in place on a terminal, a line per change otherwise', () => {
    const tty: string[] = [];
    const bar = renewalProgress({ isTTY: true, write: (text) => tty.push(text) }, 'certificates');
    bar(0, 4, 0);
    bar(2, 4, 1);
    bar(2, 4, 1);
    bar(4, 4, 1);
    expect(tty).toEqual([`\r[${' '.repeat(30)}] 0/4 certificates`, `\r[${'#'.repeat(15)}${' '.repeat(15)}] 2/4 certificates, 1 failed`, `\r[${'#'.repeat(30)}] 4/4 certificates, 1 failed\n`]);
    const log: string[] = [];
    const lines = renewalProgress({ write: (text) => log.push(text) }, 'certificates');
    lines(1, 2, 0);
    lines(2, 2, 0);
    expect(log).toEqual(['ssl renew: 1/2 certificates\n', 'ssl renew: 2/2 certificates\n']);
  });
});
