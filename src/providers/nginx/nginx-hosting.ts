import path from 'node:path';
import { HostingError, type EnsureSiteResult, type HostingLayout, type HostingPort, type RemoveSiteResult, type SiteCertificate, type SiteListen, type SiteTlsOptions } from '../hosting.port.js';
import type { NginxReloader, ReloaderStats } from './nginx-reloader.js';
import { assertSafeLayout, assertSafeListen, assertSafePath, assertSiteDomain, placeholderMarker, renderPlaceholder, renderVhost, siteNames, sitePaths, type SitePaths, type VhostState } from './vhost.js';
import type { HostTransport } from '../host/host.port.js';

export interface NginxHostingOptions {
  readonly host: HostTransport;
  readonly layout: HostingLayout;
  readonly listen: SiteListen;
  /** uid:gid for the site's directories and placeholder, when the worker's user is not the right owner. */
  readonly fileOwner?: { readonly uid: number; readonly gid: number } | null;
  /** Shared by every HostingPort on the same nginx, so reloads are serialised per server. */
  readonly reloader: NginxReloader;
  /** Each site's own error.log (default true); see NGINX_SITE_ERROR_LOGS. */
  readonly siteErrorLog?: boolean;
  /** uid:gid of nginx's worker user: it reads the certificate files at handshake time (they are 0600). */
  readonly tlsKeyOwner?: { readonly uid: number; readonly gid: number } | null;
}

/** base64url, as ACME tokens are (checked again here: the token becomes a file name). */
const ACME_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const KEY_MODE = 0o600;
const HSTS_MARKER = 'hsts';

/** World-readable: nginx's workers run as `nobody`. */
const DIR_MODE = 0o755;
const FILE_MODE = 0o644;

/**
 * Sites on one nginx, through a HostTransport (this machine, or a remote one over SSH). Every operation
 * checks the domain first (assertSiteDomain) and only then builds a path or a config line.
 */
export class NginxHosting implements HostingPort {
  private readonly host: HostTransport;
  private readonly layout: HostingLayout;
  private readonly listen: SiteListen;
  private readonly fileOwner: { readonly uid: number; readonly gid: number } | null;
  private readonly reloader: NginxReloader;
  private readonly siteErrorLog: boolean;
  private readonly tlsKeyOwner: { readonly uid: number; readonly gid: number } | null;

  constructor(options: NginxHostingOptions) {
    this.host = options.host;
    this.layout = assertSafeLayout(options.layout);
    this.listen = assertSafeListen(options.listen);
    this.fileOwner = options.fileOwner ?? null;
    this.reloader = options.reloader;
    this.siteErrorLog = options.siteErrorLog ?? true;
    this.tlsKeyOwner = options.tlsKeyOwner ?? null;
  }

  get httpsPort(): number | null {
    return this.listen.httpsPort ?? null;
  }

  get description(): string {
    return this.host.description;
  }

  /** nginx tests, reloads and batches so far (benchmarks and tests read it). */
  get stats(): ReloaderStats {
    return this.reloader.stats;
  }

  private async own(file: string): Promise<void> {
    if (this.fileOwner) await this.host.chown(file, this.fileOwner.uid, this.fileOwner.gid);
  }

  /** The site's directory, docroot and logs directory; nginx -t opens the log files, so they must exist first. */
  private async ensureDirectories(paths: SitePaths): Promise<void> {
    for (const dir of [paths.siteDir, paths.docroot, paths.logsDir]) {
      const created = await this.host.ensureDir(dir, DIR_MODE);
      // The logs directory stays the worker's: nginx's master writes there, customers must not.
      if (created && dir !== paths.logsDir) await this.own(dir);
    }
  }

  /** The site's HTTPS settings when its certificate is on the server (so suspension keeps HTTPS), else null. */
  private async tlsState(domain: string, paths: SitePaths): Promise<{ hsts: boolean } | null> {
    const [name] = siteNames(domain);
    if (!(await this.host.exists(`${paths.certDir}/${name}.pem`))) return null;
    return { hsts: await this.host.exists(`${paths.certDir}/${HSTS_MARKER}`) };
  }

  private async applyVhost(domain: string, paths: SitePaths, state: VhostState): Promise<boolean> {
    const tls = await this.tlsState(domain, paths);
    const content = renderVhost(this.layout, this.listen, domain, state, { siteErrorLog: this.siteErrorLog, tls });
    const previous = await this.host.readFile(paths.vhost);
    await this.reloader.apply(paths.vhost, content);
    return previous !== content;
  }

