import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { chainVerifiesTo, CountingProxy, createLoopbackZone, pebbleRoot, pebbleSettings, powerDnsDns01, webRootHttp01 } from '../../../test/helpers/acme.js';
import { powerDns, randomLabel } from '../../../test/helpers/dns.js';
import { waitForAnswer } from '../../../test/helpers/nginx.js';
import { nginxSettings } from '../../container.js';
import { LocalHost } from '../host/local-host.js';
import { NginxHosting } from '../nginx/nginx-hosting.js';
import { NginxReloader } from '../nginx/nginx-reloader.js';
import { AcmeAuthority, createAccountKeyPem } from './acme-authority.js';
import { readIssuedCertificate, splitCertificateChain } from './certificate-pem.js';
import { CertificateError, type CertificateRequest, type Http01Hooks } from '../certificates.port.js';

/**
 * The ACME adapter against the real Pebble of scripts/services.sh, which resolves names through
 * the real PowerDNS and fetches http-01 tokens from the shared nginx (:8080). Every zone and site
 * has a random name and is removed when the file ends.
 */
const env = loadEnv();
const dns = powerDns(env);
const { layout } = nginxSettings(env);
const hosting = new NginxHosting({
  host: new LocalHost(),
  layout,
  listen: { ipv4: '127.0.0.1', ipv6: null, port: env.NGINX_HTTP_PORT },
  reloader: new NginxReloader(new LocalHost(), layout, 0),
});
const zones = new Set<string>();
const sites = new Set<string>();
const authorities: AcmeAuthority[] = [];
const scratchDirs = new Set<string>();

function authority(overrides: Parameters<typeof pebbleSettings>[1] = {}): AcmeAuthority {
  const created = new AcmeAuthority(pebbleSettings(env, overrides));
  authorities.push(created);
  return created;
}

async function loopbackZone(prefix: string): Promise<string> {
  const name = `${randomLabel(prefix)}.acme-test.test`;
  zones.add(name);
  await createLoopbackZone(env, dns, name);
  return name;
}

/** A zone and a live site (vhost for the name and www) on the shared nginx. */
async function liveSite(prefix: string): Promise<string> {
  const domain = await loopbackZone(prefix);
  sites.add(domain);
  await hosting.ensureSite(domain);
  // Once ensureSite returns no old nginx worker answers (the reloader waits for them to stop).
  for (const name of [domain, `www.${domain}`]) await waitForAnswer(env.NGINX_HTTP_PORT, name, (answer) => answer.status === 200);
  return domain;
}

async function failure(promise: Promise<unknown>): Promise<CertificateError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CertificateError) return error;
    throw error;
  }
  throw new Error('expected a CertificateError, got a certificate');
}

let shared: AcmeAuthority;
let accountKeyPem: string;
let root: X509Certificate;

beforeAll(async () => {
  accountKeyPem = await createAccountKeyPem();
  shared = authority({ accountKeyPem });
  root = await pebbleRoot(env);
});

afterAll(async () => {
  await Promise.all(authorities.map((each) => each.close()));
  await Promise.all([...sites].map((domain) => hosting.removeSite(domain, null)));
  for (const zone of zones) await dns.deleteZone(zone);
  for (const dir of scratchDirs) await fs.rm(dir, { recursive: true, force: true });
});

