import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, getByHost, startPrivateNginx, waitForAnswer, type PrivateNginx } from '../../../test/helpers/nginx.js';
import { HostingError, type HostingLayout, type SiteCertificate, type SiteListen } from '../hosting.port.js';
import { LocalHost } from '../host/local-host.js';
import { NginxHosting } from './nginx-hosting.js';
import { NginxReloader } from './nginx-reloader.js';
import { placeholderMarker, renderVhost } from './vhost.js';

/**
 * The shared layout (NGINX_SITE_LAYOUT=shared) on a private nginx with an HTTPS port: sites,
 * suspension, the HTTPS switch, renewal and removal are files and links that nginx sees at the
 * next request, with no reload after the shared file's first one.
 */
const WORKER = { uid: 65534, gid: 65534 };
let nginx: PrivateNginx;
let layout: HostingLayout;
let listen: SiteListen;
let httpsPort: number;
let reloader: NginxReloader;
let hosting: NginxHosting;
const scratch = mkdtempSync(path.join(tmpdir(), 'mpanel-shared-layout-'));

beforeAll(async () => {
  nginx = await startPrivateNginx();
  httpsPort = await freePort();
  layout = { webRoot: nginx.webRoot, sitesDir: nginx.sitesDir, nginxConf: nginx.conf, nginxCommand: ['nginx'] };
  listen = { ipv4: '127.0.0.1', ipv6: null, port: nginx.port, httpsPort };
  const host = new LocalHost();
  reloader = new NginxReloader(host, layout, 10);
  hosting = new NginxHosting({ host, layout, listen, reloader, tlsKeyOwner: WORKER, siteLayout: 'shared' });
});

afterAll(async () => {
  await nginx.stop();
  await fs.rm(scratch, { recursive: true, force: true });
});

