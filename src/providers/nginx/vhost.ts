import net from 'node:net';
import path from 'node:path';
import { isNormalizedDomain } from '../../shared/domain-name.js';
import { HostingError, InvalidSiteDomainError, type HostingLayout, type SiteListen } from '../hosting.port.js';

/**
 * What goes into nginx's configuration and a site's directory: the vhost (active or suspended)
 * and the placeholder page. Everything interpolated here is either a domain that passed
 * `isNormalizedDomain` ([a-z0-9.-] only), an address that passed `net.isIP`, a port number, or a
 * configured path that passed `assertSafePath`, so no value can end a directive or open a block.
 */

/** A configured absolute path that may be written into nginx's config and passed to commands. */
const SAFE_PATH = /^\/[A-Za-z0-9._+@/-]*$/;

export function assertSafePath(value: string, what: string): string {
  if (!SAFE_PATH.test(value) || value.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new HostingError(`${what} "${value}" must be an absolute path of letters, digits and . _ + @ / - only`, true);
  }
  return path.posix.normalize(value).replace(/(.)\/$/, '$1');
}

export function assertSafeLayout(layout: HostingLayout): HostingLayout {
  if (layout.nginxCommand.length === 0 || layout.nginxCommand.some((arg) => !/^[A-Za-z0-9_./=-]+$/.test(arg))) {
    throw new HostingError(`the nginx command ${JSON.stringify(layout.nginxCommand)} must be plain words (letters, digits, _ . / = -)`, true);
  }
  return {
    webRoot: assertSafePath(layout.webRoot, 'the web root'),
    sitesDir: assertSafePath(layout.sitesDir, 'the nginx sites directory'),
    nginxConf: assertSafePath(layout.nginxConf, 'the nginx configuration file'),
    certsDir: assertSafePath(layout.certsDir ?? path.posix.join(path.posix.dirname(layout.nginxConf), 'certs'), 'the certificates directory'),
    nginxCommand: [...layout.nginxCommand],
  };
}

export function assertSafeListen(listen: SiteListen): SiteListen {
  if (!Number.isInteger(listen.port) || listen.port < 1 || listen.port > 65535) throw new HostingError(`invalid HTTP port ${listen.port}`, true);
  if (listen.ipv4 !== null && net.isIP(listen.ipv4) !== 4) throw new HostingError(`invalid IPv4 address "${listen.ipv4}"`, true);
  if (listen.ipv6 !== null && net.isIP(listen.ipv6) !== 6) throw new HostingError(`invalid IPv6 address "${listen.ipv6}"`, true);
  if (listen.httpsPort !== undefined && (!Number.isInteger(listen.httpsPort) || listen.httpsPort < 1 || listen.httpsPort > 65535)) throw new HostingError(`invalid HTTPS port ${listen.httpsPort}`, true);
  return listen;
}

/** The provider boundary's check: every operation calls this before it touches a path or the config. */
export function assertSiteDomain(domain: string): string {
  if (!isNormalizedDomain(domain)) throw new InvalidSiteDomainError(domain);
  return domain;
}

export interface SitePaths {
  /** `${webRoot}/<domain>`: the site's directory (docroot, logs, ACME challenges). */
  readonly siteDir: string;
  readonly docroot: string;
  readonly logsDir: string;
  readonly index: string;
  readonly vhost: string;
  /**
   * `${certsDir}/<domain>`: the site's state directory, nginx's worker user's (0700): one
   * `<name>.pem` (key + chain) per name the site answers to, the `hsts` marker, and in the shared
   * layout the `suspended` marker and the `site` link to siteDir.
   */
  readonly certDir: string;
  readonly challengeDir: string;
}

/** The names a site answers to (server_name), and so the SNI names its certificate files are named after. */
export function siteNames(domain: string): [string, string] {
  const name = assertSiteDomain(domain);
  return [name, `www.${name}`];
}

function certsDir(layout: HostingLayout): string {
  return layout.certsDir ?? path.posix.join(path.posix.dirname(layout.nginxConf), 'certs');
}

/**
 * The shared layout's name index: `<namesDir>/<name>` is a link to the state directory of the
 * site answering to that name (`_` cannot start a domain's directory, so it is never a site's).
 */
export function namesDir(layout: HostingLayout): string {
  return path.posix.join(certsDir(layout), '_names');
}

/** The shared layout's one configuration file (no domain has a `_`, so no site's vhost has this name). */
export function sharedConfPath(layout: HostingLayout): string {
  return path.posix.join(layout.sitesDir, '_mpanel-sites.conf');
}

export function sitePaths(layout: HostingLayout, domain: string): SitePaths {
  const name = assertSiteDomain(domain);
  const siteDir = path.posix.join(layout.webRoot, name);
  return {
    siteDir,
    docroot: path.posix.join(siteDir, 'public'),
    logsDir: path.posix.join(siteDir, 'logs'),
    index: path.posix.join(siteDir, 'public', 'index.html'),
    vhost: path.posix.join(layout.sitesDir, `${name}.conf`),
    certDir: path.posix.join(certsDir(layout), name),
    challengeDir: path.posix.join(siteDir, '.well-known', 'acme-challenge'),
  };
}

function htmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Present in the placeholder page only: what VERIFY_AND_ACTIVATE looks for in the response. */
export function placeholderMarker(domain: string): string {
  return `mpanel-placeholder:${htmlEscape(domain)}`;
}

/** The index.html a new site starts with; the customer replaces it. */
export function renderPlaceholder(domain: string): string {
  const name = htmlEscape(assertSiteDomain(domain));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${placeholderMarker(domain)}">
<title>${name}</title>
</head>
<body>
<h1>${name}</h1>
<p>This website is ready. Its owner has not published any content yet.</p>
</body>
</html>
`;
}

function listenLines(listen: SiteListen, port: number, suffix = ''): string[] {
  const { ipv4, ipv6 } = assertSafeListen(listen);
  // nginx matches a request to the servers of the exact address it arrived on before it looks at
  // server_name: a vhost on *:port would never see requests to a default server on ip:port.
  const lines = [...(ipv4 ? [`listen ${ipv4}:${port}${suffix};`] : []), ...(ipv6 ? [`listen [${ipv6}]:${port}${suffix};`] : [])];
  return lines.length > 0 ? lines : [`listen ${port}${suffix};`];
}

/** Sent with every response of the site (`always`: error pages too). */
const SECURITY_HEADERS = [
  'add_header X-Content-Type-Options "nosniff" always;',
  'add_header X-Frame-Options "SAMEORIGIN" always;',
  `add_header Content-Security-Policy "frame-ancestors 'self'" always;`,
  'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
];

const SUSPENDED_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Website suspended</title></head>' +
  '<body><h1>This website is suspended</h1><p>Please contact your hosting provider.</p></body></html>';

export type VhostState = 'active' | 'suspended';

export interface VhostOptions {
  readonly siteErrorLog?: boolean;
  /** The site has a certificate: an HTTPS server on listen.httpsPort, and HTTP redirects to it. */
  readonly tls?: { readonly hsts: boolean } | null;
}

/** HSTS when the product turns it on: a year, no includeSubDomains (a customer's other hosts may not have HTTPS). */
const HSTS_HEADER = 'add_header Strict-Transport-Security "max-age=31536000" always;';

function acmeChallengeLocation(paths: SitePaths): string[] {
  return ['location ^~ /.well-known/acme-challenge/ {', `  root ${paths.siteDir};`, '  default_type text/plain;', '  try_files $uri =404;', '}'];
}

function block(lines: readonly string[]): string[] {
  return ['server {', ...lines.map((line) => (line ? `  ${line}` : '')), '}'];
}

/**
 * The site's `server {}` blocks. Suspended, every request but an ACME challenge gets 503 and a
 * fixed page (the files stay as they are), so certificates can still be renewed.
 *
 * With a certificate (options.tls): the HTTP server only answers ACME challenges and redirects
 * everything else (301) to HTTPS; the HTTPS server serves the site (or the suspended page). Its
 * certificate is named through `$ssl_server_name`, so nginx reads it at each handshake and not at
 * each reload: `nginx -t` and reloads do not grow with the number of certificates, and a renewed
 * file is served at once without a reload. The SNI name is always one of the block's two
 * server_names (another name goes to another block), so the path is one of the two files mPanel
 * wrote. The files hold the key and the chain together, so a renewal swaps both with one rename.
 */
export function renderVhost(layout: HostingLayout, listen: SiteListen, domain: string, state: VhostState, options: VhostOptions = {}): string {
  const name = assertSiteDomain(domain);
  const paths = sitePaths(layout, name);
  const serve =
    state === 'active'
      ? ['location / {', '  try_files $uri $uri/ =404;', '}']
      : ['location / {', '  default_type text/html;', `  return 503 '${SUSPENDED_PAGE}';`, '}'];
  const logs = [
    `access_log ${paths.logsDir}/access.log;`,
    // Without its own error log the site's errors go to nginx's main log (half the open files).
    ...(options.siteErrorLog === false ? [] : [`error_log ${paths.logsDir}/error.log;`]),
  ];
  const site = [`root ${paths.docroot};`, 'index index.html;', ...logs];
  const header = `# mPanel site ${name} (${state}${options.tls ? ', https' : ''}): written by mPanel on every change; edits here are lost.`;
  const tls = options.tls ?? null;
  if (tls === null) {
    const body = [...listenLines(listen, listen.port), `server_name ${name} www.${name};`, ...site, ...SECURITY_HEADERS, '', ...acmeChallengeLocation(paths), ...serve];
    return [header, ...block(body), ''].join('\n');
  }
  const httpsPort = listen.httpsPort;
  if (httpsPort === undefined) throw new HostingError(`the site ${name} has a certificate but this web server has no HTTPS port`, true);
  const certificate = `${paths.certDir}/$ssl_server_name.pem`;
  const redirect = [
    ...listenLines(listen, listen.port),
    `server_name ${name} www.${name};`,
    ...logs,
    '',
    ...acmeChallengeLocation(paths),
    'location / {',
    // $host is one of this block's server_names (nginx picked the block by it).
    `  return 301 https://$host${httpsPort === 443 ? '' : `:${httpsPort}`}$request_uri;`,
    '}',
  ];
  const secure = [
    ...listenLines(listen, httpsPort, ' ssl'),
    `server_name ${name} www.${name};`,
    `ssl_certificate ${certificate};`,
    `ssl_certificate_key ${certificate};`,
    ...site,
    ...SECURITY_HEADERS,
    ...(tls.hsts ? [HSTS_HEADER] : []),
    '',
    ...acmeChallengeLocation(paths),
    ...serve,
  ];
  return [header, ...block(redirect), ...block(secure), ''].join('\n');
}

