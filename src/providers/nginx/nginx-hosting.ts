import path from 'node:path';
import { HostingError, type EnsureSiteResult, type HostingLayout, type HostingPort, type RemoveSiteResult, type SiteCertificate, type SiteListen, type SiteTlsOptions } from '../hosting.port.js';
import type { NginxReloader, ReloaderStats } from './nginx-reloader.js';
import {
  assertSafeLayout,
  assertSafeListen,
  assertSafePath,
  assertSiteDomain,
  namesDir,
  placeholderMarker,
  renderPlaceholder,
  renderSharedSites,
  renderVhost,
  sharedConfPath,
  siteNames,
  sitePaths,
  type SitePaths,
  type VhostState,
} from './vhost.js';
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
  /** uid:gid of nginx's worker user: it reads the certificate files at handshake time (they are 0600), and writes the access logs in the shared layout. */
  readonly tlsKeyOwner?: { readonly uid: number; readonly gid: number } | null;
  /** NGINX_SITE_LAYOUT (README "Hosting" → Layouts); 'per-site' unless given. */
  readonly siteLayout?: SiteLayout;
}

/**
 * 'shared': two generic `server {}` blocks for every site, which find a site's root, certificate
 * and state per request through links and markers (renderSharedSites): a new site, a suspension
 * or an HTTPS switch is a few files, never a reload. 'per-site': one vhost file per site, each
 * change tested and reloaded (renderVhost).
 */
export type SiteLayout = 'shared' | 'per-site';

