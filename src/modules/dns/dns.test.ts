import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, dnsRecords, dnsZones, type Tenant, type User } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { scheduleZoneDeletion } from './zone-retention.js';
import { buildOrder, buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { answersOf, dnsErrorCode, powerDns, provisionTestZone, resolverFor, ZoneCleanup, type ProvisionedZone } from '../../../test/helpers/dns.js';
import { expectProblem } from '../../../test/helpers/routes.js';
import { TcpProxy } from '../../../test/helpers/tcp-proxy.js';

let t: TestApp;
let tenant: Tenant;
let admin: User;
let headers: Record<string, string>;
const cleanup = new ZoneCleanup();
const db = () => t.container.database.db;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  ({ user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' }));
  headers = await authHeader(t.env, admin);
});
afterAll(async () => {
  await cleanup.deleteAll(t.env);
  await t.close();
});

const zoneOf = (provisioned: ProvisionedZone) => ({ id: provisioned.zone.zoneId, name: provisioned.order.domain.name });

const postRecord = (zoneId: string, body: Record<string, unknown>, as = headers) => t.app.inject({ method: 'POST', url: `/api/dns/zones/${zoneId}/records`, headers: as, payload: body });
const patchRecord = (id: string, body: Record<string, unknown>) => t.app.inject({ method: 'PATCH', url: `/api/dns/records/${id}`, headers, payload: body });
const deleteRecordCall = (id: string) => t.app.inject({ method: 'DELETE', url: `/api/dns/records/${id}`, headers });

const rowsOf = (zoneId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zoneId)).orderBy(asc(dnsRecords.id)));
const auditOf = (targetId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, targetId)).orderBy(asc(auditLogs.seq)));

/** Database rows, PowerDNS's zone and the audit log count: what "nothing changed" compares. */
async function stateOf(zone: { id: string; name: string }) {
  const audit = await withTenant(db(), tenant.id, (tx) => tx.select({ id: auditLogs.id }).from(auditLogs));
  return { rows: await rowsOf(zone.id), remote: await powerDns(t.env).getZone(zone.name), audit: audit.length };
}

describe('GET /api/dns/zones and /api/dns/zones/:id', () => {
  it("lists the tenant's zones newest first, a page at a time, and never another tenant's", async () => {
    const first = await provisionTestZone(t.env, db(), tenant, cleanup);
    const second = await provisionTestZone(t.env, db(), tenant, cleanup);
    const other = await buildTenant(db());
    const foreign = await provisionTestZone(t.env, db(), other, cleanup);

    const page1 = await t.app.inject({ method: 'GET', url: '/api/dns/zones?limit=1', headers });
    expect(page1.statusCode, page1.body).toBe(200);
    expect(page1.json().items.map((zone: { name: string }) => zone.name)).toEqual([second.order.domain.name]);
    expect(page1.json().nextCursor).toEqual(expect.any(String));
    const page2 = await t.app.inject({ method: 'GET', url: `/api/dns/zones?limit=1&cursor=${page1.json().nextCursor}`, headers });
    expect(page2.json().items.map((zone: { name: string }) => zone.name)).toEqual([first.order.domain.name]);

    const all = await t.app.inject({ method: 'GET', url: '/api/dns/zones?limit=200&status=ACTIVE', headers });
    const names = all.json().items.map((zone: { name: string }) => zone.name);
    expect(names).toContain(first.order.domain.name);
    expect(names).not.toContain(foreign.order.domain.name);
    expect(all.json().items[0]).toMatchObject({ status: 'ACTIVE', serial: expect.any(Number), createdAt: expect.any(String) });
  });

  it('shows a zone with its records (sorted by name bytewise, then type) and name servers; another tenant gets 404', async () => {
    const provisioned = await provisionTestZone(t.env, db(), tenant, cleanup);
    const { id, name } = zoneOf(provisioned);
    const res = await t.app.inject({ method: 'GET', url: `/api/dns/zones/${id}`, headers });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id, name, status: 'ACTIVE', serial: provisioned.zone.serial, nameservers: ['ns1.mpanel.test', 'ns2.mpanel.test'] });
    expect(body.records.map((r: { name: string; type: string; content: string }) => `${r.name} ${r.type} ${r.content}`)).toEqual([
      `_dmarc.${name} TXT v=DMARC1; p=quarantine`,
      `mail.${name} A 127.0.0.1`,
      `${name} A 127.0.0.1`,
      `${name} MX mail.${name}`,
      `${name} TXT v=spf1 mx -all`,
      `www.${name} A 127.0.0.1`,
    ]);

    const other = await buildTenant(db());
    const { user: intruder } = await buildUser(db(), other, { role: 'ADMIN' });
    expectProblem(await t.app.inject({ method: 'GET', url: `/api/dns/zones/${id}`, headers: await authHeader(t.env, intruder) }), 404, 'NOT_FOUND');
  });
});

