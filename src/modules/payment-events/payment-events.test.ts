import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { and, count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, customers, domains, jobs, orders, prices, subscriptions, webhookEvents, type Price, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { stripeTestSignatureHeader } from '../../../test/helpers/stripe-signature.js';
import { buildTenant } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { openRaw } from '../../../test/helpers/raw-http.js';

let t: TestApp;
let tenant: Tenant;
let price: Price;
const db = () => t.container.database.db;
const hex = () => randomBytes(6).toString('hex');

beforeAll(async () => {
  t = await createTestApp();
  // A second tenant: the metadata must name its tenant.
  await buildTenant(db());
  tenant = await buildTenant(db());
  ({ price } = await buildOffer(db(), tenant, { amount: 1999, currency: 'EUR' }));
});
afterAll(async () => {
  await t.close();
});

/** A Stripe `checkout.session.completed` event as Stripe sends it (trimmed to the fields that matter plus a few others). */
function checkoutEvent(
  options: { type?: string; metadata?: Record<string, string>; session?: Record<string, unknown>; eventId?: string; sessionId?: string } = {},
) {
  const id = hex();
  return {
    id: options.eventId ?? `evt_test_${id}`,
    object: 'event',
    api_version: '2025-01-27.acacia',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: options.type ?? 'checkout.session.completed',
    data: {
      object: {
        id: options.sessionId ?? `cs_test_${id}`,
        object: 'checkout.session',
        mode: 'payment',
        status: 'complete',
        payment_status: 'paid',
        amount_subtotal: price.amount,
        amount_total: price.amount,
        currency: price.currency.toLowerCase(),
        customer: `cus_${id}`,
        customer_email: null,
        customer_details: { email: `Buyer-${id}@Example.test`, name: 'Grace Buyer', phone: '+15555550100', address: null, tax_exempt: 'none', tax_ids: [] },
        payment_intent: `pi_${id}`,
        subscription: null,
        metadata: options.metadata ?? {
          mpanel_tenant: tenant.slug,
          mpanel_price_id: price.id,
          mpanel_domain: `shop-${id}.example.test`,
          mpanel_mailboxes: 'info, sales',
        },
        ...options.session,
      },
    },
  };
}

/** Posts `payload` signed with the configured secret, or with `header` (null: no signature at all). */
function deliver(payload: string, header: string | null = stripeTestSignatureHeader(payload, t.env.STRIPE_WEBHOOK_SECRET)) {
  return t.app.inject({
    method: 'POST',
    url: '/api/webhooks/stripe',
    payload,
    headers: { 'content-type': 'application/json', ...(header === null ? {} : { 'stripe-signature': header }) },
  });
}
const send = (event: object) => deliver(JSON.stringify(event));

const eventRow = async (eventId: string) => (await db().select().from(webhookEvents).where(eq(webhookEvents.eventId, eventId)))[0];
const eventCount = async () => (await db().select({ n: count() }).from(webhookEvents))[0]!.n;

/** Everything an order creates, counted in the tenant. */
async function orderRows() {
  return withTenant(db(), tenant.id, async (tx) => {
    const n = async (table: typeof orders | typeof subscriptions | typeof domains | typeof jobs | typeof customers) => (await tx.select({ n: count() }).from(table))[0]!.n;
    return { orders: await n(orders), subscriptions: await n(subscriptions), domains: await n(domains), jobs: await n(jobs), customers: await n(customers) };
  });
}

describe('signature', () => {
  it('a missing, malformed, wrong, stale or tampered signature is 400 problem+json and stores nothing', async () => {
    const payload = JSON.stringify(checkoutEvent());
    const secret = t.env.STRIPE_WEBHOOK_SECRET;
    const cases: Record<string, [string, string | null]> = {
      missing: [payload, null],
      malformed: [payload, 'not-a-signature'],
      'wrong secret': [payload, stripeTestSignatureHeader(payload, 'whsec_someone_else')],
      stale: [payload, stripeTestSignatureHeader(payload, secret, Math.floor(Date.now() / 1000) - 301)],
      tampered: [payload.replace(`"amount_total":${price.amount}`, '"amount_total":1'), stripeTestSignatureHeader(payload, secret)],
    };
    expect(cases.tampered![0]).not.toBe(payload);
    const before = await eventCount();
    for (const [name, [body, header]] of Object.entries(cases)) {
      const res = await deliver(body, header);
      expect(res.statusCode, name).toBe(400);
      expect(res.headers['content-type'], name).toBe('application/problem+json; charset=utf-8');
      expect(res.json().detail, name).toMatch(/Stripe-Signature/);
    }
    expect(await eventCount()).toBe(before);
  });

  it('is checked before the body is validated: an unsigned non-event is 400 for its signature', async () => {
    const res = await deliver('{"hello":"world"}', null);
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toMatch(/Stripe-Signature: the header is missing/);
  });

  it('a signed body that is not an event is 400 and stores nothing', async () => {
    const before = await eventCount();
    const res = await deliver('{"hello":"world"}');
    expect(res.statusCode).toBe(400);
    expect(await eventCount()).toBe(before);
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
        `POST /api/webhooks/stripe HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${1024 * 1024}\r\n` +
          `${signature === undefined ? '' : `stripe-signature: ${signature}\r\n`}\r\n${'['.repeat(1024)}`,
      );
      return await connection.response(2_000);
    } finally {
      connection.socket.destroy();
    }
  }

  it('a missing, malformed or stale Stripe-Signature is 400 at once, the body unread', async () => {
    // Made just before it is sent, 30 s past the 300 s window: see order-intake.test.ts.
    const now = () => Math.floor(Date.now() / 1000);
    const cases: Record<string, () => string | undefined> = {
      missing: () => undefined,
      malformed: () => 'not-a-signature',
      'v0 only': () => `t=${now()},v0=${'a'.repeat(64)}`,
      stale: () => stripeTestSignatureHeader('[', t.env.STRIPE_WEBHOOK_SECRET, now() - 330),
      future: () => stripeTestSignatureHeader('[', t.env.STRIPE_WEBHOOK_SECRET, now() + 330),
    };
    for (const [name, signature] of Object.entries(cases)) {
      const res = await announceMegabyte(signature());
      expect(res.status, name).toBe(400);
      expect(res.headers['content-type'], name).toBe('application/problem+json; charset=utf-8');
      expect(JSON.parse(res.body).detail, name).toMatch(/^Invalid Stripe-Signature: /);
    }
  });

  it('bodies over 64 KB are 413, signed or not with a fresh header', async () => {
    expect((await announceMegabyte(stripeTestSignatureHeader('[', t.env.STRIPE_WEBHOOK_SECRET))).status).toBe(413);
    const before = await eventCount();
    const res = await send(checkoutEvent({ session: { padding: 'x'.repeat(64 * 1024) } }));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(await eventCount()).toBe(before);
  });

  it("a complete Checkout Session event with Stripe's maximum metadata (50 keys of 500 characters) fits", async () => {
    const id = hex();
    const metadata: Record<string, string> = {
      mpanel_tenant: tenant.slug,
      mpanel_price_id: price.id,
      mpanel_domain: `full-${id}.example.test`,
      mpanel_mailboxes: 'info, sales',
    };
    for (let i = 0; Object.keys(metadata).length < 50; i++) metadata[`campaign_${String(i).padStart(31, '0')}`] = 'v'.repeat(500);
    const event = checkoutEvent({
      metadata,
      session: {
        adaptive_pricing: { enabled: true },
        after_expiration: null,
        allow_promotion_codes: null,
        automatic_tax: { enabled: false, liability: null, provider: null, status: null },
        billing_address_collection: null,
        cancel_url: 'https://www.hoster.example/cancel',
        client_reference_id: null,
        client_secret: null,
        collected_information: { shipping_details: null },
        consent: null,
        consent_collection: null,
        created: Math.floor(Date.now() / 1000) - 60,
        currency_conversion: null,
        custom_fields: [],
        custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
        customer_creation: 'always',
        customer_details: {
          address: { city: 'Lyon', country: 'FR', line1: '1 rue de la Paix', line2: null, postal_code: '69001', state: null },
          email: `buyer-${id}@example.test`,
          name: 'Grace Buyer',
          phone: null,
          tax_exempt: 'none',
          tax_ids: [],
        },
        discounts: [],
        expires_at: Math.floor(Date.now() / 1000) + 86_400,
        invoice: null,
        invoice_creation: {
          enabled: false,
          invoice_data: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: null, metadata: {}, rendering_options: null },
        },
        locale: null,
        payment_link: null,
        payment_method_collection: 'if_required',
        payment_method_configuration_details: { id: `pmc_${id}`, parent: null },
        payment_method_options: { card: { request_three_d_secure: 'automatic' } },
        payment_method_types: ['card', 'link'],
        permissions: null,
        phone_number_collection: { enabled: false },
        presentment_details: { presentment_amount: price.amount, presentment_currency: price.currency.toLowerCase() },
        recovered_from: null,
        saved_payment_method_options: { allow_redisplay_filters: ['always'], payment_method_remove: 'disabled', payment_method_save: null },
        setup_intent: null,
        shipping_address_collection: null,
        shipping_cost: null,
        shipping_options: [],
        submit_type: null,
        success_url: 'https://www.hoster.example/thanks?session_id={CHECKOUT_SESSION_ID}',
        total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
        ui_mode: 'hosted',
        url: null,
        wallet_options: null,
      },
    });
    const payload = JSON.stringify(event);
    expect(Buffer.byteLength(payload)).toBeGreaterThan(25_000);
    expect(Buffer.byteLength(payload)).toBeLessThan(64 * 1024);
    const res = await deliver(payload);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'PROCESSED', orderId: expect.any(String) });
  });
});