describe('ACME account', () => {
  it('registers the configured key once: the same key gives the same account URL', async () => {
    const first = await shared.ensureAccount();
    expect(first.accountKeyPem).toBe(accountKeyPem);
    expect(first.accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:14000\//);
    expect((await authority({ accountKeyPem }).ensureAccount()).accountUrl).toBe(first.accountUrl);
  });

  it('creates a key when none is configured, and refuses to issue before an account exists', async () => {
    const fresh = authority();
    const refused = await failure(fresh.issue({ names: ['never-sent.acme-test.test'], challenge: 'dns-01', dns01: { setTxt: async () => {}, removeTxt: async () => {} } }));
    expect(refused.kind).toBe('account');
    expect(refused.permanent).toBe(true);

    const account = await fresh.ensureAccount();
    expect(createPrivateKey(account.accountKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(account.accountUrl).not.toBe((await shared.ensureAccount()).accountUrl);
  });
});

describe('ACME settings', () => {
  it('refuses settings that are not plain, complete and agreed', () => {
    const base = pebbleSettings(env);
    const bad: [string, Record<string, unknown>][] = [
      ['directoryUrl', { directoryUrl: 'ftp://127.0.0.1/dir' }],
      ['termsOfServiceAgreed', { termsOfServiceAgreed: false }],
      ['caCertificatePem', { caCertificatePem: '/var/lib/mpanel/pebble/cert.pem' }],
      ['accountKeyPem', { accountKeyPem: 'not a key' }],
      ['requestTimeoutMs', { requestTimeoutMs: 0 }],
      ['env', { env }],
    ];
    for (const [field, change] of bad) {
      // Plain JavaScript callers (or a composition root reading the wrong thing) get a message naming the field.
      expect(() => new AcmeAuthority({ ...base, ...change })).toThrow(new RegExp(`ACME settings refused: .*${field}|Unrecognized key.*${field}`));
    }
  });

  it('an account URL the CA does not know: a permanent account error', async () => {
    const domain = await loopbackZone('noaccount');
    const stale = authority({ accountKeyPem, accountUrl: `${new URL(env.ACME_DIRECTORY_URL).origin}/my-account/does-not-exist` });
    const error = await failure(stale.issue({ names: [domain], challenge: 'dns-01', dns01: powerDnsDns01(dns, domain) }));
    expect({ kind: error.kind, permanent: error.permanent }).toEqual({ kind: 'account', permanent: true });
    expect(error.problemType).toBe('urn:ietf:params:acme:error:accountDoesNotExist');
  });
});

describe('issuance against Pebble', () => {
  it('HTTP-01: a certificate for a domain and www, tokens served by the site and removed afterwards', async () => {
    const domain = await liveSite('http01');
    const http01 = webRootHttp01(layout.webRoot, domain);
    const before = Date.now();
    const issued = await shared.issue({ names: [domain, `www.${domain}`], challenge: 'http-01', http01 });

    expect(issued.names).toEqual([domain, `www.${domain}`]);
    expect(issued.keyType).toBe('ecdsa-p256');
    expect(createPrivateKey(issued.privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(issued.issuer.commonName).toMatch(/^Pebble Intermediate CA/);
    expect(issued.notBefore.getTime()).toBeLessThanOrEqual(before + 60_000);
    // Pebble issues for about five years.
    expect(issued.notAfter.getTime() - Date.now()).toBeGreaterThan(4 * 365 * 86_400_000);

    const leaf = new X509Certificate(issued.certificatePem);
    expect(leaf.subject).toBe(`CN=${domain}`);
    expect(leaf.serialNumber.toUpperCase()).toBe(issued.serialNumber);
    expect(leaf.fingerprint256).toBe(issued.fingerprintSha256);
    expect(leaf.checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
    expect(chainVerifiesTo(issued.certificatePem, root)).toBe(true);

    // One token per name, each removed: nothing is left in the web root.
    expect(http01.seen.put).toHaveLength(2);
    expect([...http01.seen.removed].sort()).toEqual([...http01.seen.put].sort());
    expect(await fs.readdir(path.join(layout.webRoot, domain, '.well-known', 'acme-challenge'))).toEqual([]);
  });

  it('DNS-01: a wildcard and its base name, two TXT values at one name at once, removed afterwards', async () => {
    const domain = await loopbackZone('dns01');
    const dns01 = powerDnsDns01(dns, domain);
    const issued = await shared.issue({ names: [`*.${domain}`, domain], challenge: 'dns-01', dns01 });

    expect(issued.names).toEqual([`*.${domain}`, domain]);
    expect(new X509Certificate(issued.certificatePem).subject).toBe(`CN=*.${domain}`);
    expect(chainVerifiesTo(issued.certificatePem, root)).toBe(true);
    expect(dns01.history.filter((entry) => entry === `set _acme-challenge.${domain}`)).toHaveLength(2);
    expect(dns01.history.filter((entry) => entry === `remove _acme-challenge.${domain}`)).toHaveLength(2);
    const zone = await dns.getZone(domain);
    expect(zone.rrsets.filter((rrset) => rrset.type === 'TXT')).toEqual([]);
  });

  it('RSA-2048 when asked', async () => {
    const domain = await loopbackZone('rsa');
    const issued = await shared.issue({ names: [domain], keyType: 'rsa-2048', challenge: 'dns-01', dns01: powerDnsDns01(dns, domain) });
    expect(issued.keyType).toBe('rsa-2048');
    expect(createPrivateKey(issued.privateKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(new X509Certificate(issued.certificatePem).publicKey.asymmetricKeyType).toBe('rsa');
  });

  it('trusts the configured CA for this authority only: nothing process-wide, and another authority without it is refused meanwhile', async () => {
    const domain = await loopbackZone('scope');
    const untrusting = authority({ accountKeyPem, caCertificatePem: null });
    const [issued, refused] = await Promise.allSettled([
      shared.issue({ names: [domain], challenge: 'dns-01', dns01: powerDnsDns01(dns, domain) }),
      untrusting.ensureAccount(),
    ]);
    expect(issued.status).toBe('fulfilled');
    expect(refused.status === 'rejected' && refused.reason instanceof CertificateError && refused.reason.kind).toBe('ca-untrusted');

    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
    expect(acme.axios.defaults.httpsAgent).toBeUndefined();
    expect(https.globalAgent.options.ca).toBeUndefined();
    expect(https.globalAgent.options.rejectUnauthorized).not.toBe(false);
  });
});

describe('what is read from the certificate', () => {
  it('a first name too long for the X.509 common name is still issued (in the SAN only)', async () => {
    const domain = await loopbackZone('cn');
    const long = `${'l'.repeat(63)}.${domain}`;
    expect(long.length).toBeGreaterThan(64);
    const issued = await shared.issue({ names: [long, domain], challenge: 'dns-01', dns01: powerDnsDns01(dns, domain) });
    expect(issued.names).toEqual(expect.arrayContaining([long, domain]));
    expect(issued.names).toHaveLength(2);
  });

  it('refuses a chain that does not belong to the key, is out of order, or names something else', async () => {
    const domain = await loopbackZone('checks');
    const issued = await shared.issue({ names: [domain], challenge: 'dns-01', dns01: powerDnsDns01(dns, domain) });
    expect(readIssuedCertificate(issued.certificatePem, issued.privateKeyPem, 'ecdsa-p256', [domain]).fingerprintSha256).toBe(issued.fingerprintSha256);

    const otherKey = await createAccountKeyPem();
    const [leaf = '', intermediate = ''] = splitCertificateChain(issued.certificatePem);
    const refusals = [
      () => readIssuedCertificate(issued.certificatePem, otherKey, 'ecdsa-p256', [domain]),
      () => readIssuedCertificate(`${intermediate}${leaf}`, issued.privateKeyPem, 'ecdsa-p256', [domain]),
      () => readIssuedCertificate(`${leaf}${root.toString()}`, issued.privateKeyPem, 'ecdsa-p256', [domain]),
      () => readIssuedCertificate(issued.certificatePem, issued.privateKeyPem, 'ecdsa-p256', [domain, `www.${domain}`]),
      () => readIssuedCertificate('not a certificate', issued.privateKeyPem, 'ecdsa-p256', [domain]),
    ];
    for (const read of refusals) {
      let caught: unknown;
      try {
        read();
      } catch (error) {
        caught = error;
      }
      expect(caught instanceof CertificateError && caught.kind).toBe('unexpected');
    }
  });
});

describe('failures', () => {
  it('a name that does not resolve: retryable validation failure naming the name, with the CA message', async () => {
    const parent = await loopbackZone('nodns');
    const missing = `missing.${parent}`;
    // No site serves this name: its token goes to a scratch directory, removed with the file's clean-up.
    const scratch = await fs.mkdtemp(path.join(tmpdir(), 'mpanel-acme-test-'));
    scratchDirs.add(scratch);
    const http01 = webRootHttp01(scratch, parent);
    const error = await failure(shared.issue({ names: [missing], challenge: 'http-01', http01 }));
    expect(error.kind).toBe('validation-failed');
    expect(error.permanent).toBe(false);
    expect(error.problemType).toMatch(/^urn:ietf:params:acme:error:(dns|connection)$/);
    expect(error.identifier).toBe(missing);
    expect(error.caMessage).toContain(missing);
    expect(error.message).toContain(missing);
    // The token was put and taken away again.
    expect(http01.seen.removed).toEqual(http01.seen.put);
  });

  it('a token the site does not serve: the CA says unauthorized (challenge context), retryable', async () => {
    const domain = await liveSite('notoken');
    const calls: string[] = [];
    const silent: Http01Hooks = {
      put: async () => void calls.push('put'),
      remove: async () => void calls.push('remove'),
    };
    const error = await failure(shared.issue({ names: [domain], challenge: 'http-01', http01: silent }));
    expect(error.kind).toBe('validation-failed');
    expect(error.problemType).toBe('urn:ietf:params:acme:error:unauthorized');
    expect(error.permanent).toBe(false);
    expect(error.identifier).toBe(domain);
    expect(calls).toEqual(['put', 'remove']);
  });

  it("a hook that fails: challenge-hook error carrying the hook's own verdict, and the remove hook still runs", async () => {
    const domain = await loopbackZone('hook');
    const removed: string[] = [];
    const failing = (permanent: boolean | undefined) => ({
      setTxt: async () => {
        throw Object.assign(new Error('PowerDNS rejected the request: out of zone'), permanent === undefined ? {} : { permanent });
      },
      removeTxt: async (fqdn: string) => void removed.push(fqdn),
    });
    const transient = await failure(shared.issue({ names: [domain], challenge: 'dns-01', dns01: failing(undefined) }));
    expect(transient.kind).toBe('challenge-hook');
    expect(transient.permanent).toBe(false);
    expect(transient.message).toContain('out of zone');
    const permanent = await failure(shared.issue({ names: [domain], challenge: 'dns-01', dns01: failing(true) }));
    expect(permanent.permanent).toBe(true);
    expect(removed).toEqual([`_acme-challenge.${domain}`, `_acme-challenge.${domain}`]);
  });

  it("Pebble's listener certificate not trusted: a clear ca-untrusted error after one connection, no retries", async () => {
    const proxy = await new CountingProxy({ host: '127.0.0.1', port: Number(new URL(env.ACME_DIRECTORY_URL).port) }).start();
    try {
      // Slow retries on purpose: if a TLS failure were retried, this test would time out.
      const slow = { directoryUrl: proxy.rewrite(env.ACME_DIRECTORY_URL), accountKeyPem, requestRetries: 5, retryDelayMs: 20_000 };
      const systemRoots = await failure(authority({ ...slow, caCertificatePem: null }).ensureAccount());
      expect(systemRoots.kind).toBe('ca-untrusted');
      expect(systemRoots.permanent).toBe(true);
      expect(systemRoots.message).toMatch(/does not verify \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/);
      expect(systemRoots.message).toContain('no CA certificate is configured');

      // Pebble's issuing root is not what signed its listener certificate.
      const wrongCa = await failure(authority({ ...slow, caCertificatePem: root.toString() }).ensureAccount());
      expect(wrongCa.kind).toBe('ca-untrusted');
      expect(wrongCa.message).toContain('not signed by the configured CA certificate');
      expect(proxy.connections).toBe(2);
    } finally {
      await proxy.stop();
    }
  });

  it('the CA unreachable: ca-unavailable, retryable, after the configured retries', async () => {
    const proxy = await new CountingProxy({ host: '127.0.0.1', port: 1 }).start();
    try {
      const error = await failure(authority({ directoryUrl: proxy.rewrite(env.ACME_DIRECTORY_URL), accountKeyPem, requestRetries: 2, retryDelayMs: 10 }).ensureAccount());
      expect(error.kind).toBe('ca-unavailable');
      expect(error.permanent).toBe(false);
      expect(proxy.connections).toBe(3);
    } finally {
      await proxy.stop();
    }
  });

  it('hostile or malformed names are refused before any network call, hook or key', async () => {
    const proxy = await new CountingProxy({ host: '127.0.0.1', port: Number(new URL(env.ACME_DIRECTORY_URL).port) }).start();
    const calls: string[] = [];
    const http01: Http01Hooks = { put: async () => void calls.push('put'), remove: async () => void calls.push('remove') };
    const dns01 = { setTxt: async () => void calls.push('set'), removeTxt: async () => void calls.push('remove') };
    const guarded = authority({ directoryUrl: proxy.rewrite(env.ACME_DIRECTORY_URL), accountKeyPem });
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.test`;
    const cases: [string, CertificateRequest][] = [
      ['path traversal', { names: ['a/../b.example.test'], challenge: 'http-01', http01 }],
      ['dot-dot label', { names: ['a..b.example.test'], challenge: 'http-01', http01 }],
      ['newline', { names: ['example.test\nwww.example.test'], challenge: 'http-01', http01 }],
      ['upper case', { names: ['Example.test'], challenge: 'http-01', http01 }],
      ['over 253 characters', { names: [long], challenge: 'dns-01', dns01 }],
      ['label over 63', { names: [`${'x'.repeat(64)}.test`], challenge: 'dns-01', dns01 }],
      ['trailing dot', { names: ['example.test.'], challenge: 'http-01', http01 }],
      ['IP address', { names: ['127.0.0.1'], challenge: 'http-01', http01 }],
      ['single label', { names: ['localhost'], challenge: 'http-01', http01 }],
      ['wildcard over http-01', { names: ['*.example.test'], challenge: 'http-01', http01 }],
      ['wildcard not leftmost', { names: ['a.*.example.test'], challenge: 'dns-01', dns01 }],
      ['double wildcard', { names: ['*.*.example.test'], challenge: 'dns-01', dns01 }],
      ['bare wildcard TLD', { names: ['*.test'], challenge: 'dns-01', dns01 }],
      ['unicode', { names: ['exämple.test'], challenge: 'http-01', http01 }],
      ['NUL byte', { names: ['example.test\u0000.evil'], challenge: 'http-01', http01 }],
      ['nginx metacharacters', { names: ['example.test;return'], challenge: 'http-01', http01 }],
      ['duplicate', { names: ['example.test', 'example.test'], challenge: 'http-01', http01 }],
      ['no names', { names: [], challenge: 'http-01', http01 }],
      ['101 names', { names: Array.from({ length: 101 }, (_, i) => `n${i}.example.test`), challenge: 'dns-01', dns01 }],
    ];
    try {
      for (const [label, request] of cases) {
        const error = await failure(guarded.issue(request));
        expect({ label, kind: error.kind, permanent: error.permanent }).toEqual({ label, kind: 'invalid-request', permanent: true });
        expect(error.message).not.toMatch(/[\n\r]/);
        expect(error.message).not.toContain('\u0000');
      }
      // Hooks that do not match the challenge, and keys the request does not know.
      const mismatched: unknown = { names: ['example.test'], challenge: 'dns-01', http01 };
      const extra: unknown = { names: ['example.test'], challenge: 'http-01', http01, shell: 'rm -rf /' };
      for (const request of [mismatched, extra]) {
        // The port's type forbids these; a caller in plain JavaScript (or a bad cast) is still refused.
        expect((await failure(guarded.issue(request as CertificateRequest))).kind).toBe('invalid-request');
      }
      expect(calls).toEqual([]);
      expect(proxy.connections).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});
