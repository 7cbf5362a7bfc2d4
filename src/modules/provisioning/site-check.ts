import { Resolver } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { TLSSocket } from 'node:tls';
import net from 'node:net';
import { canonicalAddress, pinnedLookup } from '../../shared/net/address-guard.js';

/**
 * Checks that a site is live the way a visitor reaches it — the name resolved through our DNS,
 * then an HTTP request — without ever connecting to an address that is not one of the web
 * server's (no SSRF: a customer controls their zone and could point it anywhere). node:http with
 * a `lookup` that returns the already checked address: Node's fetch would drop the Host header.
 */

/** A failed check. `final`: waiting within this attempt will not help (the pipeline may still retry later). */
export class SiteCheckError extends Error {
  override name = 'SiteCheckError';

  constructor(
    message: string,
    readonly final = false,
  ) {
    super(message);
  }
}

export interface SiteCheckTarget {
  /** The host name to request (the domain or www.domain). */
  readonly name: string;
  /** The web server's addresses: the only ones this check connects to. */
  readonly allowed: readonly string[];
  readonly port: number;
  /** Text the page must contain (the placeholder's marker), or null for any 200. */
  readonly expect: string | null;
  /**
   * The site has a certificate: HTTP must redirect to `https://name[:port]/`, and HTTPS must
   * answer with a certificate that verifies against `ca` (PEM; undefined: the system's roots)
   * and covers the name.
   */
  readonly https?: { readonly port: number; readonly ca: string | undefined } | null;
}

export interface SiteCheckResult extends Record<string, unknown> {
  name: string;
  address: string;
  status: number;
  /** With HTTPS: its status and the served certificate's names and expiry. */
  https?: { status: number; subjectAltName: string; validTo: string; serialNumber: string };
}

const MAX_BODY_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 3_000;
const POLL_INTERVAL_MS = 100;

export function createResolver(server: string, timeoutMs = 1_000): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  resolver.setServers([server]);
  return resolver;
}

function dnsCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** A and AAAA records of `name`; a name without them (or unknown) gives an empty list. */
export async function resolveAddresses(resolver: Resolver, name: string): Promise<string[]> {
  const lookup = async (query: Promise<string[]>) => {
    try {
      return await query;
    } catch (error) {
      const code = dnsCode(error);
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw new SiteCheckError(`resolving ${name} failed: ${code ?? String(error)}`);
    }
  };
  const [v4, v6] = await Promise.all([lookup(resolver.resolve4(name)), lookup(resolver.resolve6(name))]);
  return [...v4, ...v6];
}

interface HttpAnswer {
  readonly status: number;
  readonly location: string | undefined;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
  /** HTTPS only: the certificate the server presented (already verified by Node for `name`). */
  readonly certificate?: { readonly subjectAltName: string; readonly validTo: string; readonly serialNumber: string };
}

/** GET http://name:port/ on `address`: a fresh connection (a reload drops keep-alives), no redirects followed. */
export function fetchFrom(name: string, address: string, port: number, timeoutMs: number, tls?: { readonly ca: string | undefined }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const options = {
      host: name,
      port,
      path: '/',
      method: 'GET',
      agent: false,
      lookup: pinnedLookup(address),
      timeout: timeoutMs,
      headers: { host: port === (tls ? 443 : 80) ? name : `${name}:${port}`, 'user-agent': 'mPanel-site-check', accept: 'text/html,*/*' },
    } as const;
    const onResponse = (response: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const socket = response.socket;
        const peer = tls && socket instanceof TLSSocket ? socket.getPeerCertificate() : null;
        const certificate = peer ? { subjectAltName: peer.subjectaltname ?? '', validTo: peer.valid_to, serialNumber: peer.serialNumber } : undefined;
        const finish = () => {
          resolve({ status: response.statusCode ?? 0, location: response.headers.location, headers: response.headers, body: Buffer.concat(chunks).toString('utf8'), ...(certificate ? { certificate } : {}) });
          // One request per connection: close it now rather than leave it to the server.
          request.destroy();
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_BODY_BYTES) {
            response.destroy();
            finish();
          }
        });
        response.on('end', finish);
        response.on('error', reject);
    };
    // HTTPS: SNI and the name check are for `name`; only `ca` is trusted (never verification off).
    const request = tls
      ? https.request({ ...options, servername: name, rejectUnauthorized: true, ...(tls.ca === undefined ? {} : { ca: tls.ca }) }, onResponse)
      : http.request(options, onResponse);
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

