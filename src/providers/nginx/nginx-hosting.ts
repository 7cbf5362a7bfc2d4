import path from 'node:path';
import { HostingError, type EnsureSiteResult, type HostingLayout, type HostingPort, type RemoveSiteResult, type SiteListen } from '../hosting.port.js';
import type { NginxReloader, ReloaderStats } from './nginx-reloader.js';
import { assertSafeLayout, assertSafeListen, assertSafePath, assertSiteDomain, placeholderMarker, renderPlaceholder, renderVhost, sitePaths, type SitePaths, type VhostState } from './vhost.js';
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
}

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

  constructor(options: NginxHostingOptions) {
    this.host = options.host;
    this.layout = assertSafeLayout(options.layout);
    this.listen = assertSafeListen(options.listen);
    this.fileOwner = options.fileOwner ?? null;
    this.reloader = options.reloader;
    this.siteErrorLog = options.siteErrorLog ?? true;
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

  private async applyVhost(domain: string, paths: SitePaths, state: VhostState): Promise<boolean> {
    const content = renderVhost(this.layout, this.listen, domain, state, { siteErrorLog: this.siteErrorLog });
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

  async removeSite(domain: string, archiveTo: string | null): Promise<RemoveSiteResult> {
    const paths = sitePaths(this.layout, assertSiteDomain(domain));
    const archiveDir = archiveTo === null ? null : assertSafePath(archiveTo, 'the archive directory');
    // The vhost goes first: its log files live in the site's directory, which nginx -t opens.
    await this.reloader.apply(paths.vhost, null);
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
