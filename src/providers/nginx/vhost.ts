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
    nginxCommand: [...layout.nginxCommand],
  };
}

export function assertSafeListen(listen: SiteListen): SiteListen {
  if (!Number.isInteger(listen.port) || listen.port < 1 || listen.port > 65535) throw new HostingError(`invalid HTTP port ${listen.port}`, true);
  if (listen.ipv4 !== null && net.isIP(listen.ipv4) !== 4) throw new HostingError(`invalid IPv4 address "${listen.ipv4}"`, true);
  if (listen.ipv6 !== null && net.isIP(listen.ipv6) !== 6) throw new HostingError(`invalid IPv6 address "${listen.ipv6}"`, true);
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

function listenLines(listen: SiteListen): string[] {
  const { ipv4, ipv6, port } = assertSafeListen(listen);
  // nginx matches a request to the servers of the exact address it arrived on before it looks at
  // server_name: a vhost on *:port would never see requests to a default server on ip:port.
  const lines = [...(ipv4 ? [`listen ${ipv4}:${port};`] : []), ...(ipv6 ? [`listen [${ipv6}]:${port};`] : [])];
  return lines.length > 0 ? lines : [`listen ${port};`];
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

/**
 * The site's `server {}` block. Suspended, every request but an ACME challenge gets 503 and a
 * fixed page (the files stay as they are), so certificates can still be renewed.
 */
export function renderVhost(layout: HostingLayout, listen: SiteListen, domain: string, state: VhostState, options: { siteErrorLog?: boolean } = {}): string {
  const name = assertSiteDomain(domain);
  const paths = sitePaths(layout, name);
  const serve =
    state === 'active'
      ? ['location / {', '  try_files $uri $uri/ =404;', '}']
      : ['location / {', '  default_type text/html;', `  return 503 '${SUSPENDED_PAGE}';`, '}'];
  const body = [
    ...listenLines(listen),
    `server_name ${name} www.${name};`,
    `root ${paths.docroot};`,
    'index index.html;',
    `access_log ${paths.logsDir}/access.log;`,
    // Without its own error log the site's errors go to nginx's main log (half the open files).
    ...(options.siteErrorLog === false ? [] : [`error_log ${paths.logsDir}/error.log;`]),
    ...SECURITY_HEADERS,
    '',
    'location ^~ /.well-known/acme-challenge/ {',
    `  root ${paths.siteDir};`,
    '  default_type text/plain;',
    '  try_files $uri =404;',
    '}',
    ...serve,
  ];
  const indented = body.map((line) => (line ? `  ${line}` : ''));
  return [`# mPanel site ${name} (${state}): written by mPanel on every change; edits here are lost.`, 'server {', ...indented, '}', ''].join('\n');
}
