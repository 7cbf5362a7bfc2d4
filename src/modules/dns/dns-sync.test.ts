import { spawn } from 'node:child_process';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsZones, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildTenant } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { answersOf, dnsErrorCode, powerDns, provisionTestZone, resolverFor, silentLogger, ZoneCleanup } from '../../../test/helpers/dns.js';
import { dnsSettings } from './dns-template.js';
import { formatZoneResult, progressReporter, syncDns, type DnsSyncDeps } from './dns-sync.js';

let t: TestApp;
let tenant: Tenant;
const cleanup = new ZoneCleanup();
const db = () => t.container.database.db;
const deps = (): DnsSyncDeps => ({ db: db(), dns: powerDns(t.env), settings: dnsSettings(t.env), logger: silentLogger });

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
});
afterAll(async () => {
  await cleanup.deleteAll(t.env);
  await t.close();
});

/** `mpanel dns sync ...` as an operator runs it, against this file's database. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/mpanel.js', 'dns', 'sync', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('dns sync: the database is the source of truth', () => {
  it('reports RRsets deleted, changed and added in PowerDNS, and --fix puts them back as the database says', async () => {
    const { order, zone } = await provisionTestZone(t.env, db(), tenant, cleanup);
    const name = order.domain.name;
    const pdns = powerDns(t.env);
    await pdns.patchRRsets(name, [
      { kind: 'delete', name: `www.${name}`, type: 'A' },
      { kind: 'replace', name, type: 'MX', ttl: 300, contents: ['5 Other-MX.example.net.'] },
      { kind: 'replace', name: `stray.${name}`, type: 'TXT', ttl: 60, contents: ['"left behind"'] },
      { kind: 'replace', name, type: 'NS', ttl: 3600, contents: ['ns1.mpanel.test.', 'ns3.elsewhere.test.'] },
    ]);
    const drifted = await pdns.getZone(name);

    const report = await syncDns(deps(), { zone: name, fix: false });
    expect(report).toMatchObject({ checked: 1, remaining: 1 });
    const [result] = report.results;
    expect(result).toMatchObject({ zone: name, zoneId: zone.zoneId, tenantSlug: tenant.slug, missingZone: false, fixed: false });
    expect(result?.drift).toEqual([
      {
        kind: 'different',
        name,
        type: 'MX',
        expected: { ttl: 3600, contents: [`10 mail.${name}.`] },
        actual: { ttl: 300, contents: ['5 other-mx.example.net.'] },
      },
      {
        kind: 'different',
        name,
        type: 'NS',
        expected: { ttl: 3600, contents: ['ns1.mpanel.test.', 'ns2.mpanel.test.'] },
        actual: { ttl: 3600, contents: ['ns1.mpanel.test.', 'ns3.elsewhere.test.'] },
      },
      { kind: 'extra', name: `stray.${name}`, type: 'TXT', actual: { ttl: 60, contents: ['"left behind"'] } },
      { kind: 'missing', name: `www.${name}`, type: 'A', expected: { ttl: 3600, contents: ['127.0.0.1'] } },
    ]);
    const lines = formatZoneResult(result!);
    expect(lines[0]).toBe(`${name} (tenant ${tenant.slug}): 4 RRset(s) differ`);
    expect(lines).toContain(`  missing    www.${name} A: ttl 3600 127.0.0.1`);
    expect(lines).toContain(`  extra      stray.${name} TXT: ttl 60 "left behind"`);
    // A check changes nothing.
    expect(await pdns.getZone(name)).toEqual(drifted);

    const fixed = await syncDns(deps(), { zone: name, fix: true });
    expect(fixed).toMatchObject({ checked: 1, remaining: 0 });
    expect(fixed.results[0]?.fixed).toBe(true);
    expect(await syncDns(deps(), { zone: name, fix: false })).toEqual({ checked: 1, results: [], remaining: 0 });

    const resolver = resolverFor(t.env);
    expect(await resolver.resolve4(`www.${name}`)).toEqual(['127.0.0.1']);
    expect(await answersOf(resolver.resolveMx(name))).toEqual([{ exchange: `mail.${name}`, priority: 10 }]);
    expect(await dnsErrorCode(resolver.resolveTxt(`stray.${name}`))).toBe('ENOTFOUND');
    expect((await resolver.resolveNs(name)).sort()).toEqual(['ns1.mpanel.test', 'ns2.mpanel.test']);
    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(dnsZones).where(eq(dnsZones.id, zone.zoneId)));
    expect(row?.serial).toBe((await pdns.getZone(name)).serial);
  });

  it('recreates a zone missing from PowerDNS, for its tenant', async () => {
    const { order } = await provisionTestZone(t.env, db(), tenant, cleanup);
    const name = order.domain.name;
    const pdns = powerDns(t.env);
    expect(await pdns.deleteZone(name)).toBe(true);
    expect(await dnsErrorCode(resolverFor(t.env).resolve4(name))).toBe('EREFUSED');

    const report = await syncDns(deps(), { zone: name, fix: false });
    expect(report.results[0]).toMatchObject({ missingZone: true, fixed: false });
    expect(formatZoneResult(report.results[0]!)[0]).toMatch(/zone missing in PowerDNS \(\d+ RRsets to create\)/);

    await syncDns(deps(), { zone: name, fix: true });
    const recreated = await pdns.getZone(name);
    expect(recreated.account).toBe(tenant.id);
    expect(await resolverFor(t.env).resolve4(`www.${name}`)).toEqual(['127.0.0.1']);
    expect((await syncDns(deps(), { zone: name, fix: false })).remaining).toBe(0);
  });

  it('never touches a zone PowerDNS holds for another account, and keeps reporting it', async () => {
    const { order } = await provisionTestZone(t.env, db(), tenant, cleanup);
    const name = order.domain.name;
    const pdns = powerDns(t.env);
    await pdns.deleteZone(name);
    const { zone: foreign } = await pdns.createZone({
      name,
      account: 'someone-else',
      nameservers: ['ns1.elsewhere.test'],
      soa: { primary: 'ns1.elsewhere.test', hostmaster: 'hostmaster.elsewhere.test', refresh: 1, retry: 1, expire: 1, minimum: 60, ttl: 60 },
    });
    const report = await syncDns(deps(), { zone: name, fix: true });
    expect(report.remaining).toBe(1);
    expect(report.results[0]).toMatchObject({ fixed: false, error: expect.stringMatching(/account "someone-else"/) });
    expect(await pdns.getZone(name)).toEqual(foreign);

    // Once the foreign zone is gone, the tenant's is recreated (and later tests see no drift).
    await pdns.deleteZone(name);
    expect((await syncDns(deps(), { zone: name, fix: true })).remaining).toBe(0);
  });

  // Five `mpanel` processes (1–2 s each when the machine is idle): a longer timeout.
  it('`mpanel dns sync` exits 1 while drift remains, prints it, and `--fix` repairs it (exit 0)', { timeout: 90_000 }, async () => {
    const { order } = await provisionTestZone(t.env, db(), tenant, cleanup);
    const name = order.domain.name;
    await powerDns(t.env).patchRRsets(name, [{ kind: 'delete', name: `www.${name}`, type: 'A' }]);

    const check = await cli(['--zone', name]);
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toContain(`${name} (tenant ${tenant.slug}): 1 RRset(s) differ`);
    expect(check.stdout).toContain(`  missing    www.${name} A: ttl 3600 127.0.0.1`);
    expect(check.stdout).toContain('dns sync: 1 zone(s) checked, 1 out of sync, 1 remaining');

    const fix = await cli(['--zone', name, '--fix']);
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.stdout).toContain(`${name} (tenant ${tenant.slug}): 1 RRset(s) differ: FIXED`);
    expect(fix.stdout).toContain('1 out of sync, 1 fixed, 0 remaining');
    expect(await resolverFor(t.env).resolve4(`www.${name}`)).toEqual(['127.0.0.1']);

    // Every ACTIVE zone of every tenant, when no zone is named.
    const all = await cli([]);
    expect(all.code, `${all.stdout}${all.stderr}`).toBe(0);
    expect(all.stdout).toMatch(/dns sync: \d+ zone\(s\) checked, 0 out of sync, 0 remaining/);

    const unknown = await cli(['--zone', 'no-such-zone.test']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no ACTIVE zone named no-such-zone.test');

    // PowerDNS unreachable: a clear message and exit 1 (not a stack trace), and no API key in it.
    const down = await cli(['--zone', name], { POWERDNS_API_URL: 'http://127.0.0.1:1/api/v1', POWERDNS_RETRIES: '0' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^mpanel: dns sync stopped: PowerDNS at http:\/\/127\.0\.0\.1:1\/api\/v1\/servers\/localhost is unreachable/);
    expect(down.stderr).not.toContain(t.env.POWERDNS_API_KEY);
  });
});

describe('progress output', () => {
  const capture = (isTTY: boolean) => {
    const written: string[] = [];
    return { stream: { isTTY, write: (text: string) => written.push(text) }, written };
  };

  it('redraws a bar in place on a terminal', () => {
    const { stream, written } = capture(true);
    const report = progressReporter(stream);
    for (let done = 1; done <= 500; done++) report(done, 500);
    expect(written).toHaveLength(500);
    expect(written[119]).toBe(`\r[#######                       ] 120/500 zones`);
    expect(written.at(-1)).toBe(`\r[${'#'.repeat(30)}] 500/500 zones\n`);
  });

  it('writes a plain line at every tenth otherwise, and nothing for a handful of zones', () => {
    const { stream, written } = capture(false);
    const report = progressReporter(stream);
    for (let done = 1; done <= 500; done++) report(done, 500);
    expect(written).toEqual([1, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500].map((done) => `dns sync: ${done}/500 zones\n`));
    const few = capture(true);
    const small = progressReporter(few.stream);
    for (let done = 1; done <= 5; done++) small(done, 5);
    expect(few.written).toEqual([]);
  });
});
