import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, servers, type Tenant, type User, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildServer, buildTenant, buildUser } from '../../../test/factories.js';
import type { AppError } from '../../shared/errors/app-error.js';
import { cliActor } from '../audit/audit.service.js';
import { createServer, ensureServer } from './servers.service.js';

let t: TestApp;
let tenant: Tenant;
let admin: User;
let hostKey: string;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  // Servers are the platform's: only a SUPER_ADMIN registers or changes one.
  admin = (await buildUser(db(), tenant, { role: 'SUPER_ADMIN' })).user;
  const dir = mkdtempSync(path.join(tmpdir(), 'mpanel-hostkey-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'web2', '-f', path.join(dir, 'key')]);
  hostKey = readFileSync(path.join(dir, 'key.pub'), 'utf8').trim();
  rmSync(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

async function call(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, caller: Pick<User, 'id' | 'tenantId' | 'role'> = admin) {
  const headers = await authHeader(t.env, caller);
  return t.app.inject({
    method,
    url,
    headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
}

const fieldsOf = (body: { errors?: { field: string }[] }) => (body.errors ?? []).map((error) => error.field).sort();

async function auditOf(targetId: string) {
  return withTenant(db(), tenant.id, (tx) =>
    tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.id), eq(auditLogs.targetId, targetId))).orderBy(auditLogs.seq),
  );
}

let n = 0;
const hostname = () => `web${++n}-${Date.now().toString(36)}.example.test`;

describe('POST /api/servers', () => {
  it('registers a LOCAL web server (audited), with defaults', async () => {
    const name = hostname();
    const res = await call('POST', '/api/servers', { hostname: name.toUpperCase(), role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.1', ipv6: '2001:DB8:0:0::1', httpPort: 8080 });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ hostname: name, role: 'WEB', driver: 'LOCAL', status: 'ACTIVE', ipv4: '127.0.0.1', ipv6: '2001:db8::1', httpPort: 8080, sshPort: null, capacity: null });
    const audit = await auditOf(body.id);
    expect(audit.map((row) => [row.action, row.actorUserId, row.after?.hostname])).toEqual([['server.created', admin.id, name]]);
  });

  it('registers an SSH server with its pinned host key (ssh port 22 by default)', async () => {
    const res = await call('POST', '/api/servers', { hostname: hostname(), role: 'WEB', driver: 'SSH', ipv4: '127.0.0.2', sshHost: '127.0.0.2', sshUser: 'mpanel-agent', sshHostKey: `  ${hostKey}\n` });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ driver: 'SSH', sshHost: '127.0.0.2', sshPort: 22, sshUser: 'mpanel-agent', sshHostKey: hostKey, httpPort: 80 });
  });

  it('requires the SSH fields for the SSH driver, and an address for WEB and MAIL servers', async () => {
    const ssh = await call('POST', '/api/servers', { hostname: hostname(), role: 'WEB', driver: 'SSH', ipv4: '127.0.0.1' });
    expect(ssh.statusCode).toBe(400);
    expect(fieldsOf(ssh.json())).toEqual(['body/sshHost', 'body/sshHostKey', 'body/sshUser']);
    for (const role of ['WEB', 'MAIL']) {
      const noAddress = await call('POST', '/api/servers', { hostname: hostname(), role, driver: 'LOCAL' });
      expect(noAddress.statusCode).toBe(400);
      expect(fieldsOf(noAddress.json())).toEqual(['body/ipv4']);
    }
    const dns = await call('POST', '/api/servers', { hostname: hostname(), role: 'DNS', driver: 'LOCAL' });
    expect(dns.statusCode, dns.body).toBe(201);
  });

  it('validates each field', async () => {
    const res = await call('POST', '/api/servers', {
      hostname: 'not a host',
      role: 'DATABASE',
      driver: 'FTP',
      ipv4: '999.1.1.1',
      ipv6: '127.0.0.1',
      httpPort: 70000,
      sshHost: 'bad host;',
      sshPort: 0,
      sshUser: 'Root User',
      sshHostKey: 'ssh-ed25519 not-a-key',
      capacity: -1,
    });
    expect(res.statusCode).toBe(400);
    expect(fieldsOf(res.json())).toEqual(
      ['body/capacity', 'body/driver', 'body/hostname', 'body/httpPort', 'body/ipv4', 'body/ipv6', 'body/role', 'body/sshHost', 'body/sshHostKey', 'body/sshPort', 'body/sshUser'].sort(),
    );
    // A key line whose type does not match its blob is refused too.
    const mismatched = await call('POST', '/api/servers', { hostname: hostname(), role: 'DNS', driver: 'LOCAL', sshHostKey: hostKey.replace('ssh-ed25519', 'ssh-rsa') });
    expect(fieldsOf(mismatched.json())).toEqual(['body/sshHostKey']);
    const unknownKey = await call('POST', '/api/servers', { hostname: hostname(), role: 'DNS', driver: 'LOCAL', tenantId: tenant.id });
    expect(unknownKey.statusCode).toBe(400);
  });

  it('answers 409 for a hostname already registered with the same role; another role is fine', async () => {
    const name = hostname();
    expect((await call('POST', '/api/servers', { hostname: name, role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.1' })).statusCode).toBe(201);
    const again = await call('POST', '/api/servers', { hostname: name, role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.3' });
    expect(again.statusCode).toBe(409);
    expect(fieldsOf(again.json())).toEqual(['body/hostname']);
    expect((await call('POST', '/api/servers', { hostname: name, role: 'MAIL', driver: 'LOCAL', ipv4: '127.0.0.1' })).statusCode).toBe(201);
  });
});

describe('GET /api/servers', () => {
  it('lists the tenant\'s servers newest first with filters and cursor pagination; another tenant sees none of them', async () => {
    const own = await buildTenant(db());
    const ownAdmin = (await buildUser(db(), own, { role: 'ADMIN' })).user;
    const web = [await buildServer(db(), own), await buildServer(db(), own), await buildServer(db(), own)];
    await buildServer(db(), own, { role: 'MAIL' });

    const first = await call('GET', '/api/servers?role=WEB&limit=2', undefined, ownAdmin);
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.items.map((item: { id: string }) => item.id)).toEqual([web[2]!.id, web[1]!.id]);
    const second = await call('GET', `/api/servers?role=WEB&limit=2&cursor=${page1.nextCursor}`, undefined, ownAdmin);
    expect(second.json()).toEqual({ items: [expect.objectContaining({ id: web[0]!.id })], nextCursor: null });
    expect((await call('GET', '/api/servers?limit=200', undefined, ownAdmin)).json().items).toHaveLength(4);

    const listOfOther = (await call('GET', '/api/servers?limit=200')).json();
    expect(listOfOther.items.map((item: { id: string }) => item.id)).not.toContain(web[0]!.id);
  });

  it('reads one server; an unknown id is 404', async () => {
    const server = await buildServer(db(), tenant, { httpPort: 8081 });
    const res = await call('GET', `/api/servers/${server.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: server.id, hostname: server.hostname, httpPort: 8081, createdAt: server.createdAt.toISOString() });
    expect((await call('GET', '/api/servers/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
  });

  it('is for SUPER_ADMIN and ADMIN only', async () => {
    for (const role of ['BILLING', 'SUPPORT', 'READ_ONLY'] satisfies UserRole[]) {
      const user = (await buildUser(db(), tenant, { role })).user;
      expect((await call('GET', '/api/servers', undefined, user)).statusCode).toBe(403);
      expect((await call('POST', '/api/servers', { hostname: hostname(), role: 'DNS', driver: 'LOCAL' }, user)).statusCode).toBe(403);
    }
    const superAdmin = (await buildUser(db(), tenant, { role: 'SUPER_ADMIN' })).user;
    expect((await call('GET', '/api/servers', undefined, superAdmin)).statusCode).toBe(200);
  });
});

describe('PATCH /api/servers/:id', () => {
  it('changes fields with the same rules, audited with before and after', async () => {
    const server = await buildServer(db(), tenant);
    const drain = await call('PATCH', `/api/servers/${server.id}`, { status: 'DRAINING', capacity: 500 });
    expect(drain.statusCode, drain.body).toBe(200);
    expect(drain.json()).toMatchObject({ status: 'DRAINING', capacity: 500, ipv4: '127.0.0.1' });

    const halfSsh = await call('PATCH', `/api/servers/${server.id}`, { driver: 'SSH', sshUser: 'agent' });
    expect(halfSsh.statusCode).toBe(400);
    expect(fieldsOf(halfSsh.json())).toEqual(['body/sshHost', 'body/sshHostKey']);
    const ssh = await call('PATCH', `/api/servers/${server.id}`, { driver: 'SSH', sshUser: 'agent', sshHost: 'web.example.test', sshHostKey: hostKey });
    expect(ssh.statusCode, ssh.body).toBe(200);
    expect(ssh.json()).toMatchObject({ driver: 'SSH', sshPort: 22, sshHost: 'web.example.test' });

    const noAddress = await call('PATCH', `/api/servers/${server.id}`, { ipv4: null });
    expect(fieldsOf(noAddress.json())).toEqual(['body/ipv4']);
    expect((await call('PATCH', `/api/servers/${server.id}`, { role: 'MAIL' })).statusCode).toBe(400);
    expect((await call('PATCH', `/api/servers/${server.id}`, {})).statusCode).toBe(400);

    const audit = await auditOf(server.id);
    expect(audit.map((row) => [row.action, row.before?.status, row.after?.status, row.after?.driver])).toEqual([
      ['server.updated', 'ACTIVE', 'DRAINING', 'LOCAL'],
      ['server.updated', 'DRAINING', 'DRAINING', 'SSH'],
    ]);
    const [stored] = await withTenant(db(), tenant.id, (tx) => tx.select().from(servers).where(eq(servers.id, server.id)));
    expect(stored).toMatchObject({ driver: 'SSH', sshUser: 'agent', status: 'DRAINING' });
  });

  it('renaming onto a taken hostname of the same role is 409', async () => {
    const a = await buildServer(db(), tenant);
    const b = await buildServer(db(), tenant);
    const res = await call('PATCH', `/api/servers/${b.id}`, { hostname: a.hostname });
    expect(res.statusCode).toBe(409);
  });
});

describe('servers are the platform\'s', () => {
  it("a tenant's ADMIN reads its servers but can neither register nor change one", async () => {
    const { user: tenantAdmin } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const server = await buildServer(db(), tenant);
    const read = await call('GET', `/api/servers/${server.id}`, undefined, tenantAdmin);
    expect(read.statusCode, read.body).toBe(200);
    const create = await call('POST', '/api/servers', { hostname: hostname(), role: 'WEB', driver: 'LOCAL', ipv4: '192.0.2.7' }, tenantAdmin);
    expect(create.statusCode).toBe(403);
    const change = await call('PATCH', `/api/servers/${server.id}`, { httpPort: 5432 }, tenantAdmin);
    expect(change.statusCode).toBe(403);
    const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(servers).where(eq(servers.id, server.id)));
    expect(row?.httpPort).toBe(server.httpPort);
  });

  it.each([
    ['ipv4', '169.254.169.254', 'link-local'],
    ['ipv4', '0.0.0.0', 'unspecified'],
    ['ipv4', '224.0.0.1', 'multicast'],
    ['ipv4', '255.255.255.255', 'reserved'],
    ['ipv6', '::', 'unspecified'],
    ['ipv6', 'fe80::1', 'link-local'],
    ['ipv6', '::ffff:169.254.169.254', 'link-local'],
    ['sshHost', '169.254.169.254', 'link-local'],
  ])('refuses %s %s (%s), on creation and on change', async (field, address, kind) => {
    const body = { hostname: hostname(), role: 'WEB', driver: 'SSH', ipv4: '192.0.2.8', sshHost: '192.0.2.8', sshUser: 'mpanel', sshHostKey: hostKey, [field]: address };
    const created = await call('POST', '/api/servers', body);
    expect(created.statusCode, created.body).toBe(400);
    expect(created.json().errors).toEqual([{ field: `body/${field}`, message: `must be a unicast address of the server, not a ${kind} address` }]);
    const server = await buildServer(db(), tenant, { ipv4: '192.0.2.9' });
    const changed = await call('PATCH', `/api/servers/${server.id}`, { [field]: address });
    expect(changed.statusCode, changed.body).toBe(400);
    expect(fieldsOf(changed.json())).toContain(`body/${field}`);
  });

  it('loopback addresses and localhost only on a development install', async () => {
    const input = { hostname: hostname(), role: 'WEB' as const, driver: 'SSH' as const, ipv4: '127.0.0.1', ipv6: '::1', sshHost: 'box.localhost', sshUser: 'mpanel', sshHostKey: hostKey };
    const refused = await withTenant(db(), tenant.id, (tx) => createServer(tx, tenant.id, input, cliActor, { allowLoopback: false })).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((refused as AppError).fields.map((item) => item.field).sort()).toEqual(['body/ipv4', 'body/ipv6', 'body/sshHost']);
    const allowed = await withTenant(db(), tenant.id, (tx) => createServer(tx, tenant.id, input, cliActor, { allowLoopback: true }));
    expect(allowed.ipv4).toBe('127.0.0.1');
  });
});

describe('ensureServer (mpanel seed)', () => {
  it('creates the server once; a second call finds it', async () => {
    const input = { hostname: hostname(), role: 'WEB' as const, driver: 'LOCAL' as const, ipv4: '127.0.0.1', httpPort: 8080 };
    const first = await withTenant(db(), tenant.id, (tx) => ensureServer(tx, tenant.id, input, cliActor, { allowLoopback: true }));
    const second = await withTenant(db(), tenant.id, (tx) => ensureServer(tx, tenant.id, input, cliActor, { allowLoopback: true }));
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.server.id).toBe(first.server.id);
    expect((await auditOf(first.server.id)).map((row) => [row.action, row.actorType])).toEqual([['server.created', 'CLI']]);
  });
});
