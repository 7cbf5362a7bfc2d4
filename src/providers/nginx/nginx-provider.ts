import type { HostDirectory } from '../host/host-directory.js';
import type { HostingLayout, HostingPort, HostingProvider, WebServerTarget } from '../hosting.port.js';
import { NginxHosting, type SiteLayout } from './nginx-hosting.js';
import { NginxReloader } from './nginx-reloader.js';

export interface NginxSettings {
  /** The same layout on every web server (local or remote). */
  readonly layout: HostingLayout;
  readonly batchWindowMs: number;
  readonly fileOwner: { readonly uid: number; readonly gid: number } | null;
  readonly siteErrorLogs: boolean;
  /** nginx's TLS port for every site with a certificate. */
  readonly httpsPort?: number;
  /** nginx's worker user, which reads certificate files at handshake time. */
  readonly tlsKeyOwner?: { readonly uid: number; readonly gid: number } | null;
  /** NGINX_SITE_LAYOUT. */
  readonly siteLayout: SiteLayout;
}

/**
 * nginx web servers, reached through the host transport: one reloader per nginx (so reloads are
 * serialised and batched per machine even when several servers rows name it), and one
 * NginxHosting per servers row, rebuilt when the row's connection details change. Per process:
 * two worker processes on the same web server each batch and serialise their own changes; nginx
 * copes with their reloads, but a change that breaks `nginx -t` in one makes the other's
 * concurrent test fail too (retryable).
 */
export class NginxProvider implements HostingProvider {
  private readonly reloaders = new Map<string, NginxReloader>();
  private readonly hostings = new Map<string, { fingerprint: string; hosting: NginxHosting }>();

  constructor(
    private readonly hosts: HostDirectory,
    private readonly settings: NginxSettings,
  ) {}

  private reloaderFor(server: WebServerTarget): NginxReloader {
    const key = `${this.hosts.keyOf(server)} ${this.settings.layout.nginxConf}`;
    let reloader = this.reloaders.get(key);
    if (!reloader) {
      reloader = new NginxReloader(this.hosts.transportFor(server), this.settings.layout, this.settings.batchWindowMs);
      this.reloaders.set(key, reloader);
    }
    return reloader;
  }

  forServer(server: WebServerTarget): HostingPort {
    const fingerprint = JSON.stringify([server.driver, server.ipv4, server.ipv6, server.httpPort, server.sshHost, server.sshPort, server.sshUser, server.sshHostKey]);
    const cached = this.hostings.get(server.id);
    if (cached?.fingerprint === fingerprint) return cached.hosting;
    const hosting = new NginxHosting({
      host: this.hosts.transportFor(server),
      layout: this.settings.layout,
      listen: { ipv4: server.ipv4, ipv6: server.ipv6, port: server.httpPort, ...(this.settings.httpsPort === undefined ? {} : { httpsPort: this.settings.httpsPort }) },
      fileOwner: this.settings.fileOwner,
      reloader: this.reloaderFor(server),
      siteErrorLog: this.settings.siteErrorLogs,
      tlsKeyOwner: this.settings.tlsKeyOwner ?? null,
      siteLayout: this.settings.siteLayout,
    });
    this.hostings.set(server.id, { fingerprint, hosting });
    return hosting;
  }
}
