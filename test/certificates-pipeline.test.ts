import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createContainer, type Container } from '../src/container.js';
import { auditLogs, jobs, servers, sslCertificates, subscriptions, type Price, type Server, type Tenant } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { PROVISIONING_QUEUE, serverQueue } from '../src/jobs/queue.js';
import { createRegistry } from '../src/jobs/registry.js';
import { privateKeyAssociatedData, requestCertificate } from '../src/modules/certificates/certificates.service.js';
import { issueSsl } from '../src/modules/certificates/steps/issue-ssl.js';
import { provisionHosting } from '../src/modules/hosting/steps/provision-hosting.js';
import { fetchFrom } from '../src/modules/provisioning/site-check.js';
import { verifyAndActivate } from '../src/modules/provisioning/steps/verify-and-activate.js';
import { defineStep } from '../src/modules/step-services.js';
import { CertificateError } from '../src/providers/certificates.port.js';
import { InvalidSiteDomainError } from '../src/providers/hosting.port.js';
import { renderPlaceholder } from '../src/providers/nginx/vhost.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildServer, buildTenant, buildUser } from './factories.js';
import { authHeader } from './helpers/auth.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './helpers/orders.js';

/**
 * HTTPS end to end on the real services: orders with sslIncluded through DNS (a TEST-ONLY step
 * writing @ and www → 127.0.0.1 to PowerDNS), PROVISION_HOSTING, ISSUE_SSL against the real
 * Pebble (which resolves through PowerDNS and fetches http-01 tokens from the shared nginx) and
 * VERIFY_AND_ACTIVATE, then what a visitor sees on nginx's HTTPS port with Pebble's root trusted.
 * A second worker whose CA is down (nothing listens at its directory URL) shows the failure path.
 */
Object.assign(process.env, {
  JOB_MAX_ATTEMPTS: '3',
  JOB_BACKOFF_BASE_MS: '50',
  OUTBOX_SWEEP_INTERVAL_MS: '200',
  OUTBOX_PENDING_AFTER_MS: '300',
  WORKER_METRICS_PORT: '0',
  SITE_CHECK_TIMEOUT_MS: '3000',
});

let t: TestApp;
let tenant: Tenant;
let server: Server;
let outageServer: Server;
let sslPrice: Price;
let wildcardPrice: Price;
let workerContainer: Container;
let outageContainer: Container;
let workers: RunningWorkers;
let outageWorkers: RunningWorkers;
let rootPem: string;
const run = randomBytes(3).toString('hex');
const zones = new Set<string>();
const sites = new Set<string>();

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

beforeAll(async () => {
  t = await createTestApp();
  const db = t.container.database.db;
  tenant = await buildTenant(db);
  server = await buildServer(db, tenant, { hostname: `web-${run}.local`, ipv4: '127.0.0.1', httpPort: t.env.NGINX_HTTP_PORT });
  outageServer = await buildServer(db, tenant, { hostname: `web-outage-${run}.local`, ipv4: '127.0.0.1', httpPort: t.env.NGINX_HTTP_PORT });
  ({ price: sslPrice } = await buildOffer(db, tenant, { features: { diskQuotaMb: 512, mailboxes: 0, sslIncluded: true } }));
  ({ price: wildcardPrice } = await buildOffer(db, tenant, { features: { diskQuotaMb: 512, mailboxes: 0, sslIncluded: true, sslWildcard: true, hsts: true } }));
  rootPem = await fs.readFile(t.env.SITE_CHECK_CA_FILE!, 'utf8');
  workerContainer = createContainer(t.env, 'worker');
  workers = await startWorkers(workerContainer, { registry: registry(), queues: [PROVISIONING_QUEUE, serverQueue(server.id)] });
  // The CA is down for this worker: nothing listens on port 9 of loopback.
  outageContainer = createContainer({ ...t.env, ACME_DIRECTORY_URL: 'https://127.0.0.1:9/dir' }, 'worker');
  outageWorkers = await startWorkers(outageContainer, { registry: registry(), queues: [serverQueue(outageServer.id)] });
}, 60_000);

afterAll(async () => {
  await workers?.close();
  await outageWorkers?.close();
  const hosting = workerContainer.providers.hosting.forServer(server);
  for (const domain of sites) await hosting.removeSite(domain, null).catch(() => undefined);
  await workerContainer?.close();
  await outageContainer?.close();
  await Promise.all([...zones].map((zone) => powerDns('DELETE', `/zones/${zone}.`)));
  await t.close();
});