/** A Host or SNI name as isNormalizedDomain passes it (letters TLD or xn--), for nginx's regexes. */
const NAME_REGEX = String.raw`(?:[a-z0-9-]+\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]+)`;

/**
 * The shared layout: every site on this nginx is served by the same two `server {}` blocks, which
 * find everything per request through the name index (namesDir): `<names>/<host>` links to the
 * site's state directory, which holds the `site` link (root, logs, ACME challenges), the
 * certificate files, and the `suspended` and `hsts` markers. Adding, suspending, switching to
 * HTTPS or renewing a site is a few files and links, never a reload: nginx sees them at the next
 * request or handshake. The file is written once (and again only when the listen addresses or the
 * layout change).
 *
 * What reaches a path here: the Host header through the server_name regex (nginx has already
 * refused `..`, `/` and NUL in it and lower-cased it), and the SNI name only through the
 * `$mpanel_sni` map, which turns anything but a plain domain into `_` (no such entry). A name
 * with no entry gets 404 over HTTP and no certificate over TLS. Customers own their site
 * directory, never the state directory or the index, so they cannot unsuspend a site or plant a
 * certificate. Per-site error logs do not exist here (error_log takes no variables): a site's
 * errors go to nginx's main log, which names the host.
 */
export function renderSharedSites(layout: HostingLayout, listen: SiteListen): string {
  const names = namesDir(layout);
  const entry = `${names}/$mpanel_name`;
  const site = [
    `server_name "~^(?<mpanel_name>${NAME_REGEX})$";`,
    `root ${entry}/site/public;`,
    'index index.html;',
    // A log path with variables is opened by the worker (the logs directory is its user's) and
    // only when the request's root exists; the cache keeps busy sites' logs open.
    `access_log ${entry}/site/logs/access.log;`,
    'open_log_file_cache max=1000 inactive=20s valid=1m min_uses=2;',
    ...SECURITY_HEADERS,
  ];
  const challenges = ['location ^~ /.well-known/acme-challenge/ {', `  root ${entry}/site;`, '  default_type text/plain;', '  try_files $uri =404;', '}'];
  const suspended = ['location = /.mpanel-suspended {', '  internal;', '  default_type text/html;', `  return 503 '${SUSPENDED_PAGE}';`, '}'];
  // `if` holding only `return` or `rewrite … last` is the safe use of if inside a location.
  const serve = (redirect: string[]) => ['location / {', ...redirect, `  if (-f ${entry}/suspended) {`, '    rewrite ^ /.mpanel-suspended last;', '  }', '  try_files $uri $uri/ =404;', '}'];
  const header = '# mPanel sites (shared layout, NGINX_SITE_LAYOUT=shared): written by mPanel; edits here are lost.';
  const http = [...listenLines(listen, listen.port), ...site, '', ...challenges, ...suspended];
  const httpsPort = listen.httpsPort;
  if (httpsPort === undefined) return [header, ...block([...http, ...serve([])]), ''].join('\n');
  const toHttps = [`  if (-f ${entry}/$mpanel_name.pem) {`, `    return 301 https://$host${httpsPort === 443 ? '' : `:${httpsPort}`}$request_uri;`, '  }'];
  const sni = [`map $ssl_server_name $mpanel_sni {`, `  "~^${NAME_REGEX}$" $ssl_server_name;`, '  default _;', '}'];
  const https = [
    ...listenLines(listen, httpsPort, ' ssl'),
    ...site,
    `ssl_certificate ${names}/$mpanel_sni/$mpanel_sni.pem;`,
    `ssl_certificate_key ${names}/$mpanel_sni/$mpanel_sni.pem;`,
    'set $mpanel_hsts "";',
    `if (-f ${entry}/hsts) {`,
    `  set $mpanel_hsts "max-age=31536000";`,
    '}',
    // An empty value sends no header.
    'add_header Strict-Transport-Security $mpanel_hsts always;',
    '',
    ...challenges,
    ...suspended,
    ...serve([]),
  ];
  return [header, ...sni, ...block([...http, ...serve(toHttps)]), ...block(https), ''].join('\n');
}
