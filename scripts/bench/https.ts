import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { loadEnv } from '../../src/config/env.js';
import type { HostingLayout, SiteListen } from '../../src/providers/hosting.port.js';
import { LocalHost } from '../../src/providers/host/local-host.js';
import { NginxHosting } from '../../src/providers/nginx/nginx-hosting.js';
import { NginxReloader } from '../../src/providers/nginx/nginx-reloader.js';
import { placeholderMarker, renderVhost, siteNames, sitePaths } from '../../src/providers/nginx/vhost.js';
import { freePort, startPrivateNginx, type PrivateNginx } from '../../test/helpers/nginx.js';
import { round, sleep, summary, type Figure } from './lib.js';
import { hardOpenFilesLimit, workerUser, writeSharedEntries, writeSiteFiles } from './nginx.js';
import { execFileAsync, nginxMasterPid } from './provisioning.js';

/**
 * HTTPS sites at scale (issue 14), on a PRIVATE nginx (temp prefix, free HTTP and HTTPS ports; the
 * shared one is left alone), certificate files where the provider puts them (one key + chain file
 * per SNI name, named through `$ssl_server_name`, so nginx reads them at the handshake):
 *  - the per-site layout (a TLS server block per site): `nginx -t` + reload until a new HTTPS site
 *    answers over TLS, with 1 and 1,000 HTTPS sites (why the shared layout is the default);
 *  - then every site moves to the configured layout (NGINX_SITE_LAYOUT, shared unless set) and the
 *    server fills to 5,000 HTTPS sites: `nginx -t` there; the web-server half of ISSUE_SSL through
 *    the provider (NginxHosting.installCertificate on a site served over HTTP) until the site
 *    answers over TLS with its certificate: target ≤ 1 s, as for a new HTTP site;
 *  - the renewal of 1,000 certificates in one batch through the provider (the same key, a new
 *    chain, as the renewal job installs it): time and nginx reloads, by a just-started worker and
 *    by a running one, then a sample of sites checked to serve the new certificate.
 * The certificates are self-signed here (openssl, one wildcard for the bench's names): what is
 * measured is the web server's side. The ACME side (Pebble) is the `acme` section's, per
 * certificate; the renewal task runs one job per certificate through the worker.
 */

const SECTION = 'https';
const PER_SITE_COUNTS = [1, 1_000];
const SITES = Number(process.env.BENCH_HTTPS_SITES ?? 5_000);
const RENEWALS = Number(process.env.BENCH_HTTPS_RENEWALS ?? 1_000);
const REPS = 5;
const SAMPLE = 20;
const CONCURRENCY = 16;
const TARGET_NEW_SITE_MS = 1_000;
const SUFFIX = 'bench-https.test';
const execFileP = promisify(execFile);

const env = loadEnv({ NGINX_SITE_ERROR_LOGS: 'false', ...process.env });

interface SelfSigned {
  readonly keyPem: string;
  readonly chainPem: string;
  readonly serial: string;
}

/** A self-signed ECDSA certificate for *.SUFFIX with the given key (made when null). */
async function selfSigned(dir: string, keyFile: string | null, label: string): Promise<SelfSigned & { keyFile: string }> {
  const key = keyFile ?? path.join(dir, 'key.pem');
  if (keyFile === null) await execFileP('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const cert = path.join(dir, `${label}.pem`);
  await execFileP('openssl', ['req', '-x509', '-new', '-key', key, '-days', '30', '-subj', `/CN=${label}.${SUFFIX}`, '-addext', `subjectAltName=DNS:*.${SUFFIX}`, '-out', cert]);
  const chainPem = await fs.readFile(cert, 'utf8');
  return { keyPem: await fs.readFile(key, 'utf8'), chainPem, serial: new X509Certificate(chainPem).serialNumber, keyFile: key };
}

/** The serial of the certificate the site serves for `name`, and whether the body is its placeholder. */
function fetchTls(port: number, name: string, ca: string): Promise<{ status: number; serial: string; placeholder: boolean }> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port, path: '/', servername: name, headers: { host: name }, ca, agent: false, timeout: 5_000 }, (response) => {
      const serial = (response.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, serial, placeholder: body.includes(placeholderMarker(name)) }));
    });
    request.on('timeout', () => request.destroy(new Error(`no TLS answer from ${name} within 5 s`)));
    request.on('error', reject);
  });
}

