import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import * as acme from 'acme-client';
import { loadEnv } from '../../src/config/env.js';
import { dnsSettings } from '../../src/modules/dns/dns-template.js';
import { AcmeAuthority, createAccountKeyPem } from '../../src/providers/acme/acme-authority.js';
import { CertificateError, type Http01Hooks } from '../../src/providers/certificates.port.js';
import { LocalHost } from '../../src/providers/host/local-host.js';
import { NginxHosting } from '../../src/providers/nginx/nginx-hosting.js';
import { NginxReloader } from '../../src/providers/nginx/nginx-reloader.js';
import { powerDnsSettings } from '../../src/container.js';
import { PowerDnsClient } from '../../src/providers/powerdns/powerdns.client.js';
import { deleteZones, round, summary, type Figure } from './lib.js';

/**
 * Certificate issuance through mPanel's ACME adapter against the direct acme-client floor (the
 * recipe's minimal code: acme.axios trusting Pebble, client.auto, http-01 token files), both
 * against the real Pebble, which resolves through PowerDNS and fetches the tokens from the shared
 * nginx. Each run: a new client (the account key exists; the newAccount request is made), an
 * ECDSA P-256 certificate key and CSR, a certificate for `<name>` and `www.<name>` by http-01.
 * Every run has names of its own (Pebble may reuse a valid authorization for a name it has seen),
 * all sites exist before the timing starts, and floor and adapter alternate run by run.
 * Then: how long a name that does not resolve takes to fail, and an untrusted CA certificate.
 */

const SECTION = 'acme';
const RUNS = Number(process.env.BENCH_ACME_RUNS ?? 10);
const WARM_UP = 2;
const SUFFIX = 'bench-acme.test';
const TARGET_RATIO = 3;

const env = loadEnv();
const layout = { webRoot: env.WEB_ROOT, sitesDir: env.NGINX_SITES_DIR, nginxConf: env.NGINX_CONF, nginxCommand: env.NGINX_COMMAND.split(/\s+/).filter(Boolean) };