async function checkOnce(resolver: Resolver, target: SiteCheckTarget, timeoutMs: number): Promise<SiteCheckResult> {
  const resolved = await resolveAddresses(resolver, target.name);
  if (resolved.length === 0) throw new SiteCheckError(`${target.name} has no A or AAAA record`);
  const allowed = new Set(target.allowed.map(canonicalAddress));
  const foreign = resolved.filter((address) => !allowed.has(canonicalAddress(address)));
  if (foreign.length > 0) {
    throw new SiteCheckError(
      `${target.name} resolves to ${foreign.join(', ')}, which is not an address of its web server (${target.allowed.join(', ')}); not connecting there`,
      true,
    );
  }
  const address = resolved.find((candidate) => net.isIP(candidate) === 4) ?? resolved[0] ?? '';
  let answer: HttpAnswer;
  try {
    answer = await fetchFrom(target.name, address, target.port, timeoutMs);
  } catch (error) {
    throw new SiteCheckError(`http://${target.name}:${target.port}/ via ${address}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const where = `http://${target.name}:${target.port}/ via ${address}`;
  if (target.https) {
    const secureUrl = `https://${target.name}${target.https.port === 443 ? '' : `:${target.https.port}`}/`;
    if (answer.status !== 301 || answer.location !== secureUrl) throw new SiteCheckError(`${where} answered ${answer.status}${answer.location ? ` to ${answer.location}` : ''}, not a 301 redirect to ${secureUrl}`);
    let secure: HttpAnswer;
    try {
      secure = await fetchFrom(target.name, address, target.https.port, timeoutMs, { ca: target.https.ca });
    } catch (error) {
      // A certificate that does not verify or does not cover the name fails here (Node's checks).
      throw new SiteCheckError(`${secureUrl} via ${address}: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (secure.status !== 200) throw new SiteCheckError(`${secureUrl} via ${address} answered ${secure.status}, not 200`);
    if (target.expect !== null && !secure.body.includes(target.expect)) throw new SiteCheckError(`${secureUrl} via ${address} answered 200 but not with the site's placeholder page`);
    const certificate = secure.certificate ?? { subjectAltName: '', validTo: '', serialNumber: '' };
    if (!coversName(certificate.subjectAltName, target.name)) throw new SiteCheckError(`${secureUrl}: the served certificate (${certificate.subjectAltName}) does not cover ${target.name}`);
    return { name: target.name, address, status: answer.status, https: { status: secure.status, ...certificate } };
  }
  if (answer.status !== 200) {
    throw new SiteCheckError(`${where} answered ${answer.status}${answer.location ? ` (redirect to ${answer.location}, not followed)` : ''}, not 200`);
  }
  if (target.expect !== null && !answer.body.includes(target.expect)) throw new SiteCheckError(`${where} answered 200 but not with the site's placeholder page`);
  return { name: target.name, address, status: answer.status };
}

/** Whether a subjectAltName ("DNS:a, DNS:*.b") covers `name` (a wildcard covers one label). */
export function coversName(subjectAltName: string, name: string): boolean {
  return subjectAltName
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase())
    .some((dnsName) => dnsName === name || (dnsName.startsWith('*.') && name.slice(name.indexOf('.') + 1) === dnsName.slice(2) && name.indexOf('.') > 0));
}

/**
 * Repeats the check until it passes or `deadline` (epoch ms) passes: a vhost is served only once
 * nginx's reload has finished, a moment after the hosting step returned.
 */
export async function checkSite(resolver: Resolver, target: SiteCheckTarget, deadline: number): Promise<SiteCheckResult> {
  for (;;) {
    const remaining = deadline - Date.now();
    try {
      return await checkOnce(resolver, target, Math.max(500, Math.min(REQUEST_TIMEOUT_MS, remaining)));
    } catch (error) {
      if ((error instanceof SiteCheckError && error.final) || Date.now() + POLL_INTERVAL_MS >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }
}

/** For products without a website (DNS, e-mail): the zone answers at our resolver. */
export async function checkZone(resolver: Resolver, name: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      await resolver.resolveSoa(name);
      return;
    } catch (error) {
      if (Date.now() + POLL_INTERVAL_MS >= deadline) throw new SiteCheckError(`the zone ${name} does not answer: ${dnsCode(error) ?? String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }
}