describe('record changes are written to PowerDNS and the database together', () => {
  it('create, change, move and delete records: each answered by DNS at once, each audited with before/after', async () => {
    const zone = zoneOf(await provisionTestZone(t.env, db(), tenant, cleanup));
    const resolver = resolverFor(t.env);

    const created = await postRecord(zone.id, { name: 'api', type: 'A', content: '192.0.2.10', ttl: 300 });
    expect(created.statusCode, created.body).toBe(201);
    const record = created.json();
    expect(record).toMatchObject({ zoneId: zone.id, name: `api.${zone.name}`, type: 'A', content: '192.0.2.10', ttl: 300, priority: null, managed: false });
    expect(await resolver.resolve4(`api.${zone.name}`)).toEqual(['192.0.2.10']);

    // A second record of the same RRset takes its TTL; DNS answers both.
    const second = await postRecord(zone.id, { name: `api.${zone.name}.`, type: 'A', content: '192.0.2.11' });
    expect(second.statusCode, second.body).toBe(201);
    expect(second.json().ttl).toBe(300);
    expect((await resolver.resolve4(`api.${zone.name}`, { ttl: true })).map((a) => [a.address, a.ttl]).sort()).toEqual([
      ['192.0.2.10', 300],
      ['192.0.2.11', 300],
    ]);

    // A TTL given on one record becomes the TTL of its RRset.
    const changed = await patchRecord(record.id, { content: '192.0.2.20', ttl: 600 });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json()).toMatchObject({ id: record.id, content: '192.0.2.20', ttl: 600 });
    expect((await resolver.resolve4(`api.${zone.name}`, { ttl: true })).map((a) => [a.address, a.ttl]).sort()).toEqual([
      ['192.0.2.11', 600],
      ['192.0.2.20', 600],
    ]);
    expect((await rowsOf(zone.id)).filter((row) => row.name === `api.${zone.name}`).map((row) => row.ttl)).toEqual([600, 600]);

    // Moving a record to another name takes it out of the old RRset.
    const moved = await patchRecord(record.id, { name: 'app' });
    expect(moved.statusCode, moved.body).toBe(200);
    expect(await resolver.resolve4(`app.${zone.name}`)).toEqual(['192.0.2.20']);
    expect(await resolver.resolve4(`api.${zone.name}`)).toEqual(['192.0.2.11']);

    const deleted = await deleteRecordCall(record.id);
    expect(deleted.statusCode, deleted.body).toBe(204);
    expect(await dnsErrorCode(resolver.resolve4(`app.${zone.name}`))).toBe('ENOTFOUND');
    expect((await rowsOf(zone.id)).some((row) => row.id === record.id)).toBe(false);

    const audit = await auditOf(record.id);
    expect(audit.map((entry) => entry.action)).toEqual(['dns_record.created', 'dns_record.updated', 'dns_record.updated', 'dns_record.deleted']);
    expect(audit[1]).toMatchObject({ actorUserId: admin.id, before: { content: '192.0.2.10', ttl: 300 }, after: { content: '192.0.2.20', ttl: 600 } });
    expect(audit[1]?.metadata).toMatchObject({ zone: zone.name, rrsetTtlAlsoSetOn: [second.json().id] });
    expect(audit[3]).toMatchObject({ before: { name: `app.${zone.name}`, content: '192.0.2.20' }, after: null });

    // The zone's serial follows PowerDNS's.
    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(dnsZones).where(eq(dnsZones.id, zone.id)));
    expect(row?.serial).toBe((await powerDns(t.env).getZone(zone.name)).serial);
  });

  it('editing a template record makes it the user’s (managed false) and DNS answers the new address', async () => {
    const zone = zoneOf(await provisionTestZone(t.env, db(), tenant, cleanup));
    const www = (await rowsOf(zone.id)).find((row) => row.name === `www.${zone.name}` && row.type === 'A');
    expect(www?.managed).toBe(true);
    const res = await patchRecord(www!.id, { content: '192.0.2.80' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ managed: false, content: '192.0.2.80' });
    expect(await resolverFor(t.env).resolve4(`www.${zone.name}`)).toEqual(['192.0.2.80']);
  });

  it('every record type reaches DNS as written: AAAA, CNAME, MX, long TXT, SRV, CAA, delegated NS', async () => {
    const zone = zoneOf(await provisionTestZone(t.env, db(), tenant, cleanup));
    const resolver = resolverFor(t.env);
    const longText = `v=DKIM1; k=rsa; p=${'A'.repeat(300)}`;
    const bodies = [
      { name: 'v6', type: 'AAAA', content: '2001:DB8:0:0::10' },
      { name: 'blog', type: 'CNAME', content: `www.${zone.name}` },
      { name: '@', type: 'MX', content: 'backup-mx.example.net.', priority: 20 },
      { name: `mail._domainkey.${zone.name}`, type: 'TXT', content: longText },
      { name: `_sip._tcp.${zone.name}`, type: 'SRV', content: `5 5060 sip.${zone.name}`, priority: 10 },
      { name: '@', type: 'CAA', content: '0 issue letsencrypt.org' },
      { name: 'lab', type: 'NS', content: 'ns1.lab-hoster.example.net' },
    ];
    for (const body of bodies) {
      const res = await postRecord(zone.id, body);
      expect(res.statusCode, `${body.type}: ${res.body}`).toBe(201);
    }
    const stored = (await rowsOf(zone.id)).filter((row) => !row.managed);
    expect(stored.find((row) => row.type === 'AAAA')?.content).toBe('2001:db8::10');
    expect(stored.find((row) => row.type === 'CAA')?.content).toBe('0 issue "letsencrypt.org"');

    expect(await resolver.resolve6(`v6.${zone.name}`)).toEqual(['2001:db8::10']);
    expect(await resolver.resolveCname(`blog.${zone.name}`)).toEqual([`www.${zone.name}`]);
    expect((await answersOf(resolver.resolveMx(zone.name))).sort((a, b) => a.priority - b.priority)).toEqual([
      { exchange: `mail.${zone.name}`, priority: 10 },
      { exchange: 'backup-mx.example.net', priority: 20 },
    ]);
    // DNS carries TXT data in strings of at most 255 bytes; joined, it is the text as written.
    const [txt] = await resolver.resolveTxt(`mail._domainkey.${zone.name}`);
    expect(txt?.map((part) => part.length)).toEqual([255, longText.length - 255]);
    expect(txt?.join('')).toBe(longText);
    expect(await answersOf(resolver.resolveSrv(`_sip._tcp.${zone.name}`))).toEqual([{ name: `sip.${zone.name}`, port: 5060, priority: 10, weight: 5 }]);
    expect(await answersOf(resolver.resolveCaa(zone.name))).toEqual([{ critical: 0, issue: 'letsencrypt.org' }]);
    expect((await powerDns(t.env).getZone(zone.name)).rrsets.find((r) => r.name === `lab.${zone.name}` && r.type === 'NS')?.records).toEqual([
      { content: 'ns1.lab-hoster.example.net.', disabled: false },
    ]);
  });
});

