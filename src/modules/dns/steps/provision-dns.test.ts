import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { asc, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../../config/env.js';
import { createContainer, type Container } from '../../../container.js';
import { auditLogs, dnsRecords, dnsZones, jobs, subscriptions, type Tenant } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { startWorkers, type RunningWorkers } from '../../../worker.js';
import { buildOrder, buildTenant } from '../../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../../test/helpers/app.js';
import { answersOf, powerDns, provisionTestZone, randomLabel, resolverFor, silentLogger, ZoneCleanup } from '../../../../test/helpers/dns.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from '../../../../test/helpers/orders.js';
import { testSteps } from '../../../../test/helpers/test-steps.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import { createRegistry } from '../../../jobs/registry.js';
import type { StepContext } from '../../step-services.js';
import { provisionDns } from './provision-dns.js';
import { TcpProxy } from '../../../../test/helpers/tcp-proxy.js';

let t: TestApp;
let tenant: Tenant;
const cleanup = new ZoneCleanup();
const db = () => t.container.database.db;

beforeAll(async () => {
  t = await createTestApp({ env: { JOB_MAX_ATTEMPTS: '20', JOB_BACKOFF_BASE_MS: '100', OUTBOX_SWEEP_INTERVAL_MS: '200', OUTBOX_PENDING_AFTER_MS: '300' } });
  tenant = await buildTenant(db());
});
afterAll(async () => {
  await cleanup.deleteAll(t.env);
  await t.close();
});

/** What the pipeline hands a step handler, for calling the real handler directly. */
function contextFor(order: { subscription: { id: string; orderId: string | null } }): StepContext {
  return {
    logger: silentLogger,
    db: db(),
    services: t.container.stepServices,
    attempt: 1,
    job: { id: crypto.randomUUID(), type: 'PROVISION_DNS', tenantId: tenant.id, subscriptionId: order.subscription.id, orderId: order.subscription.orderId },
  };
}

const zoneRows = (name: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(dnsZones).where(eq(dnsZones.name, name)));
const recordRows = (zoneId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zoneId)).orderBy(asc(dnsRecords.id)));