describe('checkout.session.completed', () => {
  it('creates the order through the marketing path: same rows (order, subscription, domain, jobs), audited as WEBHOOK', async () => {
    const event = checkoutEvent();
    const session = event.data.object;
    const res = await send(event);
    expect(res.statusCode, res.body).toBe(200);
    const reply = res.json();
    expect(reply).toEqual({ received: true, duplicate: false, status: 'PROCESSED', orderId: expect.any(String) });

    const row = await eventRow(event.id);
    expect(row).toMatchObject({ provider: 'stripe', type: 'checkout.session.completed', status: 'PROCESSED', tenantId: tenant.id, error: null });
    expect(row?.processedAt).toBeInstanceOf(Date);
    expect(row?.payload).toEqual(event);

    // The same order sent by the marketing site, for comparison.
    const raw = JSON.stringify(orderPayload(tenant, price, { mailboxes: [{ localPart: 'info' }, { localPart: 'sales' }] }));
    const marketing = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
    expect(marketing.statusCode, marketing.body).toBe(201);

    const shape = (orderId: string) =>
      withTenant(db(), tenant.id, async (tx) => {
        const [order] = await tx.select().from(orders).where(eq(orders.id, orderId));
        const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.orderId, orderId));
        const [domain] = await tx.select().from(domains).where(eq(domains.subscriptionId, subscription!.id));
        const [customer] = await tx.select().from(customers).where(eq(customers.id, order!.customerId));
        const steps = await tx.select().from(jobs).where(eq(jobs.orderId, orderId));
        const [audit] = await tx.select().from(auditLogs).where(and(eq(auditLogs.action, 'order.created'), eq(auditLogs.targetId, orderId)));
        return { order: order!, subscription: subscription!, domain: domain!, customer: customer!, steps, audit: audit! };
      });
    const viaStripe = await shape(reply.orderId);
    const viaMarketing = await shape(marketing.json().orderId);

    const comparable = (s: typeof viaStripe) => ({
      order: { status: s.order.status, priceId: s.order.priceId, amount: s.order.amount, currency: s.order.currency, metadata: s.order.metadata },
      subscription: { status: s.subscription.status, priceId: s.subscription.priceId, productId: s.subscription.productId },
      domain: { status: s.domain.status },
      steps: s.steps.map((step) => [step.type, step.status]).sort(),
      audit: { actorType: s.audit.actorType },
    });
    expect(comparable(viaStripe)).toEqual(comparable(viaMarketing));
    expect(comparable(viaStripe)).toMatchObject({ order: { status: 'PAID', amount: 1999, currency: 'EUR', metadata: { mailboxes: ['info', 'sales'] } }, audit: { actorType: 'WEBHOOK' } });

    // The Stripe-specific mapping.
    expect(viaStripe.order).toMatchObject({ paymentProvider: 'stripe', paymentReference: session.id, domainName: session.metadata.mpanel_domain, stripeCustomerId: session.customer });
    expect(viaStripe.domain.name).toBe(session.metadata.mpanel_domain);
    expect(viaStripe.customer).toMatchObject({ email: session.customer_details.email.toLowerCase(), name: 'Grace Buyer', phone: '+15555550100', stripeCustomerId: session.customer });
    expect(viaStripe.steps.map((step) => step.type).sort()).toEqual(['PROVISION_DNS', 'PROVISION_HOSTING', 'PROVISION_MAIL', 'VERIFY_AND_ACTIVATE']);
  });

  it('the same event again is a duplicate: 200, nothing new', async () => {
    const event = checkoutEvent();
    expect((await send(event)).json().status).toBe('PROCESSED');
    const rows = await orderRows();
    const events = await eventCount();

    const again = await send(event);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ received: true, duplicate: true, status: 'PROCESSED' });
    expect(await orderRows()).toEqual(rows);
    expect(await eventCount()).toBe(events);
  });

  it('another event for the same session (async payment succeeded) answers the same order and creates nothing', async () => {
    const completed = checkoutEvent();
    const first = (await send(completed)).json();
    const rows = await orderRows();
    const later = checkoutEvent({ type: 'checkout.session.async_payment_succeeded', sessionId: completed.data.object.id, metadata: completed.data.object.metadata });
    later.data.object.customer = completed.data.object.customer;
    later.data.object.customer_details = completed.data.object.customer_details;
    later.data.object.payment_intent = completed.data.object.payment_intent;
    const res = await send(later);
    expect(res.json()).toEqual({ received: true, duplicate: false, status: 'PROCESSED', orderId: first.orderId });
    expect(await orderRows()).toEqual(rows);
  });

  it('a session that is not paid yet is IGNORED (the async_payment_succeeded event makes the order)', async () => {
    const rows = await orderRows();
    const event = checkoutEvent({ session: { payment_status: 'unpaid' } });
    const res = await send(event);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ duplicate: false, status: 'IGNORED', error: expect.stringMatching(/not paid yet/) });
    expect(await orderRows()).toEqual(rows);
    expect((await eventRow(event.id))?.status).toBe('IGNORED');
  });
});