describe('invalid records are rejected with field errors, and nothing changes', () => {
  const cases: { what: string; body: Record<string, unknown>; status: number; code: string; field: string; message?: RegExp }[] = [
    { what: 'an A record that is not an IPv4 address', body: { name: 'x', type: 'A', content: 'not-an-ip' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'an AAAA record with an IPv4 address', body: { name: 'x', type: 'AAAA', content: '192.0.2.1' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'a name outside the zone', body: { name: 'www.other.test', type: 'A', content: '192.0.2.1' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/name', message: /outside the zone/ },
    { what: 'an absolute name outside the zone', body: { name: 'www.other.test.', type: 'A', content: '192.0.2.1' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/name' },
    { what: 'an invalid label', body: { name: 'bad_-label-', type: 'A', content: '192.0.2.1' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/name' },
    { what: 'an MX without priority', body: { name: '@', type: 'MX', content: 'mx.example.net' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/priority' },
    { what: 'a priority on an A record', body: { name: 'x', type: 'A', content: '192.0.2.1', priority: 5 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/priority' },
    { what: 'an MX pointing at a bare label', body: { name: '@', type: 'MX', content: 'mail', priority: 5 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'an MX pointing at a loopback address', body: { name: '@', type: 'MX', content: '127.0.0.1', priority: 5 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'an MX pointing at localhost', body: { name: '@', type: 'MX', content: 'localhost.', priority: 5 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'an MX pointing at its own name', body: { name: '@', type: 'MX', content: '@', priority: 5 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'a CNAME pointing at its own name', body: { name: 'loop', type: 'CNAME', content: 'loop.{zone}' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'a CNAME pointing at a name under localhost', body: { name: 'lo', type: 'CNAME', content: 'db.localhost' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'a CNAME at the apex', body: { name: '@', type: 'CNAME', content: 'elsewhere.example.net' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/name' },
    { what: 'NS records at the apex', body: { name: '@', type: 'NS', content: 'ns9.example.net' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/name' },
    { what: 'TXT with non-ASCII text', body: { name: 'x', type: 'TXT', content: 'héllo' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'an SRV name without _service._proto', body: { name: 'sip', type: 'SRV', content: '5 5060 sip.example.net', priority: 1 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/name' },
    { what: 'a CAA record with a bad flag', body: { name: '@', type: 'CAA', content: '300 issue "ca.example"' }, status: 400, code: 'VALIDATION_FAILED', field: 'body/content' },
    { what: 'a TTL below 60 s', body: { name: 'x', type: 'A', content: '192.0.2.1', ttl: 30 }, status: 400, code: 'VALIDATION_FAILED', field: 'body/ttl' },
    { what: 'an unknown field', body: { name: 'x', type: 'A', content: '192.0.2.1', zoneId: 'x' }, status: 400, code: 'VALIDATION_FAILED', field: 'body' },
    { what: 'a CNAME where A records are', body: { name: 'www', type: 'CNAME', content: 'elsewhere.example.net' }, status: 409, code: 'CONFLICT', field: 'body/name', message: /cannot share its name/ },
    { what: 'an exact duplicate', body: { name: 'www', type: 'A', content: '127.0.0.1' }, status: 409, code: 'CONFLICT', field: 'body/content' },
  ];

  let zone: { id: string; name: string };
  beforeAll(async () => {
    zone = zoneOf(await provisionTestZone(t.env, db(), tenant, cleanup));
  });

  it.each(cases)('$what → $status $code on $field', async ({ body, status, code, field, message }) => {
    const before = await stateOf(zone);
    const res = await postRecord(zone.id, JSON.parse(JSON.stringify(body).replaceAll('{zone}', zone.name)) as typeof body);
    expectProblem(res, status, code);
    const problem = res.json();
    const error = problem.errors?.find((e: { field: string }) => e.field === field || e.field.startsWith(`${field}`));
    expect(error, JSON.stringify(problem.errors)).toBeDefined();
    if (message) expect(error.message).toMatch(message);
    expect(await stateOf(zone)).toEqual(before);
  });

  it('an A record beside a CNAME → 409, and an invalid change to an existing record leaves it as it was', async () => {
    const cname = await postRecord(zone.id, { name: 'alias', type: 'CNAME', content: `www.${zone.name}` });
    expect(cname.statusCode, cname.body).toBe(201);
    const before = await stateOf(zone);
    expectProblem(await postRecord(zone.id, { name: 'alias', type: 'A', content: '192.0.2.1' }), 409, 'CONFLICT');
    const www = before.rows.find((row) => row.name === `www.${zone.name}`);
    const bad = await patchRecord(www!.id, { content: '999.1.1.1' });
    expectProblem(bad, 400, 'VALIDATION_FAILED');
    expect(bad.json().errors).toEqual([{ field: 'body/content', message: expect.stringMatching(/IPv4/) }]);
    expectProblem(await patchRecord(www!.id, { name: 'alias' }), 409, 'CONFLICT');
    expectProblem(await patchRecord(www!.id, {}), 400, 'VALIDATION_FAILED');
    expectProblem(await patchRecord(www!.id, { type: 'TXT' }), 400, 'VALIDATION_FAILED');
    expect(await stateOf(zone)).toEqual(before);
  });

  it('a zone still being provisioned (PENDING) takes no record changes: 409', async () => {
    const order = await buildOrder(db(), tenant);
    const [pending] = await withTenant(db(), tenant.id, (tx) => tx.insert(dnsZones).values({ tenantId: tenant.id, domainId: order.domain.id, name: order.domain.name }).returning());
    expectProblem(await postRecord(pending!.id, { name: 'x', type: 'A', content: '192.0.2.1' }), 409, 'CONFLICT');
  });
});

describe("a terminated subscription's zone is read-only", () => {
  it('record writes are 409 once the zone is scheduled for deletion, and nothing changes', async () => {
    const provisioned = await provisionTestZone(t.env, db(), tenant, cleanup);
    const zone = zoneOf(provisioned);
    const [record] = await withTenant(db(), tenant.id, (tx) => tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zone.id)));
    await withTenant(db(), tenant.id, (tx) => scheduleZoneDeletion(tx, provisioned.order.domain.id, new Date(Date.now() + 86_400_000)));
    const before = await stateOf(zone);
    expectProblem(await postRecord(zone.id, { name: 'api', type: 'A', content: '192.0.2.10' }), 409, 'CONFLICT');
    expectProblem(await t.app.inject({ method: 'PATCH', url: `/api/dns/records/${record!.id}`, headers, payload: { content: '192.0.2.99' } }), 409, 'CONFLICT');
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/dns/records/${record!.id}`, headers }), 409, 'CONFLICT');
    expect(await stateOf(zone)).toEqual(before);
  });
});

describe('when PowerDNS refuses or cannot be reached, the database is unchanged and the error says why', () => {
  it('PowerDNS rejects an A record beside a CNAME it holds that the database does not know (drift): 422 with its message', async () => {
    const zone = zoneOf(await provisionTestZone(t.env, db(), tenant, cleanup));
    // Made in PowerDNS behind mPanel's back: the database (and so our validation) knows nothing of it.
    await powerDns(t.env).patchRRsets(zone.name, [{ kind: 'replace', name: `oob.${zone.name}`, type: 'CNAME', ttl: 300, contents: ['elsewhere.example.net.'] }]);
    const before = await stateOf(zone);
    const res = await postRecord(zone.id, { name: 'oob', type: 'A', content: '192.0.2.1' });
    expectProblem(res, 422, 'UPSTREAM_REJECTED');
    expect(res.json().detail).toMatch(/PowerDNS rejected the change.*Conflicts with pre-existing RRset/);
    expect(res.json().upstreamMessage).toMatch(/oob\..* IN A: Conflicts with pre-existing RRset/);
    expect(await stateOf(zone)).toEqual(before);
  });

  it('PowerDNS unreachable: 503 with Retry-After, nothing written', async () => {
    const zone = zoneOf(await provisionTestZone(t.env, db(), tenant, cleanup));
    const closed = new TcpProxy('127.0.0.1', 1);
    await closed.open();
    await closed.close();
    const down = await createTestApp({ env: { POWERDNS_API_URL: `${closed.url}/api/v1`, POWERDNS_RETRIES: '1' } });
    try {
      const before = await stateOf(zone);
      const res = await down.app.inject({ method: 'POST', url: `/api/dns/zones/${zone.id}/records`, headers, payload: { name: 'x', type: 'A', content: '192.0.2.1' } });
      expectProblem(res, 503, 'DEPENDENCY_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('5');
      expect(res.body).not.toContain(t.env.POWERDNS_API_KEY);
      const www = before.rows.find((row) => row.name === `www.${zone.name}`);
      expectProblem(await down.app.inject({ method: 'DELETE', url: `/api/dns/records/${www!.id}`, headers }), 503, 'DEPENDENCY_UNAVAILABLE');
      expect(await stateOf(zone)).toEqual(before);
    } finally {
      await down.close();
    }
  });
});