describe('PROVISION_DNS', () => {
  it('creates the zone with the default records, answered by real DNS queries, and ACTIVE rows with the PowerDNS serial', async () => {
    const { order, zone } = await provisionTestZone(t.env, db(), tenant, cleanup);
    const name = order.domain.name;
    expect(zone).toMatchObject({ zone: name, created: true, repaired: 0 });

    const resolver = resolverFor(t.env);
    expect(await resolver.resolve4(name)).toEqual(['127.0.0.1']);
    expect(await resolver.resolve4(`www.${name}`)).toEqual(['127.0.0.1']);
    expect(await answersOf(resolver.resolveMx(name))).toEqual([{ exchange: `mail.${name}`, priority: 10 }]);
    expect(await resolver.resolve4(`mail.${name}`)).toEqual(['127.0.0.1']);
    expect(await resolver.resolveTxt(name)).toEqual([['v=spf1 mx -all']]);
    expect(await resolver.resolveTxt(`_dmarc.${name}`)).toEqual([['v=DMARC1; p=quarantine']]);
    expect((await resolver.resolveNs(name)).sort()).toEqual(['ns1.mpanel.test', 'ns2.mpanel.test']);
    const soa = await resolver.resolveSoa(name);
    expect(soa).toMatchObject({ nsname: 'ns1.mpanel.test', hostmaster: 'hostmaster.mpanel.test', serial: zone.serial });

    const [row] = await zoneRows(name);
    expect(row).toMatchObject({ id: zone.zoneId, status: 'ACTIVE', serial: zone.serial, domainId: order.domain.id });
    expect((await powerDns(t.env).getZone(name)).serial).toBe(zone.serial);
    const records = await recordRows(zone.zoneId);
    expect(records.map((r) => [r.name, r.type, r.content, r.priority, r.ttl, r.managed]).sort()).toEqual(
      [
        [name, 'A', '127.0.0.1', null, 3600, true],
        [`www.${name}`, 'A', '127.0.0.1', null, 3600, true],
        [name, 'MX', `mail.${name}`, 10, 3600, true],
        [`mail.${name}`, 'A', '127.0.0.1', null, 3600, true],
        [name, 'TXT', 'v=spf1 mx -all', null, 3600, true],
        [`_dmarc.${name}`, 'TXT', 'v=DMARC1; p=quarantine', null, 3600, true],
      ].sort(),
    );
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, zone.zoneId)));
    expect(audit.map((entry) => [entry.action, entry.after?.status])).toEqual([['dns_zone.provisioned', 'ACTIVE']]);
  });

  it('running the handler twice leaves PowerDNS (serial included) and the rows exactly as they were, with the same ids', async () => {
    const order = await buildOrder(db(), tenant);
    const name = cleanup.track(order.domain.name);
    const payload = { subscriptionId: order.subscription.id, domainId: order.domain.id, domain: name, serverId: null };
    const first = await provisionDns.handle(payload, contextFor(order));
    const zoneId = String(first?.zoneId);
    const remoteAfterFirst = await powerDns(t.env).getZone(name);
    const zoneAfterFirst = await zoneRows(name);
    const recordsAfterFirst = await recordRows(zoneId);

    const second = await provisionDns.handle(payload, contextFor(order));
    expect(second).toMatchObject({ zoneId, created: false, repaired: 0, serial: first?.serial });
    expect(await powerDns(t.env).getZone(name)).toEqual(remoteAfterFirst);
    expect(await zoneRows(name)).toEqual(zoneAfterFirst);
    expect(await recordRows(zoneId)).toEqual(recordsAfterFirst);
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, zoneId)));
    expect(audit).toHaveLength(1);
  });

  it('a re-run restores RRsets changed or deleted in PowerDNS since', async () => {
    const { order, zone } = await provisionTestZone(t.env, db(), tenant, cleanup);
    const name = order.domain.name;
    await powerDns(t.env).patchRRsets(name, [
      { kind: 'delete', name: `www.${name}`, type: 'A' },
      { kind: 'replace', name, type: 'MX', ttl: 300, contents: ['5 elsewhere.example.net.'] },
    ]);
    const resolver = resolverFor(t.env);
    await expect(resolver.resolve4(`www.${name}`)).rejects.toThrow();

    const payload = { subscriptionId: order.subscription.id, domainId: order.domain.id, domain: name };
    const again = await provisionDns.handle(payload, contextFor(order));
    expect(again).toMatchObject({ zoneId: zone.zoneId, created: false, repaired: 2 });
    expect(await resolver.resolve4(`www.${name}`)).toEqual(['127.0.0.1']);
    expect(await answersOf(resolver.resolveMx(name))).toEqual([{ exchange: `mail.${name}`, priority: 10 }]);
    const [row] = await zoneRows(name);
    expect(row?.serial).toBe((await powerDns(t.env).getZone(name)).serial);
  });

  it("points @ and www at the order's web server (its IPv4 and IPv6), not at the default", async () => {
    const { order } = await provisionTestZone(t.env, db(), tenant, cleanup, { webServer: { ipv4: '127.0.0.2', ipv6: '::1' } });
    const name = order.domain.name;
    const resolver = resolverFor(t.env);
    for (const host of [name, `www.${name}`]) {
      expect(await resolver.resolve4(host)).toEqual(['127.0.0.2']);
      expect(await resolver.resolve6(host)).toEqual(['::1']);
    }
    // The mail host keeps the configured default address.
    expect(await resolver.resolve4(`mail.${name}`)).toEqual(['127.0.0.1']);
  });

  it("fails permanently, touching nothing, when PowerDNS holds the zone for another account, and the error does not name that account", async () => {
    const order = await buildOrder(db(), tenant);
    const name = cleanup.track(order.domain.name);
    const pdns = powerDns(t.env);
    const foreign = await pdns.createZone({
      name,
      account: 'another-tenant',
      nameservers: ['ns1.elsewhere.test'],
      soa: { primary: 'ns1.elsewhere.test', hostmaster: 'hostmaster.elsewhere.test', refresh: 1, retry: 1, expire: 1, minimum: 60, ttl: 60 },
      rrsets: [{ name, type: 'A', ttl: 60, records: [{ content: '192.0.2.1', disabled: false }] }],
    });
    expect(foreign.created).toBe(true);

    const run = provisionDns.handle({ subscriptionId: order.subscription.id, domainId: order.domain.id, domain: name }, contextFor(order));
    await expect(run).rejects.toThrow(PermanentStepError);
    await expect(run).rejects.toThrow(/is not this tenant's/);
    // The job's lastError reaches the tenant: never another tenant's id.
    await expect(run).rejects.not.toThrow(/another-tenant/);
    expect(await pdns.getZone(name)).toEqual(foreign.zone);
    expect(await zoneRows(name)).toEqual([]);
  });
});