/** A self-signed certificate for `names` (its own root); `keyFile` reuses a key, as renewals do. */
function selfSigned(names: readonly string[], keyFile?: string): SiteCertificate & { serial: string; keyFile: string } {
  const dir = mkdtempSync(path.join(scratch, 'cert-'));
  const key = keyFile ?? path.join(dir, 'key.pem');
  if (!keyFile) execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}`, '-out', cert]);
  const chainPem = readFileSync(cert, 'utf8');
  return { chainPem, privateKeyPem: readFileSync(key, 'utf8'), serial: new X509Certificate(chainPem).serialNumber, keyFile: key };
}

interface TlsAnswer {
  status: number;
  serial: string;
  hsts: string | undefined;
  body: string;
}

function getTls(name: string, ca: string, servername = name): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port: httpsPort, servername, headers: { host: name }, ca, agent: false, timeout: 5_000 }, (response) => {
      const serial = (response.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        const hsts = response.headers['strict-transport-security'];
        resolve({ status: response.statusCode ?? 0, serial, hsts: Array.isArray(hsts) ? hsts[0] : hsts, body });
      });
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

let counter = 0;
const newDomain = (label: string) => `${label}-${++counter}.shared-layout.test`;

describe('shared layout', () => {
  it('serves a new site by both names with no vhost and no reload after the shared file', async () => {
    const first = newDomain('first');
    const result = await hosting.ensureSite(first);
    expect(result).toMatchObject({ vhostPath: path.join(nginx.sitesDir, '_mpanel-sites.conf'), placeholder: true, vhostChanged: true });
    expect(await fs.readdir(nginx.sitesDir)).toEqual(['_mpanel-sites.conf']);
    const reloads = reloader.stats.reloads;
    expect(reloads).toBe(1);

    const domains = [newDomain('a'), newDomain('b'), newDomain('c')];
    await Promise.all(domains.map((domain) => hosting.ensureSite(domain)));
    for (const domain of [first, ...domains]) {
      for (const name of [domain, `www.${domain}`]) {
        // No waiting: served the moment ensureSite returned.
        const answer = await getByHost(nginx.port, name);
        expect([answer.status, answer.body.includes(placeholderMarker(domain))]).toEqual([200, true]);
        expect(answer.headers['x-content-type-options']).toBe('nosniff');
      }
    }
    expect(reloader.stats.reloads).toBe(reloads);
    expect((await hosting.ensureSite(first)).vhostChanged).toBe(false);

    // The worker writes each site's access log; another name, an address or a hostile Host gets nothing.
    await waitForAnswer(nginx.port, first, () => existsSync(path.join(nginx.webRoot, first, 'logs', 'access.log')));
    expect(readFileSync(path.join(nginx.webRoot, first, 'logs', 'access.log'), 'utf8')).toContain('GET / ');
    expect((await getByHost(nginx.port, `other-${first}`)).status).toBe(404);
    expect((await getByHost(nginx.port, '127.0.0.1')).status).toBe(404);
    expect((await getByHost(nginx.port, '..')).status).toBe(400);
  });

  it('suspends with the 503 page (ACME challenges still served) and unsuspends, without a reload', async () => {
    const domain = newDomain('suspend');
    await hosting.ensureSite(domain);
    await hosting.putAcmeChallenge(domain, 'tok3n', 'tok3n.thumbprint');
    const reloads = reloader.stats.reloads;
    await hosting.suspendSite(domain);
    const suspended = await getByHost(nginx.port, `www.${domain}`);
    expect([suspended.status, suspended.headers['content-type']]).toEqual([503, 'text/html']);
    expect(suspended.body).toContain('This website is suspended');
    expect((await getByHost(nginx.port, domain, { path: '/index.html' })).status).toBe(503);
    expect((await getByHost(nginx.port, domain, { path: '/.well-known/acme-challenge/tok3n' })).body).toBe('tok3n.thumbprint');
    // The page's internal location is not a path clients can ask for.
    expect((await getByHost(nginx.port, domain, { path: '/.mpanel-suspended' })).status).toBe(404);
    // The marker is outside the customer's directory.
    expect(existsSync(path.join(nginx.webRoot, domain, 'suspended'))).toBe(false);
    await hosting.unsuspendSite(domain);
    expect((await getByHost(nginx.port, domain)).status).toBe(200);
    expect(reloader.stats.reloads).toBe(reloads);
  });

  it('switches a site to HTTPS, renews and removes its certificate without a reload', async () => {
    const domain = newDomain('tls');
    const names = [domain, `www.${domain}`];
    await hosting.ensureSite(domain);
    const reloads = reloader.stats.reloads;
    const first = selfSigned(names);
    expect(await hosting.installCertificate(domain, first, { hsts: false })).toEqual({ vhostChanged: true });

    for (const name of names) {
      const redirect = await getByHost(nginx.port, name, { path: '/page?x=1' });
      expect([redirect.status, redirect.headers.location]).toEqual([301, `https://${name}:${httpsPort}/page?x=1`]);
      const secure = await getTls(name, first.chainPem);
      expect([secure.status, secure.serial, secure.hsts, secure.body.includes(placeholderMarker(domain))]).toEqual([200, first.serial, undefined, true]);
    }
    await hosting.putAcmeChallenge(domain, 'tls-token', 'tls-token.thumbprint');
    expect((await getByHost(nginx.port, domain, { path: '/.well-known/acme-challenge/tls-token' })).status).toBe(200);
    // The key file is the worker's, 0600.
    const keyFile = await fs.stat(path.join(path.dirname(nginx.conf), 'certs', domain, `${domain}.pem`));
    expect([keyFile.mode & 0o777, keyFile.uid]).toEqual([0o600, WORKER.uid]);

    // HSTS is a per-site setting; suspension is served over HTTPS too.
    await hosting.installCertificate(domain, first, { hsts: true });
    expect((await getTls(domain, first.chainPem)).hsts).toBe('max-age=31536000');
    await hosting.suspendSite(domain);
    expect((await getTls(domain, first.chainPem)).status).toBe(503);
    await hosting.unsuspendSite(domain);

    // A renewal (same key, new chain) is served at the next handshake.
    const renewed = selfSigned(names, first.keyFile);
    expect(await hosting.installCertificate(domain, renewed, { hsts: true })).toEqual({ vhostChanged: false });
    expect((await getTls(`www.${domain}`, renewed.chainPem)).serial).toBe(renewed.serial);

    // A name that is no site's, or is not a domain, gets no certificate.
    await expect(getTls(`nosuch-${domain}`, first.chainPem)).rejects.toThrow();
    await expect(getTls(domain, first.chainPem, '..')).rejects.toThrow();

    await hosting.removeCertificate(domain);
    expect((await getByHost(nginx.port, domain)).status).toBe(200);
    await expect(getTls(domain, first.chainPem)).rejects.toThrow();
    expect(reloader.stats.reloads).toBe(reloads);
  });

  it('refuses a name another live site answers to, and serves a www.-named site of its own', async () => {
    const base = newDomain('owner');
    await hosting.ensureSite(base);
    const clash = await hosting.ensureSite(`www.${base}`).catch((error: unknown) => error);
    expect(clash).toBeInstanceOf(HostingError);
    expect((clash as HostingError).permanent).toBe(true);
    expect((clash as Error).message).toContain(`www.${base} is already served by the site ${base}`);
    expect((await getByHost(nginx.port, `www.${base}`)).body).toContain(placeholderMarker(base));

    // Once the owner is gone, the name is free.
    await hosting.removeSite(base, null);
    expect((await getByHost(nginx.port, base)).status).toBe(404);
    await hosting.ensureSite(`www.${base}`);
    expect((await getByHost(nginx.port, `www.${base}`)).body).toContain(placeholderMarker(`www.${base}`));
  });

  it('takes over a site from the per-site layout (its vhost removed with one reload) and removes a site', async () => {
    const domain = newDomain('legacy');
    const perSite = new NginxHosting({ host: new LocalHost(), layout, listen, reloader, tlsKeyOwner: WORKER, siteLayout: 'per-site' });
    await perSite.ensureSite(domain);
    const vhost = path.join(nginx.sitesDir, `${domain}.conf`);
    expect(readFileSync(vhost, 'utf8')).toBe(renderVhost(layout, listen, domain, 'active'));
    const reloads = reloader.stats.reloads;
    expect((await hosting.ensureSite(domain)).vhostChanged).toBe(true);
    expect(existsSync(vhost)).toBe(false);
    expect(reloader.stats.reloads).toBe(reloads + 1);
    expect((await getByHost(nginx.port, domain)).status).toBe(200);

    await hosting.removeSite(domain, null);
    for (const name of [domain, `www.${domain}`]) {
      expect((await getByHost(nginx.port, name)).status).toBe(404);
      expect(existsSync(path.join(path.dirname(nginx.conf), 'certs', '_names', name))).toBe(false);
    }
    expect(existsSync(path.join(nginx.webRoot, domain))).toBe(false);
    expect(reloader.stats.reloads).toBe(reloads + 1);
  });
});
