import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, customers, domains, jobs, orders, prices, subscriptions, type Price, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { buildTenant } from '../../../test/factories.js';
import { openRaw } from '../../../test/helpers/raw-http.js';
import { ORDER_BODY_LIMIT_BYTES, signMarketingPayload } from './marketing-signature.js';

let t: TestApp;
let tenant: Tenant;
let price: Price;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(t.container.database.db);
  ({ price } = await buildOffer(t.container.database.db, tenant, { features: { diskQuotaMb: 1024, mailboxes: 5, sslIncluded: true } }));
});
afterAll(async () => {
  await t.close();
});

const db = () => t.container.database.db;

function send(body: unknown, options: { secret?: string; timestamp?: number; headers?: Record<string, string>; raw?: string } = {}) {
  const raw = options.raw ?? JSON.stringify(body);
  const headers = { ...signedHeaders(options.secret ?? t.env.MARKETING_WEBHOOK_SECRET, raw, options.timestamp), ...options.headers };
  return t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers });
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

describe('signature (X-Mpanel-Signature)', () => {
  it('missing, malformed, stale, future, tampered and wrong-secret requests get 401 and change nothing', async () => {
    const own = await buildTenant(db());
    const offer = await buildOffer(db(), own);
    const body = orderPayload(own, offer.price);
    const raw = JSON.stringify(body);
    const now = Math.floor(Date.now() / 1000);
    const attempts = [
      t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: { 'content-type': 'application/json' } }),
      send(body, { headers: { 'x-mpanel-signature': 'sha256=abc' } }),
      send(body, { headers: { 'x-mpanel-signature': `t=${now},v1=zz` } }),
      send(body, { timestamp: now - 360 }), // a minute beyond the window either side: a loaded machine may take seconds
      send(body, { timestamp: now + 360 }),
      send(body, { secret: 'another-secret-entirely-0123456789' }),
      // Signed over one body, sent with another (the price id's last digit changed: never the same body).
      t.app.inject({ method: 'POST', url: '/api/orders', payload: raw.replace(offer.price.id, offer.price.id.replace(/.$/, (last) => (last === '0' ? '1' : '0'))), headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect(await counts(own.id)).toEqual({ orders: 0, subscriptions: 0, domains: 0, jobs: 0, customers: 0 });
    // Within the window it is accepted.
    expect((await send(body, { timestamp: now - 290 })).statusCode).toBe(201);
  });
});

describe('before the body is read (real socket)', () => {
  let port: number;
  beforeAll(async () => {
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });

  /** Announces a 1 MB body of `[` and sends only its first KB: an answer now was given without reading the body. */
  async function announceMegabyte(signature: string | undefined) {
    const connection = await openRaw(port);
    try {
      connection.write(
        `POST /api/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${1024 * 1024}\r\n` +
          `${signature === undefined ? '' : `x-mpanel-signature: ${signature}\r\n`}\r\n${'['.repeat(1024)}`,
      );
      return await connection.response(2_000);
    } finally {
      connection.socket.destroy();
    }
  }

  it('a missing, malformed or stale signature is 401 at once, the body unread', async () => {
    // Each header is made just before it is sent, 30 s past the 300 s window: one made before the
    // others were answered fell back inside the window on a slow machine (the future one, in CI).
    const now = () => Math.floor(Date.now() / 1000);
    const cases: Record<string, () => string | undefined> = {
      missing: () => undefined,
      malformed: () => 'sha256=abc',
      'no v1': () => `t=${now()}`,
      stale: () => signMarketingPayload(t.env.MARKETING_WEBHOOK_SECRET, '[', now() - 330),
      future: () => signMarketingPayload(t.env.MARKETING_WEBHOOK_SECRET, '[', now() + 330),
    };
    for (const [name, signature] of Object.entries(cases)) {
      const res = await announceMegabyte(signature());
      expect(res.status, name).toBe(401);
      expect(res.headers['content-type'], name).toBe('application/problem+json; charset=utf-8');
      expect(JSON.parse(res.body).detail, name).toMatch(/^Invalid X-Mpanel-Signature: /);
    }
  });

  it('a fresh, well-formed signature gets the body read and checked (413 over 64 KB, whatever the signature)', async () => {
    const res = await announceMegabyte(signMarketingPayload(t.env.MARKETING_WEBHOOK_SECRET, '['));
    expect(res.status).toBe(413); // refused on its announced length, still unread
    const big = JSON.stringify(orderPayload(tenant, price, { customer: { email: 'big@example.test', name: 'x'.repeat(ORDER_BODY_LIMIT_BYTES) } }));
    const signedBig = await send(undefined, { raw: big });
    expect(signedBig.statusCode).toBe(413);
    expect(signedBig.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('the largest valid order fits: 100 mailboxes of 64 characters, every text at its maximum', async () => {
    const largest = orderPayload(tenant, price, {
      customer: { email: `${'c'.repeat(64)}@${'d'.repeat(60)}.example.test`, name: 'é'.repeat(200), company: 'ü'.repeat(200), phone: `+${'1'.repeat(31)}` },
      domain: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.example.test`,
      mailboxes: Array.from({ length: 100 }, (_, i) => ({ localPart: `${String(i).padStart(3, '0')}${'m'.repeat(61)}` })),
    });
    // The marketing site may escape every non-ASCII character: the body is then at its largest.
    const raw = JSON.stringify(largest).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    expect(Buffer.byteLength(raw)).toBeLessThan(ORDER_BODY_LIMIT_BYTES);
    const res = await send(undefined, { raw });
    expect(res.statusCode, res.body).toBe(201);
  });
});

describe('validation', () => {
  it.each([
    ['domain without a dot', { domain: 'localhost' }, 'body/domain'],
    ['domain with a path', { domain: '../etc/passwd' }, 'body/domain'],
    ['unknown key', { isAdmin: true }, 'body'],
    ['bad price id', { priceId: 'not-a-uuid' }, 'body/priceId'],
    ['duplicate mailbox', { mailboxes: [{ localPart: 'info' }, { localPart: 'info' }] }, 'body/mailboxes/1/localPart'],
    ['bad mailbox', { mailboxes: [{ localPart: 'Info Desk' }] }, 'body/mailboxes/0/localPart'],
  ])('%s → 400', async (_name, override, field) => {
    const res = await send(orderPayload(tenant, price, override));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('payment must match the price, the price must be active and the tenant\'s own', async () => {
    const base = orderPayload(tenant, price);
    const wrongAmount = await send({ ...base, payment: { ...base.payment, amount: price.amount + 1 } });
    expect(wrongAmount.statusCode).toBe(400);
    expect(wrongAmount.json().errors).toEqual([expect.objectContaining({ field: 'body/payment/amount' })]);
    const wrongCurrency = await send({ ...base, payment: { ...base.payment, currency: 'USD' } });
    expect(wrongCurrency.json().errors).toEqual([expect.objectContaining({ field: 'body/payment/currency' })]);

    const other = await buildTenant(db());
    const foreign = await buildOffer(db(), other);
    const res = await send(orderPayload(tenant, foreign.price));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ field: 'body/priceId' })]);

    const inactive = await buildOffer(db(), tenant);
    await withTenant(db(), tenant.id, (tx) => tx.update(prices).set({ isActive: false }).where(eq(prices.id, inactive.price.id)));
    expect((await send(orderPayload(tenant, inactive.price))).statusCode).toBe(400);
  });

  it('unknown tenant → 404; a domain already hosted → 409', async () => {
    expect((await send(orderPayload({ slug: 'no-such-tenant' }, price))).statusCode).toBe(404);
    const first = orderPayload(tenant, price);
    expect((await send(first)).statusCode).toBe(201);
    const again = await send(orderPayload(tenant, price, { domain: first.domain.toUpperCase() }));
    expect(again.statusCode).toBe(409);
    expect(again.json().errors).toEqual([expect.objectContaining({ field: 'body/domain' })]);
  });

  it('stores an IDN domain as punycode', async () => {
    const res = await send(orderPayload(tenant, price, { domain: 'Bücher-Laden.example.test' }));
    expect(res.statusCode).toBe(201);
    const [domain] = await withTenant(db(), tenant.id, (tx) => tx.select().from(domains).where(eq(domains.subscriptionId, res.json().subscriptionId)));
    expect(domain?.name).toBe('xn--bcher-laden-thb.example.test');
  });
});

describe('acceptance', () => {
  it('creates customer, order, subscription, domain and the planned jobs in one go, audited', async () => {
    const own = await buildTenant(db());
    const offer = await buildOffer(db(), own, { features: { diskQuotaMb: 1024, mailboxes: 5, sslIncluded: true }, interval: 'YEAR' });
    const body = orderPayload(own, offer.price, { mailboxes: [{ localPart: 'info' }] });
    const res = await send(body);
    expect(res.statusCode).toBe(201);
    const accepted = res.json();
    expect(accepted.jobs.map((job: { type: string }) => job.type)).toEqual(['PROVISION_DNS', 'PROVISION_HOSTING', 'PROVISION_MAIL', 'ISSUE_SSL', 'VERIFY_AND_ACTIVATE']);

    await withTenant(db(), own.id, async (tx) => {
      const [order] = await tx.select().from(orders).where(eq(orders.id, accepted.orderId));
      expect(order).toMatchObject({ status: 'PAID', amount: offer.price.amount, currency: offer.price.currency, paymentReference: body.payment.reference, domainName: body.domain });
      const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, accepted.subscriptionId));
      expect(subscription?.status).toBe('PENDING');
      const days = (subscription!.currentPeriodEnd!.getTime() - subscription!.currentPeriodStart.getTime()) / 86_400_000;
      expect(days).toBeGreaterThanOrEqual(365);
      const rows = await tx.select().from(jobs).where(eq(jobs.orderId, accepted.orderId));
      const byType = new Map(rows.map((row) => [row.type, row]));
      expect(byType.get('PROVISION_HOSTING')?.dependsOn).toEqual([byType.get('PROVISION_DNS')?.id]);
      expect(byType.get('ISSUE_SSL')?.dependsOn.sort()).toEqual([byType.get('PROVISION_DNS')?.id, byType.get('PROVISION_HOSTING')?.id].sort());
      expect(byType.get('VERIFY_AND_ACTIVATE')?.dependsOn).toHaveLength(4);
      // The first step is handed to the queue after commit; the others wait for their dependencies.
      expect(byType.get('PROVISION_DNS')?.status).toBe('QUEUED');
      expect(byType.get('PROVISION_HOSTING')?.status).toBe('PENDING');
      const audit = await tx.select().from(auditLogs).where(eq(auditLogs.targetId, accepted.orderId));
      expect(audit.map((row) => row.action)).toEqual(['order.created']);
    });
  });

  it('is idempotent on the payment reference: sequential and 20 concurrent replays', async () => {
    const own = await buildTenant(db());
    const offer = await buildOffer(db(), own);
    const body = orderPayload(own, offer.price);
    const first = await send(body);
    expect(first.statusCode).toBe(201);
    for (let i = 0; i < 3; i++) {
      const replay = await send(body);
      expect(replay.statusCode).toBe(200);
      expect(replay.json()).toEqual(first.json());
    }
    // Key order and whitespace do not matter: the request is compared after parsing.
    const reordered = await send(undefined, { raw: JSON.stringify({ payment: body.payment, domain: body.domain, priceId: body.priceId, customer: body.customer, tenant: body.tenant }, null, 2) });
    expect(reordered.statusCode).toBe(200);

    const concurrent = orderPayload(own, offer.price);
    const results = await Promise.all(Array.from({ length: 20 }, () => send(concurrent)));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body)).size).toBe(1);

    expect(await counts(own.id)).toMatchObject({ orders: 2, subscriptions: 2, domains: 2, jobs: 6 });

    const metrics = await t.scrapeMetrics();
    expect(metrics).toMatch(/mpanel_orders_received_total\{source="marketing",outcome="created"\} \d+/);
    expect(metrics).toMatch(/mpanel_orders_received_total\{source="marketing",outcome="replayed"\} (2[3-9]|[3-9]\d)/);
  });

  it('the same reference with a different body is 409 and changes nothing', async () => {
    const own = await buildTenant(db());
    const offer = await buildOffer(db(), own);
    const body = orderPayload(own, offer.price);
    expect((await send(body)).statusCode).toBe(201);
    const before = await counts(own.id);
    const res = await send({ ...body, domain: 'another-domain.example.test' });
    expect(res.statusCode).toBe(409);
    expect(res.json().errors).toEqual([expect.objectContaining({ field: 'body/payment/reference' })]);
    expect(await counts(own.id)).toEqual(before);
  });

  it('reuses the customer by email across orders', async () => {
    const own = await buildTenant(db());
    const offer = await buildOffer(db(), own);
    const customer = { email: 'Repeat@Example.test', name: 'Repeat Buyer' };
    expect((await send(orderPayload(own, offer.price, { customer }))).statusCode).toBe(201);
    expect((await send(orderPayload(own, offer.price, { customer: { ...customer, email: 'repeat@example.test' } }))).statusCode).toBe(201);
    expect((await counts(own.id)).customers).toBe(1);
  });

  it("keeps the customer's language: set by the first order that names one, never changed by a later order", async () => {
    const own = await buildTenant(db());
    const offer = await buildOffer(db(), own);
    const localeOf = async () => (await withTenant(db(), own.id, (tx) => tx.select({ locale: customers.locale }).from(customers)))[0]?.locale;
    const customer = { email: 'lang@example.test', name: 'Lang Buyer' };
    expect((await send(orderPayload(own, offer.price, { customer }))).statusCode).toBe(201);
    expect(await localeOf()).toBeNull();
    expect((await send(orderPayload(own, offer.price, { customer: { ...customer, locale: 'de-de' } }))).statusCode).toBe(201);
    expect(await localeOf()).toBe('de-DE');
    expect((await send(orderPayload(own, offer.price, { customer: { ...customer, locale: 'fr-FR' } }))).statusCode).toBe(201);
    expect(await localeOf()).toBe('de-DE');
    const bad = await send(orderPayload(own, offer.price, { customer: { ...customer, locale: 'x'.repeat(40) } }));
    expect([bad.statusCode, bad.json().errors[0].field]).toEqual([400, 'body/customer/locale']);
  });
});
