import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { Env } from '../../src/config/env.js';
import { dnsSettings } from '../../src/modules/dns/dns-template.js';
import type { AcmeAuthoritySettings } from '../../src/providers/acme/acme-authority.js';
import { splitCertificateChain } from '../../src/providers/acme/certificate-pem.js';
import type { Dns01Hooks, Http01Hooks } from '../../src/providers/certificates.port.js';
import type { PowerDnsClient } from '../../src/providers/powerdns/powerdns.client.js';

/**
 * ACME test helpers around the Pebble of scripts/services.sh: its settings, its issuing root, the
 * challenge hooks a caller would build (a file in the site's web root; a TXT record in PowerDNS),
 * and a counting TCP proxy in front of it.
 */

/** Settings for the real Pebble (trusting only its listener certificate), with short polling. */
export function pebbleSettings(env: Env, overrides: Partial<AcmeAuthoritySettings> = {}): AcmeAuthoritySettings {
  return {
    directoryUrl: env.ACME_DIRECTORY_URL,
    contactEmail: env.ACME_EMAIL,
    caCertificatePem: readFileSync(env.ACME_CA_CERT, 'utf8'),
    accountKeyPem: null,
    termsOfServiceAgreed: true,
    ...overrides,
  };
}

/** Pebble's issuing root, new at every Pebble start: read from its management API. */
export async function pebbleRoot(env: Env): Promise<X509Certificate> {
  const managementUrl = new URL(env.ACME_DIRECTORY_URL);
  managementUrl.port = '15000';
  managementUrl.pathname = '/roots/0';
  const pem = await new Promise<string>((resolve, reject) => {
    https
      .get(managementUrl, { ca: readFileSync(env.ACME_CA_CERT, 'utf8'), agent: false, timeout: 5_000 }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`Pebble roots/0 answered ${response.statusCode}`))));
      })
      .on('error', reject);
  });
  return new X509Certificate(pem);
}

/** True when every certificate of the chain is signed by the next and the last by `root`. */
export function chainVerifiesTo(chainPem: string, root: X509Certificate): boolean {
  const chain = splitCertificateChain(chainPem).map((pem) => new X509Certificate(pem));
  const links = [...chain, root];
  return chain.length > 0 && chain.every((certificate, index) => {
    const issuer = links[index + 1];
    return issuer !== undefined && certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
  });
}

/** http-01 as the caller will do it: the token as a file under the site's directory (served by its vhost). */
export function webRootHttp01(webRoot: string, domain: string, seen: { put: string[]; removed: string[] } = { put: [], removed: [] }): Http01Hooks & { seen: typeof seen } {
  const dir = path.join(webRoot, domain, '.well-known', 'acme-challenge');
  return {
    seen,
    async put(token, keyAuthorization) {
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
      await fs.writeFile(path.join(dir, token), keyAuthorization, { mode: 0o644 });
      seen.put.push(token);
    },
    async remove(token) {
      await fs.rm(path.join(dir, token), { force: true });
      seen.removed.push(token);
    },
  };
}

/**
 * dns-01 in PowerDNS: the TXT RRset at an fqdn holds every value set and not yet removed. A
 * wildcard and its base name set two values at the same fqdn at once, so changes to one fqdn are
 * serialised and each PATCH writes the whole set.
 */
export function powerDnsDns01(dns: PowerDnsClient, zone: string): Dns01Hooks & { readonly live: Map<string, Set<string>>; readonly history: string[] } {
  const live = new Map<string, Set<string>>();
  const queues = new Map<string, Promise<void>>();
  const history: string[] = [];
  const change = (fqdn: string, edit: (values: Set<string>) => void): Promise<void> => {
    const previous = queues.get(fqdn) ?? Promise.resolve();
    const next = previous.then(async () => {
      const values = live.get(fqdn) ?? new Set<string>();
      edit(values);
      live.set(fqdn, values);
      await dns.patchRRsets(zone, [
        values.size === 0
          ? { kind: 'delete', name: fqdn, type: 'TXT' }
          : { kind: 'replace', name: fqdn, type: 'TXT', ttl: 60, contents: [...values].map((value) => `"${value}"`) },
      ]);
    });
    queues.set(fqdn, next.catch(() => undefined));
    return next;
  };
  return {
    live,
    history,
    setTxt: (fqdn, value) => {
      history.push(`set ${fqdn}`);
      return change(fqdn, (values) => values.add(value));
    },
    removeTxt: (fqdn, value) => {
      history.push(`remove ${fqdn}`);
      return change(fqdn, (values) => values.delete(value));
    },
  };
}

/** A zone whose apex and www point to 127.0.0.1 (where Pebble fetches http-01 tokens, on nginx's port). */
export async function createLoopbackZone(env: Env, dns: PowerDnsClient, name: string): Promise<void> {
  const settings = dnsSettings(env);
  await dns.createZone({
    name,
    account: 'acme-test',
    nameservers: settings.nameservers,
    soa: settings.soa,
    rrsets: [
      { name, type: 'A', ttl: 60, records: [{ content: '127.0.0.1', disabled: false }] },
      { name: `www.${name}`, type: 'A', ttl: 60, records: [{ content: '127.0.0.1', disabled: false }] },
    ],
  });
}

/** A TCP proxy to the CA on a free loopback port that counts the connections made through it. */
export class CountingProxy {
  connections = 0;
  port = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    if (address && typeof address === 'object') this.port = address.port;
    return this;
  }

  /** `url` with its host and port replaced by this proxy's (Pebble's certificate names 127.0.0.1). */
  rewrite(url: string): string {
    const rewritten = new URL(url);
    rewritten.hostname = '127.0.0.1';
    rewritten.port = String(this.port);
    return rewritten.toString();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