const db = () => t.container.database.db;

async function placeOrder(price: Price, domain: string, onServer: Server) {
  sites.add(domain);
  // Intake picks the least loaded server: make the wanted one the only ACTIVE one for this order.
  const other = onServer.id === server.id ? outageServer : server;
  await withTenant(db(), tenant.id, async (tx) => {
    await tx.update(servers).set({ status: 'ACTIVE' }).where(eq(servers.id, onServer.id));
    await tx.update(servers).set({ status: 'DISABLED' }).where(eq(servers.id, other.id));
  });
  const raw = JSON.stringify(orderPayload(tenant, price, { domain }));
  const res = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ orderId: string; subscriptionId: string }>();
}

const subscriptionStatus = async (id: string) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, id))))[0]?.status;

const jobsOf = (orderId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.orderId, orderId)));

const certificateOf = async (domain: string) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select().from(sslCertificates).where(eq(sslCertificates.commonName, domain))))[0];

const httpsGet = (name: string) => fetchFrom(name, '127.0.0.1', t.env.NGINX_HTTPS_PORT, 3_000, { ca: rootPem });

async function finished(subscriptionId: string) {
  await eventually(async () => ['ACTIVE', 'FAILED'].includes((await subscriptionStatus(subscriptionId)) ?? ''), 60_000, 'the order to finish');
  return subscriptionStatus(subscriptionId);
}