  async ensureSite(domain: string): Promise<EnsureSiteResult> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    await this.ensureDirectories(paths);
    const placeholder = renderPlaceholder(domain);
    const index = await this.host.readFile(paths.index);
    if (index === null) {
      await this.host.writeFileAtomic(paths.index, placeholder, FILE_MODE);
      await this.own(paths.index);
    }
    const vhostChanged = await this.applyVhost(domain, paths, 'active');
    return { domain, docroot: paths.docroot, vhostPath: paths.vhost, placeholder: index === null || index === placeholder, vhostChanged };
  }

  async suspendSite(domain: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    await this.ensureDirectories(paths);
    await this.applyVhost(domain, paths, 'suspended');
  }

  placeholderMarker(domain: string): string {
    return placeholderMarker(assertSiteDomain(domain));
  }

  async unsuspendSite(domain: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    await this.ensureDirectories(paths);
    await this.applyVhost(domain, paths, 'active');
  }

  async putAcmeChallenge(domain: string, token: string, keyAuthorization: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    if (!ACME_TOKEN.test(token)) throw new HostingError('refusing an ACME token that is not base64url', true);
    if (!keyAuthorization.startsWith(`${token}.`) || !ACME_TOKEN.test(keyAuthorization.slice(token.length + 1))) throw new HostingError('refusing an ACME key authorization of the wrong form', true);
    await this.host.ensureDir(path.posix.dirname(paths.challengeDir), DIR_MODE);
    await this.host.ensureDir(paths.challengeDir, DIR_MODE);
    await this.host.writeFileAtomic(`${paths.challengeDir}/${token}`, keyAuthorization, FILE_MODE);
  }

  async removeAcmeChallenge(domain: string, token: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    if (!ACME_TOKEN.test(token)) throw new HostingError('refusing an ACME token that is not base64url', true);
    await this.host.removeFile(`${paths.challengeDir}/${token}`);
  }

  async installCertificate(domain: string, certificate: SiteCertificate, options: SiteTlsOptions): Promise<{ vhostChanged: boolean }> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    if (!certificate.privateKeyPem.includes('PRIVATE KEY-----') || !certificate.chainPem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new HostingError(`refusing to install a certificate for ${domain}: not a PEM key and chain`, true);
    }
    // nginx reads the key then the certificate from one file: a single rename replaces both.
    const pem = `${certificate.privateKeyPem.trimEnd()}\n${certificate.chainPem.trimEnd()}\n`;
    const files = siteNames(domain).map((name) => `${paths.certDir}/${name}.pem`);
    const hstsFile = `${paths.certDir}/${HSTS_MARKER}`;
    const previous = await Promise.all(files.map((file) => this.host.readFile(file)));
    const hadHsts = await this.host.exists(hstsFile);

    await this.host.ensureDir(path.posix.dirname(paths.certDir), 0o711);
    if (await this.host.ensureDir(paths.certDir, 0o700)) await this.ownKey(paths.certDir);
    const write = async (file: string, content: string | null) => {
      if (content === null) return this.host.removeFile(file);
      // The owner is set before the rename: nginx's workers read the file at the next handshake,
      // and a moment with root's 0600 file in place fails that handshake ("internal error").
      await this.host.writeFileAtomic(file, content, KEY_MODE, this.tlsKeyOwner ? { owner: this.tlsKeyOwner } : {});
    };
    try {
      for (const file of files) await write(file, pem);
      if (options.hsts) await write(hstsFile, 'on\n');
      else await this.host.removeFile(hstsFile);
      await this.ensureDirectories(paths);
      const vhostChanged = await this.applyVhost(domain, paths, (await this.currentState(paths)) ?? 'active');
      return { vhostChanged };
    } catch (error) {
      // The vhost was put back by the reloader; the files go back to what it serves.
      await Promise.allSettled([...files.map((file, index) => write(file, previous[index] ?? null)), hadHsts ? write(hstsFile, 'on\n') : this.host.removeFile(hstsFile)]);
      throw error;
    }
  }

  async removeCertificate(domain: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    if (!(await this.host.exists(paths.certDir))) return;
    const state = await this.currentState(paths);
    await this.host.removeTree(paths.certDir);
    if (state !== null) await this.applyVhost(domain, paths, state);
  }

  /** The state the site's vhost is in (from its header line), or null without a vhost. */
  private async currentState(paths: SitePaths): Promise<VhostState | null> {
    const vhost = await this.host.readFile(paths.vhost);
    if (vhost === null) return null;
    return /^# mPanel site \S+ \(suspended/.test(vhost) ? 'suspended' : 'active';
  }

  private async ownKey(file: string): Promise<void> {
    if (this.tlsKeyOwner) await this.host.chown(file, this.tlsKeyOwner.uid, this.tlsKeyOwner.gid);
  }

  async removeSite(domain: string, archiveTo: string | null): Promise<RemoveSiteResult> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    const archiveDir = archiveTo === null ? null : assertSafePath(archiveTo, 'the archive directory');
    // The vhost goes first: its log files live in the site's directory, which nginx -t opens.
    await this.reloader.apply(paths.vhost, null);
    // The certificate's key leaves the server with the site (nothing is revoked).
    await this.host.removeTree(paths.certDir);
    if (!(await this.host.exists(paths.siteDir))) return { archive: null };
    let archive: string | null = null;
    if (archiveDir !== null) {
      await this.host.ensureDir(archiveDir, 0o700);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      archive = path.posix.join(archiveDir, `${domain}-${stamp}.tar.gz`);
      const tar = await this.host.run(['tar', '-czf', archive, '-C', this.layout.webRoot, domain], 600_000);
      if (tar.code !== 0) throw new HostingError(`archiving ${paths.siteDir} to ${archive} failed (the site's files are kept): ${tar.stderr.trim()}`, false);
    }
    await this.host.removeTree(paths.siteDir);
    return { archive };
  }
}