/** Polls until `name` answers 200 with its placeholder over TLS (with `serial` when given); the instant it did. */
async function waitTls(port: number, name: string, ca: string, serial?: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    const answer = await fetchTls(port, name, ca).catch((error: unknown) => {
      last = error instanceof Error ? error.message : String(error);
      return null;
    });
    if (answer?.status === 200 && answer.placeholder && (serial === undefined || answer.serial === serial)) return performance.now();
    if (answer) last = `${answer.status}, serial ${answer.serial}`;
    if (Date.now() > deadline) throw new Error(`${name} not served over TLS within ${timeoutMs} ms (last: ${last})`);
    await sleep(5);
  }
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export async function benchHttps(): Promise<Figure[]> {
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mpanel-bench-https-'));
  const nginx: PrivateNginx = await startPrivateNginx({ maxOpenFiles: await hardOpenFilesLimit() });
  const layout: HostingLayout = { webRoot: nginx.webRoot, sitesDir: nginx.sitesDir, nginxConf: nginx.conf, nginxCommand: ['nginx'] };
  const listen: SiteListen = { ipv4: '127.0.0.1', ipv6: null, port: nginx.port, httpsPort: await freePort() };
  const httpsPort = listen.httpsPort ?? 0;
  const siteErrorLog = env.NGINX_SITE_ERROR_LOGS;
  // nginx's workers read the key files at the handshake: they are theirs (nobody), 0600.
  const owner = workerUser();
  const siteLayout = env.NGINX_SITE_LAYOUT;
  const first = await selfSigned(scratch, null, 'first');
  const renewedCold = await selfSigned(scratch, first.keyFile, 'renewed-cold');
  const renewed = await selfSigned(scratch, first.keyFile, 'renewed');
  const pem = `${first.keyPem.trimEnd()}\n${first.chainPem.trimEnd()}\n`;
  let sites = 0;
  const domains: string[] = [];
  const nextDomain = () => `s${++sites}.${SUFFIX}`;

  /** An HTTPS site as the provider leaves it after ISSUE_SSL in `layoutNow`, written directly: the fill is not what is measured. */
  async function writeSite(domain: string, layoutNow: 'shared' | 'per-site' = 'per-site'): Promise<void> {
    const paths = sitePaths(layout, domain);
    await fs.mkdir(path.dirname(paths.certDir), { recursive: true, mode: 0o711 });
    await fs.mkdir(paths.certDir, { recursive: true, mode: 0o700 });
    await fs.chown(paths.certDir, owner.uid, owner.gid);
    for (const name of siteNames(domain)) {
      const file = path.join(paths.certDir, `${name}.pem`);
      await fs.writeFile(file, pem, { mode: 0o600 });
      await fs.chown(file, owner.uid, owner.gid);
    }
    // The vhost (or the links) last, once the key files are there.
    await writeSiteFiles(layout, domain, renderVhost(layout, listen, domain, 'active', { siteErrorLog, tls: { hsts: false } }));
    if (layoutNow === 'shared') {
      await writeSharedEntries(layout, domain, owner);
      await fs.rm(sitePaths(layout, domain).vhost);
    }
    domains.push(domain);
  }

  async function fillTo(count: number, layoutNow: 'shared' | 'per-site' = 'per-site'): Promise<void> {
    await inBatches(Array.from({ length: Math.max(0, count - sites) }, nextDomain), 64, (domain) => writeSite(domain, layoutNow));
  }

  async function nginxTest(): Promise<number> {
    const started = performance.now();
    await execFileAsync('nginx', ['-p', path.dirname(nginx.conf), '-c', nginx.conf, '-t', '-q']);
    return performance.now() - started;
  }

  async function reloadOnce(): Promise<{ total: number; test: number }> {
    const domain = nextDomain();
    await writeSite(domain);
    const started = performance.now();
    const test = await nginxTest();
    process.kill(await nginxMasterPid(nginx.conf), 'SIGHUP');
    return { total: (await waitTls(httpsPort, domain, first.chainPem)) - started, test };
  }

  const figures: Figure[] = [];
  try {
    for (const count of PER_SITE_COUNTS) {
      await fillTo(count - 1);
      const runs: { total: number; test: number }[] = [];
      for (let i = 0; i < REPS; i++) runs.push(await reloadOnce());
      const total = summary(runs.map((run) => run.total));
      const label = `per-site layout, ${count.toLocaleString('en-US')} HTTPS site${count === 1 ? '' : 's'}`;
      figures.push(
        { section: SECTION, name: `${label}: nginx -t + reload → served over TLS p50`, value: round(total.p50, 0), unit: 'ms' },
        { section: SECTION, name: `${label}: of which nginx -t p50`, value: round(summary(runs.map((run) => run.test)).p50, 0), unit: 'ms' },
      );
      process.stderr.write(`bench: https reload with ${label}: p50 ${round(total.p50, 0)} ms\n`);
    }

    if (siteLayout === 'shared') {
      await inBatches([...domains], 64, async (domain) => {
        await writeSharedEntries(layout, domain, owner);
        await fs.rm(sitePaths(layout, domain).vhost);
      });
    }
    await fillTo(SITES, siteLayout);
    const host = new LocalHost();
    const reloader = new NginxReloader(host, layout, env.NGINX_RELOAD_BATCH_MS);
    const hosting = new NginxHosting({ host, layout, listen, reloader, siteErrorLog, tlsKeyOwner: owner, siteLayout });
    // A just-started worker's first change loads the configuration as it stands (the shared file).
    await hosting.ensureSite(nextDomain());
    const tests: number[] = [];
    for (let i = 0; i < REPS; i++) tests.push(await nginxTest());
    figures.push({ section: SECTION, name: `${siteLayout} layout, ${sites.toLocaleString('en-US')} HTTPS sites: nginx -t p50`, value: round(summary(tests).p50, 0), unit: 'ms' });
    const certificate = { chainPem: first.chainPem, privateKeyPem: first.keyPem };

    // The web server's half of ISSUE_SSL on a site already live over HTTP.
    const switched: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const domain = nextDomain();
      await hosting.ensureSite(domain);
      const started = performance.now();
      await hosting.installCertificate(domain, certificate, { hsts: false });
      switched.push((await waitTls(httpsPort, domain, first.chainPem)) - started);
      domains.push(domain);
    }
    const switchTimes = summary(switched);
    const label = `${siteLayout} layout, HTTP site → HTTPS with ${sites.toLocaleString('en-US')} HTTPS sites`;
    figures.push(
      { section: SECTION, name: `${label}: installCertificate → served over TLS p50`, value: round(switchTimes.p50, 0), unit: 'ms' },
      {
        section: SECTION,
        name: `${label}: installCertificate → served over TLS max (${REPS} runs)`,
        value: round(switchTimes.max, 0),
        unit: 'ms',
        target: `<= ${TARGET_NEW_SITE_MS} ms`,
        met: switchTimes.max <= TARGET_NEW_SITE_MS,
      },
    );

    // Renewal: the same key, a new chain, for RENEWALS sites at once. Twice: first by a worker just
    // started (per-site: it has not seen nginx load these vhosts, so it reloads once per batch, as a
    // process that died between writing a vhost and reloading would otherwise leave it unloaded;
    // shared: it loads the shared file once), then as a running worker does.
    const batch = domains.slice(domains.length - RENEWALS);
    const renewAll = async (by: NginxHosting, next: SelfSigned): Promise<{ ms: number; reloads: number }> => {
      const reloadsBefore = by.stats.reloads;
      const started = performance.now();
      await inBatches(batch, CONCURRENCY, (domain) => by.installCertificate(domain, { chainPem: next.chainPem, privateKeyPem: next.keyPem }, { hsts: false }));
      return { ms: performance.now() - started, reloads: by.stats.reloads - reloadsBefore };
    };
    const justStarted = new NginxHosting({ host, layout, listen, reloader: new NginxReloader(host, layout, env.NGINX_RELOAD_BATCH_MS), siteErrorLog, tlsKeyOwner: owner, siteLayout });
    const cold = await renewAll(justStarted, renewedCold);
    const { ms: renewMs, reloads } = await renewAll(justStarted, renewed);
    const step = Math.max(1, Math.floor(batch.length / SAMPLE));
    const sample = batch.filter((_, index) => index % step === 0).slice(0, SAMPLE);
    const stale: string[] = [];
    for (const domain of sample) {
      const answer = await fetchTls(httpsPort, domain, renewed.chainPem).catch(() => null);
      if (answer?.serial !== renewed.serial) stale.push(domain);
    }
    const count = batch.length.toLocaleString('en-US');
    figures.push(
      { section: SECTION, name: `${siteLayout} layout, renewal of ${count} certificates, worker just started: time`, value: round(cold.ms / 1000, 1), unit: 's' },
      { section: SECTION, name: `${siteLayout} layout, renewal of ${count} certificates, worker just started: nginx reloads`, value: cold.reloads, unit: 'reloads' },
      { section: SECTION, name: `${siteLayout} layout, renewal of ${count} certificates in one batch (installCertificate, ${CONCURRENCY} at a time)`, value: round(renewMs / 1000, 1), unit: 's' },
      { section: SECTION, name: `${siteLayout} layout, renewal of ${count} certificates: nginx reloads`, value: reloads, unit: 'reloads', target: '= 0', met: reloads === 0 },
      { section: SECTION, name: `renewal: sampled sites serving the new certificate (of ${sample.length})`, value: sample.length - stale.length, unit: 'sites', target: `= ${sample.length}`, met: stale.length === 0 },
    );
    return figures;
  } finally {
    await nginx.stop();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