/** base64url, as ACME tokens are (checked again here: the token becomes a file name). */
const ACME_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const KEY_MODE = 0o600;
const HSTS_MARKER = 'hsts';
/** In the site's state directory (shared layout): present while the site is suspended. */
const SUSPENDED_MARKER = 'suspended';

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
  private readonly siteLayout: SiteLayout;
  /** The shared layout's configuration file, loaded once by this process (null until asked, and after a failure). */
  private sharedConf: Promise<void> | null = null;

  constructor(options: NginxHostingOptions) {
    this.host = options.host;
    this.layout = assertSafeLayout(options.layout);
    this.listen = assertSafeListen(options.listen);
    this.fileOwner = options.fileOwner ?? null;
    this.reloader = options.reloader;
    this.siteErrorLog = options.siteErrorLog ?? true;
    this.tlsKeyOwner = options.tlsKeyOwner ?? null;
    this.siteLayout = options.siteLayout ?? 'per-site';
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

  /** Puts the site in `state` in this server's layout; true when its serving configuration changed. */
  private async apply(domain: string, paths: SitePaths, state: VhostState): Promise<boolean> {
    return this.siteLayout === 'shared' ? this.applyShared(domain, paths, state) : this.applyVhost(domain, paths, state);
  }

  private async applyVhost(domain: string, paths: SitePaths, state: VhostState): Promise<boolean> {
    const tls = await this.tlsState(domain, paths);
    const content = renderVhost(this.layout, this.listen, domain, state, { siteErrorLog: this.siteErrorLog, tls });
    const previous = await this.host.readFile(paths.vhost);
    await this.reloader.apply(paths.vhost, content);
    return previous !== content;
  }

  /**
   * The shared configuration file, written and loaded once per process: the reloader skips the
   * reload when this process saw nginx load the same content, so it costs one reload per process
   * start (a process cannot tell whether the file on disk was ever loaded).
   */
  private ensureSharedConf(): Promise<void> {
    this.sharedConf ??= (async () => {
      await this.host.ensureDir(path.posix.dirname(namesDir(this.layout)), 0o711);
      await this.host.ensureDir(namesDir(this.layout), 0o711);
      await this.reloader.apply(sharedConfPath(this.layout), renderSharedSites(this.layout, this.listen));
    })().catch((error: unknown) => {
      this.sharedConf = null;
      throw error;
    });
    return this.sharedConf;
  }

  /** The site's state directory: nginx's worker user's, 0700 (it reads the key files there). */
  private async ensureStateDir(paths: SitePaths): Promise<void> {
    await this.host.ensureDir(path.posix.dirname(paths.certDir), 0o711);
    if (await this.host.ensureDir(paths.certDir, 0o700)) await this.ownKey(paths.certDir);
  }

  /**
   * Shared layout: the state directory's `site` link, each name's index link to the state
   * directory, the suspended marker, and no per-site vhost left from the per-site layout (its
   * server_names would win over the shared block's regex). A name another live site already
   * answers to is refused (permanent), as nginx would ignore the second of two equal names.
   */
  private async applyShared(domain: string, paths: SitePaths, state: VhostState): Promise<boolean> {
    await this.ensureSharedConf();
    await this.ensureStateDir(paths);
    // The worker opens the access log (its path has variables); one the master made under the
    // per-site layout becomes the worker's too.
    await this.ownKey(paths.logsDir);
    if (await this.host.exists(`${paths.logsDir}/access.log`)) await this.ownKey(`${paths.logsDir}/access.log`);
    let changed = false;
    const siteLink = `${paths.certDir}/site`;
    if ((await this.host.readLink(siteLink)) !== paths.siteDir) {
      await this.host.symlink(paths.siteDir, siteLink);
      changed = true;
    }
    for (const name of siteNames(domain)) {
      const entry = `${namesDir(this.layout)}/${name}`;
      const current = await this.host.readLink(entry);
      if (current === paths.certDir) continue;
      if (current !== null && (await this.host.exists(current))) {
        throw new HostingError(`${name} is already served by the site ${path.posix.basename(current)} on this server`, true);
      }
      await this.host.symlink(paths.certDir, entry);
      changed = true;
    }
    const marker = `${paths.certDir}/${SUSPENDED_MARKER}`;
    const suspended = await this.host.exists(marker);
    if (state === 'suspended' && !suspended) await this.host.writeFileAtomic(marker, 'suspended by mPanel\n', FILE_MODE);
    if (state === 'active' && suspended) await this.host.removeFile(marker);
    if (await this.host.exists(paths.vhost)) {
      await this.reloader.apply(paths.vhost, null);
      changed = true;
    }
    return changed || suspended !== (state === 'suspended');
  }

  /** Removes the site's names from the index (only the links that are this site's). */
  private async unlinkNames(domain: string, paths: SitePaths): Promise<void> {
    for (const name of siteNames(domain)) {
      const entry = `${namesDir(this.layout)}/${name}`;
      if ((await this.host.readLink(entry)) === paths.certDir) await this.host.removeFile(entry);
    }
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
    const vhostChanged = await this.apply(domain, paths, 'active');
    const vhostPath = this.siteLayout === 'shared' ? sharedConfPath(this.layout) : paths.vhost;
    return { domain, docroot: paths.docroot, vhostPath, placeholder: index === null || index === placeholder, vhostChanged };
  }

  async suspendSite(domain: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    await this.ensureDirectories(paths);
    await this.apply(domain, paths, 'suspended');
  }

  placeholderMarker(domain: string): string {
    return placeholderMarker(assertSiteDomain(domain));
  }

  async unsuspendSite(domain: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    await this.ensureDirectories(paths);
    await this.apply(domain, paths, 'active');
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

    await this.ensureStateDir(paths);
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
      const vhostChanged = await this.apply(domain, paths, (await this.currentState(paths)) ?? 'active');
      // Shared layout: the files are the switch to HTTPS (HTTP redirects once the first is there).
      return { vhostChanged: vhostChanged || (this.siteLayout === 'shared' && previous[0] === null) };
    } catch (error) {
      // The vhost was put back by the reloader; the files go back to what it serves.
      await Promise.allSettled([...files.map((file, index) => write(file, previous[index] ?? null)), hadHsts ? write(hstsFile, 'on\n') : this.host.removeFile(hstsFile)]);
      throw error;
    }
  }

  async removeCertificate(domain: string): Promise<void> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    if (!(await this.host.exists(paths.certDir))) return;
    if (this.siteLayout === 'shared') {
      // The rest of the state directory (links, suspension) stays with the site.
      for (const name of siteNames(domain)) await this.host.removeFile(`${paths.certDir}/${name}.pem`);
      await this.host.removeFile(`${paths.certDir}/${HSTS_MARKER}`);
      return;
    }
    const state = await this.currentState(paths);
    await this.host.removeTree(paths.certDir);
    if (state !== null) await this.applyVhost(domain, paths, state);
  }

  /** The state the site is in (its vhost's header line, or the shared layout's marker), or null when it is not set up. */
  private async currentState(paths: SitePaths): Promise<VhostState | null> {
    if (this.siteLayout === 'shared') {
      if (!(await this.host.exists(`${paths.certDir}/site`))) return null;
      return (await this.host.exists(`${paths.certDir}/${SUSPENDED_MARKER}`)) ? 'suspended' : 'active';
    }
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
    // (The shared layout's names go first for the same reason: nothing points at the site after.)
    if (this.siteLayout === 'shared') await this.unlinkNames(domain, paths);
    if (this.siteLayout === 'per-site' || (await this.host.exists(paths.vhost))) await this.reloader.apply(paths.vhost, null);
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
