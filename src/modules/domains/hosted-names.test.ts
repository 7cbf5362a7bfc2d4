import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customers, domains, jobs, orders, subscriptions, type Price, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { provisionTestZone, ZoneCleanup } from '../../../test/helpers/dns.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { buildOrder, buildServer, buildTenant, buildUser } from '../../../test/factories.js';
import { platformHostNames } from './hosted-names.js';

const PANEL = 'panel.platform-host.test';
let t: TestApp;
let tenantA: Tenant;
let tenantB: Tenant;
let priceA: Price;
let priceB: Price;
const cleanup = new ZoneCleanup();

beforeAll(async () => {
  t = await createTestApp({ env: { APP_URL: `https://${PANEL}`, PLATFORM_HOSTNAMES: 'mx.platform-mail.test' } });
  tenantA = await buildTenant(db());
  tenantB = await buildTenant(db());
  ({ price: priceA } = await buildOffer(db(), tenantA));
  ({ price: priceB } = await buildOffer(db(), tenantB));
});
afterAll(async () => {
  await cleanup.deleteAll(t.env);
  await t.close();
});

const db = () => t.container.database.db;
const fresh = () => `n${randomBytes(5).toString('hex')}.example.test`;

function order(tenant: Tenant, price: Price, overrides: Record<string, unknown> = {}) {
  const raw = JSON.stringify(orderPayload(tenant, price, overrides));
  return t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
}

async function counts(tenantId: string) {
  return withTenant(db(), tenantId, async (tx) => ({
    orders: (await tx.select().from(orders)).length,
    subscriptions: (await tx.select().from(subscriptions)).length,
    domains: (await tx.select().from(domains)).length,
    jobs: (await tx.select().from(jobs)).length,
    customers: (await tx.select().from(customers)).length,
  }));
}

/** A 409 about body/domain that names neither tenant. */
function expectRefused(res: Awaited<ReturnType<typeof order>>) {
  expect(res.statusCode, res.body).toBe(409);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toContain('body/domain');
  for (const tenant of [tenantA, tenantB]) {
    expect(res.body).not.toContain(tenant.id);
    expect(res.body).not.toContain(tenant.slug);
  }
}