describe('events that cannot become an order: FAILED, answered 200 (Stripe would retry anything else for days)', () => {
  it('invalid metadata: FAILED with the reason naming the Stripe fields, no order', async () => {
    const rows = await orderRows();
    const event = checkoutEvent({ metadata: { mpanel_tenant: tenant.slug, mpanel_domain: 'not a domain', mpanel_mailboxes: 'ok,Bad Box' } });
    const res = await send(event);
    expect(res.statusCode).toBe(200);
    const reply = res.json();
    expect(reply).toMatchObject({ received: true, duplicate: false, status: 'FAILED' });
    expect(reply.error).toContain('metadata.mpanel_price_id');
    expect(reply.error).toContain('metadata.mpanel_domain');
    expect(reply.error).toContain('metadata.mpanel_mailboxes');
    const row = await eventRow(event.id);
    expect(row).toMatchObject({ status: 'FAILED', error: reply.error, tenantId: null });
    expect(row?.processedAt).toBeInstanceOf(Date);
    expect(await orderRows()).toEqual(rows);
  });

  it('an amount that does not match the price: FAILED naming amount_total', async () => {
    const event = checkoutEvent({ session: { amount_total: 5 } });
    const reply = (await send(event)).json();
    expect(reply.status).toBe('FAILED');
    expect(reply.error).toContain('amount_total: must be 1999');
    expect((await eventRow(event.id))?.tenantId).toBe(tenant.id);
  });

  it('an unknown tenant, or a data.object that is not a Checkout Session: FAILED', async () => {
    const unknownTenant = checkoutEvent({ metadata: { mpanel_tenant: 'no-such-tenant', mpanel_price_id: price.id, mpanel_domain: `x-${hex()}.example.test` } });
    expect((await send(unknownTenant)).json()).toMatchObject({ status: 'FAILED', error: expect.stringContaining('no-such-tenant') });
    const notASession = checkoutEvent({ session: { object: 'payment_intent' } });
    expect((await send(notASession)).json()).toMatchObject({ status: 'FAILED', error: expect.stringContaining('not a Checkout Session') });
  });

  it('a FAILED event delivered again (resent once its cause is fixed) is handled again', async () => {
    await withTenant(db(), tenant.id, (tx) => tx.update(prices).set({ isActive: false }).where(eq(prices.id, price.id)));
    const event = checkoutEvent();
    try {
      expect((await send(event)).json()).toMatchObject({ status: 'FAILED', error: expect.stringContaining('metadata.mpanel_price_id') });
    } finally {
      await withTenant(db(), tenant.id, (tx) => tx.update(prices).set({ isActive: true }).where(eq(prices.id, price.id)));
    }
    const resent = (await send(event)).json();
    expect(resent).toMatchObject({ duplicate: false, status: 'PROCESSED', orderId: expect.any(String) });
    expect(await eventRow(event.id)).toMatchObject({ status: 'PROCESSED', error: null });
  });

  it('a session the marketing site already sent with other details is IGNORED, not FAILED', async () => {
    const raw = JSON.stringify(orderPayload(tenant, price));
    const marketing = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
    expect(marketing.statusCode).toBe(201);
    const sent = JSON.parse(raw);
    const rows = await orderRows();
    const res = await send(checkoutEvent({ sessionId: sent.payment.reference }));
    expect(res.json()).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('already exists') });
    expect(await orderRows()).toEqual(rows);
  });
});