describe('PROVISION_DNS in the real pipeline, PowerDNS down then back', () => {
  let proxy: TcpProxy | undefined;
  let workers: RunningWorkers | undefined;
  let workerContainer: Container | undefined;
  afterEach(async () => {
    await workers?.close();
    await workerContainer?.close();
    await proxy?.close();
  });

  it('the job fails while PowerDNS is unreachable, is retried with backoff, and succeeds once it is back', async () => {
    // The worker reaches PowerDNS through a proxy this test closes and reopens: the shared PowerDNS stays up.
    const target = new URL(t.env.POWERDNS_API_URL);
    proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.open();
    await proxy.close();
    const workerEnv = loadEnv({ ...process.env, POWERDNS_API_URL: `${proxy.url}${target.pathname}`, POWERDNS_RETRIES: '1', POWERDNS_TIMEOUT_MS: '2000', WORKER_METRICS_PORT: '0' });
    workerContainer = createContainer(workerEnv, 'worker');
    const dir = mkdtempSync(path.join(tmpdir(), 'mpanel-dns-steps-'));
    const registry = createRegistry([provisionDns, ...testSteps(dir).filter((step) => step.type !== 'PROVISION_DNS')]);
    workers = await startWorkers(workerContainer, { registry });

    // A tenant without servers: the order gets the configured default addresses.
    const own = await buildTenant(db());
    const { price } = await buildOffer(db(), own, { type: 'DNS', features: { zones: 1 } });
    const domain = cleanup.track(`${randomLabel('dns-down')}.test`);
    const raw = JSON.stringify(orderPayload(own, price, { domain }));
    const res = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
    expect(res.statusCode, res.body).toBe(201);
    const accepted = res.json<{ orderId: string; subscriptionId: string }>();
    const dnsJob = async () => (await withTenant(db(), own.id, (tx) => tx.select().from(jobs).where(eq(jobs.orderId, accepted.orderId)))).find((job) => job.type === 'PROVISION_DNS');

    await eventually(async () => ((await dnsJob())?.history.filter((entry) => entry.status === 'FAILED').length ?? 0) >= 2, 15_000, 'two failed attempts');
    await proxy.open();
    await eventually(
      async () => (await withTenant(db(), own.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, accepted.subscriptionId))))[0]?.status === 'ACTIVE',
      20_000,
      'the subscription to become ACTIVE',
    );

    const job = await dnsJob();
    expect(job?.status).toBe('SUCCEEDED');
    const failures = job?.history.filter((entry) => entry.status === 'FAILED') ?? [];
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const failure of failures) expect(failure.error).toMatch(/PowerDNS at .* is unreachable/);
    expect(job?.history.at(-1)?.status).toBe('SUCCEEDED');
    expect(job?.attempts).toBe(failures.length + 1);
    expect(job?.result).toMatchObject({ zone: domain, created: true });
    expect(await resolverFor(t.env).resolve4(`www.${domain}`)).toEqual(['127.0.0.1']);
    const [zone] = await withTenant(db(), own.id, (tx) => tx.select().from(dnsZones).where(eq(dnsZones.name, domain)));
    expect(zone?.status).toBe('ACTIVE');
  });
});