describe('one registry of hosted names across tenants', () => {
  it("refuses another tenant's domain, a name under it and a parent of it, before anything is created", async () => {
    const base = fresh();
    const owned = `shop.${base}`;
    expect((await order(tenantA, priceA, { domain: owned })).statusCode).toBe(201);
    const before = await counts(tenantB.id);

    for (const domain of [owned, `mail.${owned}`, `www.${owned}`, base]) expectRefused(await order(tenantB, priceB, { domain }));
    expect(await counts(tenantB.id)).toEqual(before);

    // A sibling is another name; and the holding tenant may host names under its own.
    expect((await order(tenantB, priceB, { domain: `blog.${base}` })).statusCode).toBe(201);
    expect((await order(tenantA, priceA, { domain: `www.${owned}` })).statusCode).toBe(201);
  });

  it('of overlapping orders from several tenants at once, exactly one is accepted', async () => {
    const base = fresh();
    const tenants = await Promise.all([0, 1, 2, 3, 4, 5].map(() => buildTenant(db())));
    const offers = await Promise.all(tenants.map((tenant) => buildOffer(db(), tenant)));
    const names = [base, `www.${base}`, `mail.${base}`, base, `a.b.${base}`, `www.${base}`];
    const answers = await Promise.all(tenants.map((tenant, i) => order(tenant, offers[i]!.price, { domain: names[i] })));
    const statuses = answers.map((res) => res.statusCode);
    expect(statuses.every((status) => status === 201 || status === 409), JSON.stringify(statuses)).toBe(true);
    // Siblings (www., mail., a.b.) may all be accepted when nobody holds the base name; whatever the
    // interleaving, the accepted names never overlap and every refused one overlaps an accepted one.
    const overlaps = (x: string, y: string) => x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`);
    const accepted = names.filter((_, i) => statuses[i] === 201);
    const refused = names.filter((_, i) => statuses[i] === 409);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    for (const [i, x] of accepted.entries()) for (const y of accepted.slice(i + 1)) expect(overlaps(x, y), `${x} and ${y} both accepted`).toBe(false);
    for (const name of refused) expect(accepted.some((held) => overlaps(name, held)), `${name} refused with nothing overlapping it`).toBe(true);
  });

  it('is enforced by the database too: a domain row overlapping another tenant’s is refused whatever inserts it', async () => {
    const held = await buildOrder(db(), tenantA);
    await expect(buildDomainRow(tenantB, `x.${held.domain.name}`)).rejects.toMatchObject({ cause: { code: '23505', constraint: 'hosted_names_overlap' } });
  });

  it('the application role cannot read the registry itself', async () => {
    await expect(db().execute(sql`select name from hosted_names`)).rejects.toMatchObject({ cause: { code: '42501' } });
  });
});

async function buildDomainRow(tenant: Tenant, name: string) {
  const built = await buildOrder(db(), tenant);
  return withTenant(db(), tenant.id, (tx) => tx.insert(domains).values({ tenantId: tenant.id, customerId: built.customer.id, name }));
}

describe('platform names can never be ordered', () => {
  it('the panel, the name servers, configured names, servers’ host names: each, a name under it or a parent of it', async () => {
    const server = await buildServer(db(), await buildTenant(db()), { hostname: `web7.${fresh()}` });
    const platform = platformHostNames(t.env);
    expect(platform).toEqual(expect.arrayContaining([PANEL, 'ns1.mpanel.test', 'ns2.mpanel.test', 'mx.platform-mail.test']));
    const refused = [PANEL, `x.${PANEL}`, 'platform-host.test', 'ns1.mpanel.test', 'mpanel.test', 'mx.platform-mail.test', server.hostname, `www.${server.hostname}`, server.hostname.replace(/^web7\./, '')];
    const before = await counts(tenantB.id);
    for (const domain of refused) {
      const res = await order(tenantB, priceB, { domain });
      expect(res.statusCode, `${domain}: ${res.body}`).toBe(409);
      expect(res.body).not.toContain(server.tenantId);
    }
    expect(await counts(tenantB.id)).toEqual(before);
  });

  it('a DNS record may not take a platform name inside a zone either', async () => {
    const tenant = await buildTenant(db());
    const { user } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const provisioned = await provisionTestZone(t.env, db(), tenant, cleanup);
    const zone = provisioned.zone;
    const app = await createTestApp({ env: { PLATFORM_HOSTNAMES: `panel.${zone.zone}` } });
    try {
      const headers = await authHeader(app.env, user);
      const refused = await app.app.inject({ method: 'POST', url: `/api/dns/zones/${zone.zoneId}/records`, headers, payload: { name: 'panel', type: 'A', content: '192.0.2.7' } });
      expect(refused.statusCode, refused.body).toBe(409);
      expect(refused.body).toContain('body/name');
      const allowed = await app.app.inject({ method: 'POST', url: `/api/dns/zones/${zone.zoneId}/records`, headers, payload: { name: 'shop', type: 'A', content: '192.0.2.7' } });
      expect(allowed.statusCode, allowed.body).toBe(201);
    } finally {
      await app.close();
    }
  });
});

describe('a payment reference buys orders in one tenant only', () => {
  it("another tenant's order with the same Stripe session is 409, names nobody, and creates nothing", async () => {
    const reference = `cs_test_${randomBytes(6).toString('hex')}`;
    const first = await order(tenantA, priceA, { payment: { provider: 'stripe', reference, amount: priceA.amount, currency: priceA.currency } });
    expect(first.statusCode, first.body).toBe(201);
    const before = await counts(tenantB.id);
    const second = await order(tenantB, priceB, { payment: { provider: 'stripe', reference, amount: priceB.amount, currency: priceB.currency } });
    expect(second.statusCode, second.body).toBe(409);
    expect(second.body).toContain('body/payment/reference');
    expect(second.body).not.toContain(tenantA.id);
    expect(second.body).not.toContain(first.json().orderId);
    expect(await counts(tenantB.id)).toEqual(before);
  });
});
