import type { HostTarget } from './host/host-directory.js';
import { ProviderError } from './provider-error.js';

/**
 * Web hosting as the rest of mPanel sees it: sites on a web server, in our own types. The nginx
 * adapter (providers/nginx) implements it on this machine or over SSH, through the host transport.
 */

/** What hosting needs from a servers row (the row itself fits). */
export interface WebServerTarget extends HostTarget {
  readonly id: string;
  readonly httpPort: number;
}

/** The web servers: the hosting operations of one of them, built once per servers row and cached. */
export interface HostingProvider {
  forServer(server: WebServerTarget): HostingPort;
}

/** Where the server's nginx listens for a site (from the servers row). */
export interface SiteListen {
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  readonly port: number;
  /** nginx's TLS port on the same addresses (443 in production); used once a site has a certificate. */
  readonly httpsPort?: number;
}

/** A site's certificate as the web server needs it: the chain (leaf first) and its private key (PEM). */
export interface SiteCertificate {
  readonly chainPem: string;
  /** A secret: written 0600 for nginx's worker user only, never logged. */
  readonly privateKeyPem: string;
}

export interface SiteTlsOptions {
  /** Send Strict-Transport-Security (a product feature, off by default: it cannot be taken back for max-age). */
  readonly hsts: boolean;
}

/** Paths on the web server. All absolute; checked when a driver is built (they reach nginx's config). */
export interface HostingLayout {
  /** `${webRoot}/<domain>/public` is a site's document root. */
  readonly webRoot: string;
  /** One `<domain>.conf` per site, included by the main configuration. */
  readonly sitesDir: string;
  /** The main configuration; nginx runs with `-p dirname(nginxConf) -c nginxConf`. */
  readonly nginxConf: string;
  /** `${certsDir}/<domain>/<name>.pem` (key + chain) for each name of a site with HTTPS (default `${dirname(nginxConf)}/certs`). */
  readonly certsDir?: string;
  /** argv of the nginx binary, e.g. ['nginx'] or ['sudo', '-n', '/usr/sbin/nginx']. */
  readonly nginxCommand: readonly string[];
}

export interface EnsureSiteResult {
  readonly domain: string;
  /** `${webRoot}/<domain>/public` */
  readonly docroot: string;
  readonly vhostPath: string;
  /** True when the site's index.html is mPanel's placeholder (just written, or left as it was written). */
  readonly placeholder: boolean;
  /** False when the vhost file already had this content (a re-run). */
  readonly vhostChanged: boolean;
}

export interface RemoveSiteResult {
  /** The archive of the site's directory, or null (nothing left to archive, or no archive asked for). */
  readonly archive: string | null;
}

/** Sites on one web server. */
export interface HostingPort {
  /** For logs and errors: "local" or "ssh user@host:port". */
  readonly description: string;
  /**
   * Creates (or re-checks) a site: its directories, a placeholder index.html when there is none,
   * and the active vhost, then `nginx -t` and a reload. Safe to run again: an existing
   * index.html (the customer's content) is never overwritten.
   */
  ensureSite(domain: string): Promise<EnsureSiteResult>;
  /** The vhost answers 503 with a "suspended" page; files are kept (ACME challenges still served). */
  suspendSite(domain: string): Promise<void>;
  /** Text the placeholder page of this domain (and no other) contains: proof that the site, not a catch-all, answered. */
  placeholderMarker(domain: string): string;
  /** Back to the active vhost. */
  unsuspendSite(domain: string): Promise<void>;
  /** The site's TLS port, for checks (null when this server has none). */
  readonly httpsPort: number | null;
  /** http-01: the token file under `${webRoot}/<domain>/.well-known/acme-challenge/` (served by both vhost states). */
  putAcmeChallenge(domain: string, token: string, keyAuthorization: string): Promise<void>;
  removeAcmeChallenge(domain: string, token: string): Promise<void>;
  /**
   * Writes the certificate and key for the site (one PEM per SNI name, key first, replaced
   * atomically: nginx loads it at each handshake, so a renewal needs no reload), then switches the
   * vhost to HTTPS (HTTP redirects except ACME challenges), tested and reloaded with rollback.
   * Suspension and unsuspension keep HTTPS once a certificate is installed.
   */
  installCertificate(domain: string, certificate: SiteCertificate, options: SiteTlsOptions): Promise<{ readonly vhostChanged: boolean }>;
  /** Back to HTTP only, and the key deleted from the server (absent is fine). */
  removeCertificate(domain: string): Promise<void>;
  /**
   * Removes the vhost (tested and reloaded first, so nginx stops serving it), then archives the
   * site's directory as `${archiveTo}/<domain>-<UTC time>.tar.gz` (null: no archive) and deletes it.
   */
  removeSite(domain: string, archiveTo: string | null): Promise<RemoveSiteResult>;
}

/**
 * A hosting failure. `permanent`: running the same operation again cannot succeed until someone
 * changes something (the input, the server row, nginx's main configuration); otherwise a retry
 * with backoff may (a broken file elsewhere that an operator fixes, a host that is down).
 */
export class HostingError extends ProviderError {
  override name = 'HostingError';
}

/** A domain that is not a normalised name: refused before it reaches any path or config. */
export class InvalidSiteDomainError extends HostingError {
  override name = 'InvalidSiteDomainError';

  constructor(domain: string) {
    super(`refusing "${printable(domain)}": not a normalised domain name (lower-case ASCII letters, digits, hyphens and dots)`, true);
  }
}

/**
 * `nginx -t` (or the reload) refused the configuration. `file` is the file nginx names, when it
 * names one. Permanent when the site's own new vhost is what nginx refuses (the same content
 * fails again); retryable when the configuration is broken elsewhere, which an operator can fix
 * while the job waits for its next attempt.
 */
export class NginxConfigError extends HostingError {
  override name = 'NginxConfigError';

  constructor(
    message: string,
    readonly nginxMessage: string,
    readonly file: string | null,
    permanent: boolean,
  ) {
    super(message, permanent);
  }
}

/** For error messages: a hostile name shown without newlines or control characters, and short. */
function printable(value: string): string {
  const safe = value.replace(/[^\x20-\x7e]/g, '?');
  return safe.length > 80 ? `${safe.slice(0, 80)}…` : safe;
}