describe('other event types', () => {
  it('are stored as IGNORED and acknowledged', async () => {
    // A type mPanel does not act on (invoice.* is handled since the Stripe Billing events: stripe-billing.test.ts).
    const event = { ...checkoutEvent({ type: 'customer.created' }), data: { object: { id: `cus_${hex()}`, object: 'customer' } } };
    const rows = await orderRows();
    const res = await send(event);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: true, duplicate: false, status: 'IGNORED' });
    expect(await eventRow(event.id)).toMatchObject({ type: 'customer.created', status: 'IGNORED', payload: event });
    expect(await orderRows()).toEqual(rows);
    expect((await send(event)).json()).toEqual({ received: true, duplicate: true, status: 'IGNORED' });
  });
});

describe('livemode', () => {
  it('a live-mode event on a test-mode install is recorded IGNORED with the reason, and makes no order', async () => {
    const event = { ...checkoutEvent(), livemode: true };
    const rows = await orderRows();
    const res = await send(event);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      received: true,
      duplicate: false,
      status: 'IGNORED',
      error: 'a live-mode event; this install takes test-mode events (STRIPE_LIVEMODE)',
    });
    expect(await eventRow(event.id)).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('live-mode event') });
    expect(await orderRows()).toEqual(rows);
  });

  it('a live install takes live events and ignores test ones', async () => {
    const live = await createTestApp({ env: { STRIPE_LIVEMODE: 'true' } });
    try {
      const post = (event: object) => {
        const payload = JSON.stringify(event);
        return live.app.inject({
          method: 'POST',
          url: '/api/webhooks/stripe',
          payload,
          headers: { 'content-type': 'application/json', 'stripe-signature': stripeTestSignatureHeader(payload, live.env.STRIPE_WEBHOOK_SECRET) },
        });
      };
      const rows = await orderRows();
      const testEvent = await post(checkoutEvent());
      expect(testEvent.json()).toMatchObject({ status: 'IGNORED', error: 'a test-mode event; this install takes live-mode events (STRIPE_LIVEMODE)' });
      expect(await orderRows()).toEqual(rows);
      const liveEvent = await post({ ...checkoutEvent(), livemode: true });
      expect(liveEvent.json(), liveEvent.body).toMatchObject({ status: 'PROCESSED' });
      expect((await orderRows()).orders).toBe(rows.orders + 1);
    } finally {
      await live.close();
    }
  });
});
