import net from 'node:net';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { randomLabel, silentLogger, ZoneCleanup } from '../../../test/helpers/dns.js';
import { powerDnsSettings } from '../../container.js';
import { PowerDnsClient } from './powerdns.client.js';
import { DnsNotFoundError, DnsRejectedError, DnsUnreachableError, type NewZone } from '../dns.port.js';
import { TcpProxy } from '../../../test/helpers/tcp-proxy.js';

// The real PowerDNS on loopback; every zone has a random name and is deleted at the end.
const env = loadEnv();
const client = new PowerDnsClient(powerDnsSettings(env, silentLogger));
const cleanup = new ZoneCleanup();
afterAll(() => cleanup.deleteAll(env));

const soa = { primary: 'ns1.mpanel.test', hostmaster: 'hostmaster.mpanel.test', refresh: 10800, retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 };
const newZone = (name: string, extra: Partial<NewZone> = {}): NewZone => ({
  name,
  account: 'tenant-under-test',
  nameservers: ['ns1.mpanel.test', 'ns2.mpanel.test'],
  soa,
  rrsets: [{ name: `www.${name}`, type: 'A', ttl: 300, records: [{ content: '127.0.0.1', disabled: false }] }],
  ...extra,
});

/** Error thrown by `promise` (fails the test when it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('PowerDnsClient against the real PowerDNS', () => {
  it('creates a Native zone with SOA, NS and RRsets in one call, names without the trailing dot', async () => {
    const name = cleanup.track(`${randomLabel('pdns')}.test`);
    const { created, zone } = await client.createZone(newZone(name));
    expect(created).toBe(true);
    expect(zone).toMatchObject({ name, kind: 'Native', account: 'tenant-under-test', serial: expect.any(Number) });
    const byType = Object.fromEntries(zone.rrsets.map((rrset) => [`${rrset.name} ${rrset.type}`, rrset]));
    expect(byType[`${name} SOA`]?.records[0]?.content).toMatch(/^ns1\.mpanel\.test\. hostmaster\.mpanel\.test\. \d+ 10800 3600 604800 3600$/);
    expect(byType[`${name} NS`]).toEqual({ name, type: 'NS', ttl: 3600, records: [{ content: 'ns1.mpanel.test.', disabled: false }, { content: 'ns2.mpanel.test.', disabled: false }] });
    expect(byType[`www.${name} A`]).toEqual({ name: `www.${name}`, type: 'A', ttl: 300, records: [{ content: '127.0.0.1', disabled: false }] });
    expect(await client.listZones({ name })).toEqual([{ name, kind: 'Native', serial: zone.serial, account: 'tenant-under-test' }]);
  });

  it('an existing zone is not an error: 409 → read back, created false', async () => {
    const name = cleanup.track(`${randomLabel('pdns')}.test`);
    const first = await client.createZone(newZone(name));
    const again = await client.createZone(newZone(name, { rrsets: [] }));
    expect(again).toEqual({ created: false, zone: first.zone });
  });

  it('concurrent creates of one zone (PowerDNS answers some with 500) all succeed; exactly one created it', async () => {
    const name = cleanup.track(`${randomLabel('pdns-race')}.test`);
    const results = await Promise.all(Array.from({ length: 10 }, () => client.createZone(newZone(name))));
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(new Set(results.map((result) => result.zone.name))).toEqual(new Set([name]));
  });

  it('PATCH replaces and deletes RRsets; PowerDNS refusing content is a DnsRejectedError with its reason', async () => {
    const name = cleanup.track(`${randomLabel('pdns')}.test`);
    await client.createZone(newZone(name));
    await client.patchRRsets(name, [
      { kind: 'replace', name: `api.${name}`, type: 'A', ttl: 60, contents: ['192.0.2.1', '192.0.2.2'] },
      { kind: 'delete', name: `www.${name}`, type: 'A' },
    ]);
    const zone = await client.getZone(name);
    expect(zone.rrsets.find((rrset) => rrset.type === 'A')).toEqual({
      name: `api.${name}`,
      type: 'A',
      ttl: 60,
      records: [
        { content: '192.0.2.1', disabled: false },
        { content: '192.0.2.2', disabled: false },
      ],
    });
    expect(zone.rrsets.some((rrset) => rrset.name === `www.${name}`)).toBe(false);

    const rejected = await failureOf(client.patchRRsets(name, [{ kind: 'replace', name: `bad.${name}`, type: 'A', ttl: 60, contents: ['not-an-ip'] }]));
    expect(rejected).toBeInstanceOf(DnsRejectedError);
    expect((rejected as DnsRejectedError).upstreamMessage).toMatch(/bad\..*\/A 'not-an-ip': Parsing record content/);
    expect(await client.getZone(name)).toEqual(zone);
  });

  it('a zone that does not exist: getZone and PATCH throw DnsNotFoundError, findZone is null, delete is false', async () => {
    const name = `${randomLabel('absent')}.test`;
    expect(await failureOf(client.getZone(name))).toBeInstanceOf(DnsNotFoundError);
    expect(await client.findZone(name)).toBeNull();
    expect(await failureOf(client.patchRRsets(name, [{ kind: 'delete', name, type: 'A' }]))).toBeInstanceOf(DnsNotFoundError);
    expect(await client.deleteZone(name)).toBe(false);
    expect(await client.listZones({ name })).toEqual([]);
  });

  it('refuses names in the API form (trailing dot, upper case) before any request', async () => {
    await expect(client.getZone('example.test.')).rejects.toThrow(/without a trailing dot/);
    await expect(client.getZone('Example.test')).rejects.toThrow(/lower-case/);
  });
});

describe('PowerDnsClient failures', () => {
  it('a wrong API key is DnsUnreachableError (unauthorized), and the key is in no message', async () => {
    const wrongKey = 'wrong-key-0123456789';
    const wrong = new PowerDnsClient({ ...powerDnsSettings(env, silentLogger), apiKey: wrongKey });
    const error = await failureOf(wrong.listZones());
    expect(error).toBeInstanceOf(DnsUnreachableError);
    expect((error as DnsUnreachableError).reason).toBe('unauthorized');
    expect(String(error)).not.toContain(wrongKey);
  });

  it('connection refused: retried with backoff, then DnsUnreachableError; the retries are logged without the API key', async () => {
    const closed = new TcpProxy('127.0.0.1', 1);
    await closed.open();
    await closed.close();
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    const down = new PowerDnsClient({ ...powerDnsSettings(env, logger), apiUrl: `${closed.url}/api/v1`, retries: 2, retryDelayMs: 10 });
    const error = await failureOf(down.getZone('example.test'));
    expect(error).toBeInstanceOf(DnsUnreachableError);
    expect((error as DnsUnreachableError).reason).toBe('connection');
    expect((error as Error).message).toMatch(/is unreachable \(GET \/zones\/example\.test\.: ECONNREFUSED\)/);
    expect(lines).toHaveLength(2);
    expect(lines.join('\n')).toContain('retrying');
    expect(`${lines.join("\n")}${String(error)}`).not.toContain(env.POWERDNS_API_KEY);
  });

  it('a PowerDNS that accepts the connection but never answers times out (DnsUnreachableError, timeout)', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = address && typeof address === 'object' ? address.port : 0;
    try {
      const stuck = new PowerDnsClient({ ...powerDnsSettings(env, silentLogger), apiUrl: `http://127.0.0.1:${port}/api/v1`, timeoutMs: 200, retries: 1, retryDelayMs: 10 });
      const started = performance.now();
      const error = await failureOf(stuck.listZones());
      expect(error).toBeInstanceOf(DnsUnreachableError);
      expect((error as DnsUnreachableError).reason).toBe('timeout');
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      silent.close();
    }
  });
});