describe('ISSUE_SSL in the order pipeline', () => {
  it('an order with sslIncluded ends ACTIVE and served over HTTPS (http-01), HTTP redirecting, the key sealed', async () => {
    const domain = `tls-${run}.certs-pipeline.test`;
    const accepted = await placeOrder(sslPrice, domain, server);
    expect(await finished(accepted.subscriptionId)).toBe('ACTIVE');
    const rows = await jobsOf(accepted.orderId);
    expect(rows.map((row) => [row.type, row.status]).sort()).toEqual([
      ['ISSUE_SSL', 'SUCCEEDED'],
      ['PROVISION_DNS', 'SUCCEEDED'],
      ['PROVISION_HOSTING', 'SUCCEEDED'],
      ['VERIFY_AND_ACTIVATE', 'SUCCEEDED'],
    ]);
    const issue = rows.find((row) => row.type === 'ISSUE_SSL')!;
    expect(issue.queue).toBe(serverQueue(server.id));
    expect(issue.result).toMatchObject({ status: 'ISSUED', https: true, issued: true, names: [domain, `www.${domain}`] });
    const verify = rows.find((row) => row.type === 'VERIFY_AND_ACTIVATE')!;
    expect(verify.result).toMatchObject({ https: true });

    // A visitor with Pebble's root trusted: 200, the placeholder, a certificate covering the name.
    for (const name of [domain, `www.${domain}`]) {
      const answer = await httpsGet(name);
      expect(answer.status).toBe(200);
      expect(answer.body).toBe(renderPlaceholder(domain));
      expect(answer.certificate?.subjectAltName).toBe(`DNS:${domain}, DNS:www.${domain}`);
      expect(answer.headers?.['strict-transport-security']).toBeUndefined();
      // HTTP redirects, except ACME challenges.
      const plain = await fetchFrom(name, '127.0.0.1', t.env.NGINX_HTTP_PORT, 3_000);
      expect([plain.status, plain.location]).toEqual([301, `https://${name}:${t.env.NGINX_HTTPS_PORT}/`]);
    }
    const challenge = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: t.env.NGINX_HTTP_PORT, path: '/.well-known/acme-challenge/nothing-here', headers: { host: domain }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(challenge).toBe(404);

    // Stored: the chain in clear, the key sealed (no PEM in the row), opening to the served certificate's key.
    const row = (await certificateOf(domain))!;
    expect(row).toMatchObject({ status: 'ISSUED', altNames: [domain, `www.${domain}`], lastError: null, challenge: 'http-01' });
    expect(row.privateKeyEncrypted).toMatch(/^v1\./);
    expect(row.privateKeyEncrypted).not.toContain('PRIVATE KEY');
    const key = workerContainer.stepServices.secrets.openText(row.privateKeyEncrypted!, privateKeyAssociatedData(row.id));
    expect(new X509Certificate(row.certificatePem!).checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(row.renewAfter!.getTime()).toBeLessThan(row.notAfter!.getTime() - 29 * 86_400_000);
    // On the server: 0600 for nginx's worker user, key and chain in one file per SNI name.
    for (const name of [domain, `www.${domain}`]) {
      const stat = await fs.stat(path.join(t.env.NGINX_CERTS_DIR, domain, `${name}.pem`));
      expect([stat.mode & 0o777, `${stat.uid}:${stat.gid}`]).toEqual([0o600, t.env.NGINX_TLS_KEY_OWNER]);
    }
    // Audited without key material.
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, row.id), eq(auditLogs.action, 'ssl_certificate.issued'))));
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toMatch(/PRIVATE KEY|v1\./);
  }, 90_000);

  it('a wildcard product gets domain + *.domain through dns-01 (PowerDNS), with HSTS', async () => {
    const domain = `wild-${run}.certs-pipeline.test`;
    const accepted = await placeOrder(wildcardPrice, domain, server);
    expect(await finished(accepted.subscriptionId)).toBe('ACTIVE');
    const row = (await certificateOf(domain))!;
    expect(row).toMatchObject({ status: 'ISSUED', altNames: [domain, `*.${domain}`], challenge: 'dns-01' });
    const answer = await httpsGet(`www.${domain}`);
    expect(answer.status).toBe(200);
    expect(answer.certificate?.subjectAltName).toBe(`DNS:${domain}, DNS:*.${domain}`);
    expect(answer.headers?.['strict-transport-security']).toBe('max-age=31536000');
    // The challenge TXT records are gone again.
    const zone = await (await powerDns('GET', `/zones/${domain}.`)).json() as { rrsets: { type: string }[] };
    expect(zone.rrsets.filter((rrset) => rrset.type === 'TXT')).toEqual([]);
  }, 90_000);

  it('with the CA down: retries, then the certificate is FAILED with the error, the site serves HTTP and the subscription is ACTIVE', async () => {
    const domain = `outage-${run}.certs-pipeline.test`;
    const accepted = await placeOrder(sslPrice, domain, outageServer);
    expect(await finished(accepted.subscriptionId)).toBe('ACTIVE');
    const issue = (await jobsOf(accepted.orderId)).find((row) => row.type === 'ISSUE_SSL')!;
    expect(issue).toMatchObject({ status: 'SUCCEEDED', attempts: 3 });
    expect(issue.result).toMatchObject({ status: 'FAILED', https: false });
    const row = (await certificateOf(domain))!;
    expect(row.status).toBe('FAILED');
    expect(row.lastError).toMatch(/127\.0\.0\.1:9|ECONNREFUSED|unavailable/i);
    expect(row.privateKeyEncrypted).toBeNull();
    const plain = await fetchFrom(domain, '127.0.0.1', t.env.NGINX_HTTP_PORT, 3_000);
    expect(plain.status).toBe(200);
    expect(plain.body).toBe(renderPlaceholder(domain));
    const alerts = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, row.id), eq(auditLogs.action, 'ssl_certificate.failed'))));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.metadata).toMatchObject({ operation: 'issue', kind: 'ca-unavailable' });

    // The API shows it; once the CA is back, an admin's renew issues it and the site moves to HTTPS.
    const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const headers = await authHeader(t.env, admin);
    const list = await t.app.inject({ method: 'GET', url: '/api/ssl-certificates?status=FAILED', headers });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ items: { id: string; lastError: string }[] }>().items.map((item) => item.id)).toContain(row.id);
    const one = await t.app.inject({ method: 'GET', url: `/api/ssl-certificates/${row.id}`, headers });
    expect(one.json()).toMatchObject({ id: row.id, status: 'FAILED', names: [domain, `www.${domain}`], lastError: row.lastError });
    expect(one.body).not.toMatch(/PRIVATE KEY|privateKey/);
    await outageWorkers.close();
    outageWorkers = await startWorkers(workerContainer, { registry: registry(), queues: [serverQueue(outageServer.id)] });
    const renew = await t.app.inject({ method: 'POST', url: `/api/ssl-certificates/${row.id}/renew`, headers });
    expect(renew.statusCode, renew.body).toBe(202);
    await eventually(async () => (await certificateOf(domain))?.status === 'ISSUED', 30_000, 'the renewed certificate');
    expect((await eventually(async () => {
      const answer = await httpsGet(domain).catch(() => null);
      return answer?.status === 200 ? answer : null;
    }, 10_000, 'HTTPS after the retry')).body).toBe(renderPlaceholder(domain));
    expect(await subscriptionStatus(accepted.subscriptionId)).toBe('ACTIVE');
  }, 90_000);
});