/** http-01 token files as the site's vhost serves them: `${WEB_ROOT}/<domain>/.well-known/acme-challenge/` (or under another directory). */
function tokenFiles(domainOrDir: string): Http01Hooks {
  const dir = path.join(path.isAbsolute(domainOrDir) ? domainOrDir : path.join(layout.webRoot, domainOrDir), '.well-known', 'acme-challenge');
  return {
    async put(token, keyAuthorization) {
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
      await fs.writeFile(path.join(dir, token), keyAuthorization, { mode: 0o644 });
    },
    async remove(token) {
      await fs.rm(path.join(dir, token), { force: true });
    },
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** A sample as figures: its median and its spread (min, max). */
function spread(label: string, samples: readonly number[]): Figure[] {
  const { p50, max } = summary(samples);
  return [
    { section: SECTION, name: `${label} p50 (${samples.length} runs)`, value: round(p50, 1), unit: 'ms' },
    { section: SECTION, name: `${label} min`, value: round(Math.min(...samples), 1), unit: 'ms' },
    { section: SECTION, name: `${label} max`, value: round(max, 1), unit: 'ms' },
  ];
}

export async function benchAcme(): Promise<Figure[]> {
  const dns = new PowerDnsClient(powerDnsSettings(env));
  const host = new LocalHost();
  const hosting = new NginxHosting({ host, layout, listen: { ipv4: '127.0.0.1', ipv6: null, port: env.NGINX_HTTP_PORT }, reloader: new NginxReloader(host, layout, 50) });
  const caCertificatePem = readFileSync(env.ACME_CA_CERT, 'utf8');

  // What an interrupted run left.
  const leftoverSites = (await fs.readdir(layout.sitesDir).catch(() => [] as string[])).filter((file) => file.endsWith(`.${SUFFIX}.conf`)).map((file) => file.slice(0, -'.conf'.length));
  await Promise.all(leftoverSites.map((domain) => hosting.removeSite(domain, null)));
  await deleteZones(dns, (await dns.listZones()).filter((zone) => zone.name.endsWith(`.${SUFFIX}`)).map((zone) => zone.name));

  // One zone; `*` answers 127.0.0.1 for every run's names (and their www).
  const zone = `${randomBytes(4).toString('hex')}.${SUFFIX}`;
  const settings = dnsSettings(env);
  await dns.createZone({ name: zone, account: 'bench', nameservers: settings.nameservers, soa: settings.soa, rrsets: [{ name: `*.${zone}`, type: 'A', ttl: 60, records: [{ content: '127.0.0.1', disabled: false }] }] });
  const total = WARM_UP + RUNS;
  const floorSites = Array.from({ length: total }, (_, i) => `f${i}.${zone}`);
  const adapterSites = Array.from({ length: total }, (_, i) => `a${i}.${zone}`);

  const accountKeyPem = await createAccountKeyPem();
  // Tokens for names that never resolve go here, not into a web root.
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mpanel-bench-acme-'));
  const previousAgent: unknown = Reflect.get(acme.axios.defaults, 'httpsAgent');
  // acme-client's retry settings live on its axios defaults, outside its typings.
  const acmeSettings: unknown = Reflect.get(acme.axios.defaults, 'acmeSettings');
  if (typeof acmeSettings !== 'object' || acmeSettings === null) throw new Error('acme-client has no acme.axios.defaults.acmeSettings (another release?)');
  const previousRetries: unknown = Reflect.get(acmeSettings, 'retryMaxAttempts');
  const previousDelay: unknown = Reflect.get(acmeSettings, 'retryDefaultDelay');
  try {
    await Promise.all([...floorSites, ...adapterSites].map((domain) => hosting.ensureSite(domain)));

    // The floor, as the recipe has it: acme-client's shared axios trusting Pebble, short retries.
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: caCertificatePem });
    Reflect.set(acmeSettings, 'retryMaxAttempts', 2);
    Reflect.set(acmeSettings, 'retryDefaultDelay', 0.2);
    const floorOnce = async (domain: string) => {
      const client = new acme.Client({ directoryUrl: env.ACME_DIRECTORY_URL, accountKey: accountKeyPem, backoffAttempts: 5, backoffMin: 100, backoffMax: 1000 });
      const key = await acme.crypto.createPrivateEcdsaKey();
      const [, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain, `www.${domain}`] }, key);
      const hooks = tokenFiles(domain);
      await client.auto({
        csr,
        email: env.ACME_EMAIL,
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        skipChallengeVerification: true,
        challengeCreateFn: (_authz, challenge, keyAuthorization) => hooks.put(challenge.token, keyAuthorization),
        challengeRemoveFn: (_authz, challenge) => hooks.remove(challenge.token),
      });
    };
    const adapterOnce = async (domain: string) => {
      const authority = new AcmeAuthority({ directoryUrl: env.ACME_DIRECTORY_URL, contactEmail: env.ACME_EMAIL, caCertificatePem, accountKeyPem, termsOfServiceAgreed: true });
      try {
        await authority.issue({ names: [domain, `www.${domain}`], challenge: 'http-01', http01: tokenFiles(domain) });
      } finally {
        await authority.close();
      }
    };

    const floor: number[] = [];
    const adapter: number[] = [];
    for (let i = 0; i < total; i++) {
      const floorMs = await timed(() => floorOnce(floorSites[i] ?? ''));
      const adapterMs = await timed(() => adapterOnce(adapterSites[i] ?? ''));
      if (i >= WARM_UP) {
        floor.push(floorMs);
        adapter.push(adapterMs);
      }
    }

    // A name that does not resolve, with the adapter's default (short) polling.
    const authority = new AcmeAuthority({ directoryUrl: env.ACME_DIRECTORY_URL, contactEmail: env.ACME_EMAIL, caCertificatePem, accountKeyPem, termsOfServiceAgreed: true });
    const unresolvable: number[] = [];
    const untrusted: number[] = [];
    try {
      await authority.ensureAccount();
      for (let i = 0; i < 5; i++) {
        unresolvable.push(
          await timed(async () => {
            const outcome = await authority.issue({ names: [`missing${i}.nowhere.${SUFFIX}`], challenge: 'http-01', http01: tokenFiles(path.join(scratch, 'missing')) }).then(
              () => null,
              (error: unknown) => error,
            );
            if (!(outcome instanceof CertificateError) || outcome.kind !== 'validation-failed') throw new Error(`expected a validation failure for an unresolvable name, got ${String(outcome)}`);
          }),
        );
      }
      for (let i = 0; i < 5; i++) {
        const systemRoots = new AcmeAuthority({ directoryUrl: env.ACME_DIRECTORY_URL, contactEmail: null, caCertificatePem: null, accountKeyPem, termsOfServiceAgreed: true });
        untrusted.push(
          await timed(async () => {
            const outcome = await systemRoots.ensureAccount().then(
              () => null,
              (error: unknown) => error,
            );
            if (!(outcome instanceof CertificateError) || outcome.kind !== 'ca-untrusted') throw new Error(`expected ca-untrusted, got ${String(outcome)}`);
          }),
        );
        await systemRoots.close();
      }
    } finally {
      await authority.close();
    }

    const ratio = summary(adapter).p50 / summary(floor).p50;
    return [
      ...spread('floor (acme-client direct): 2 names, http-01', floor),
      ...spread('adapter (AcmeAuthority.issue): 2 names, http-01', adapter),
      { section: SECTION, name: 'adapter vs floor: p50', value: round(ratio), unit: 'x', target: `<= ${TARGET_RATIO}x the floor`, met: ratio <= TARGET_RATIO },
      ...spread('name that does not resolve → CertificateError', unresolvable),
      ...spread("CA's TLS certificate not trusted → CertificateError", untrusted),
    ];
  } finally {
    Reflect.set(acme.axios.defaults, 'httpsAgent', previousAgent);
    Reflect.set(acmeSettings, 'retryMaxAttempts', previousRetries);
    Reflect.set(acmeSettings, 'retryDefaultDelay', previousDelay);
    await Promise.all([...floorSites, ...adapterSites].map((domain) => hosting.removeSite(domain, null)));
    await fs.rm(scratch, { recursive: true, force: true });
    await deleteZones(dns, [zone]);
  }
}