describe('certificates on the web server', () => {
  it('a name that does not resolve fails validation with the CA\'s words', async () => {
    const domain = `nodns-${run}.certs-pipeline.test`;
    const hosting = workerContainer.providers.hosting.forServer(server);
    const error = await requestCertificate(db(), workerContainer.stepServices, hosting, domain, false).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CertificateError);
    expect((error as CertificateError).kind).toBe('validation-failed');
    expect((error as CertificateError).caMessage).toMatch(/resolve|NXDOMAIN|no valid A records/i);
  }, 60_000);

  it('a forced renewal replaces the served certificate with no failed request meanwhile; suspension answers over HTTPS; removal deletes the key', async () => {
    const domain = `tls-${run}.certs-pipeline.test`; // issued by the first test
    const hosting = workerContainer.providers.hosting.forServer(server);
    const before = (await httpsGet(domain)).certificate;
    let stop = false;
    const failures: string[] = [];
    let requests = 0;
    const loop = (async () => {
      while (!stop) {
        try {
          const answer = await httpsGet(domain);
          requests += 1;
          if (answer.status !== 200) failures.push(`status ${answer.status}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    })();
    const stored = (await certificateOf(domain))!;
    const key = workerContainer.stepServices.secrets.openText(stored.privateKeyEncrypted!, privateKeyAssociatedData(stored.id));
    const renewed = await requestCertificate(db(), workerContainer.stepServices, hosting, domain, false, key);
    expect(renewed.privateKeyPem).toBe(key);
    const installed = await hosting.installCertificate(domain, { chainPem: renewed.certificatePem, privateKeyPem: renewed.privateKeyPem }, { hsts: false });
    expect(installed.vhostChanged).toBe(false); // no reload: nginx reads the file at the next handshake
    // Keep the loop going until it has made a few requests against the swapped certificate.
    const atSwap = requests;
    await eventually(async () => requests >= atSwap + 5, 10_000, 'requests after the swap');
    stop = true;
    await loop;
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(5);
    const after = (await httpsGet(domain)).certificate;
    expect(after?.validTo).toBeDefined();
    expect(new X509Certificate(renewed.certificatePem).serialNumber).not.toBe(before?.serialNumber);
    expect((await httpsGet(domain)).certificate?.serialNumber).toBe(new X509Certificate(renewed.certificatePem).serialNumber);

    await hosting.suspendSite(domain);
    const suspended = await eventually(async () => {
      const answer = await httpsGet(domain);
      return answer.status === 503 ? answer : null;
    }, 10_000, 'the suspended page over HTTPS');
    expect(suspended.body).toContain('This website is suspended');
    await hosting.unsuspendSite(domain);
    await eventually(async () => (await httpsGet(domain)).status === 200, 10_000, 'the site back over HTTPS');

    await hosting.removeSite(domain, null);
    sites.delete(domain);
    await expect(fs.stat(path.join(t.env.NGINX_CERTS_DIR, domain))).rejects.toThrow(/ENOENT/);
  }, 60_000);

  it('hostile names and tokens are refused before any path or config line', async () => {
    const hosting = workerContainer.providers.hosting.forServer(server);
    const pem = { chainPem: '-----BEGIN CERTIFICATE-----\n', privateKeyPem: '-----BEGIN PRIVATE KEY-----\n' };
    for (const hostile of ['../etc', 'a.test/../../x', 'a.test;include /etc/passwd', 'A.TEST', 'a.test\n}']) {
      await expect(hosting.installCertificate(hostile, pem, { hsts: false })).rejects.toBeInstanceOf(InvalidSiteDomainError);
      await expect(hosting.putAcmeChallenge(hostile, 'tok', 'tok.x')).rejects.toBeInstanceOf(InvalidSiteDomainError);
      await expect(hosting.removeCertificate(hostile)).rejects.toBeInstanceOf(InvalidSiteDomainError);
    }
    await expect(hosting.putAcmeChallenge('fine.test', '../../x', '../../x.y')).rejects.toThrow(/base64url/);
    await expect(fs.stat(path.join(t.env.NGINX_CERTS_DIR, '..', 'etc'))).rejects.toThrow(/ENOENT/);
  });
});
