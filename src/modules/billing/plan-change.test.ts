import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, domainEvents, domains, products, invoiceLines, invoices, mailboxes, prices, subscriptions, taxRates, type Price, type Subscription, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildOrder, buildPrice, buildProduct, buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildCustomerLogin, customerAuthHeader } from '../../../test/helpers/portal.js';
import { runBilling } from './billing-run.js';
import { periodStartBefore, planChangeKind, prorationOf } from './proration.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});
const db = () => t.container.database.db;
const DAY = 86_400_000;

/** a × b / c rounded half away from zero, written independently of money.ts. */
function expectedProration(diff: number, remaining: number, period: number): number {
  const numerator = BigInt(diff) * BigInt(remaining);
  const sign = numerator < 0n ? -1n : 1n;
  const magnitude = numerator * sign;
  const q = magnitude / BigInt(period);
  const r = magnitude % BigInt(period);
  return Number(sign * (2n * r >= BigInt(period) ? q + 1n : q));
}

describe('the proration rule (pure)', () => {
  it('(new − old) × remaining / period, rounded half away from zero', () => {
    const paidThrough = new Date('2031-02-01T00:00:00Z');
    // January: 31 days = 2,678,400 s; 11 days left = 950,400 s; 2000 × 950400 / 2678400 = 709.68 → 710.
    expect(prorationOf(1000, 3000, paidThrough, 'MONTH', new Date('2031-01-21T00:00:00Z'))).toEqual({ remainingSeconds: 950_400, periodSeconds: 2_678_400, amount: 710 });
    // Exactly half a period: 1 × 1/2 = 0.5 → 1, and −0.5 → −1.
    const half = new Date(paidThrough.getTime() - 1_339_200_000);
    expect(prorationOf(100, 101, paidThrough, 'MONTH', half).amount).toBe(1);
    expect(prorationOf(101, 100, paidThrough, 'MONTH', half).amount).toBe(-1);
    // Past paidThrough: nothing is left to prorate.
    expect(prorationOf(1000, 3000, paidThrough, 'MONTH', new Date('2031-02-03T00:00:00Z')).amount).toBe(0);
    // The next period already paid: more than one period of difference.
    expect(prorationOf(1000, 2000, new Date('2031-03-01T00:00:00Z'), 'MONTH', new Date('2031-01-01T00:00:00Z'))).toMatchObject({ remainingSeconds: 59 * 86_400, periodSeconds: 28 * 86_400, amount: expectedProration(1000, 59 * 86_400, 28 * 86_400) });
  });

  it('one interval back, the day clamped to the month; the kind follows the price per interval, or per year across intervals', () => {
    expect(periodStartBefore(new Date('2031-03-31T10:00:00Z'), 'MONTH').toISOString()).toBe('2031-02-28T10:00:00.000Z');
    expect(periodStartBefore(new Date('2032-02-29T00:00:00Z'), 'YEAR').toISOString()).toBe('2031-02-28T00:00:00.000Z');
    expect([planChangeKind(1000, 2000), planChangeKind(2000, 1000), planChangeKind(1000, 1000)]).toEqual(['upgrade', 'downgrade', 'same_price']);
    // Across intervals, per year: 12 × 1,000 against 15,000, 10,000 and 12,000; and back.
    expect([planChangeKind(1000, 15_000, 'MONTH', 'YEAR'), planChangeKind(1000, 10_000, 'MONTH', 'YEAR'), planChangeKind(1000, 12_000, 'MONTH', 'YEAR')]).toEqual(['upgrade', 'downgrade', 'same_price']);
    expect([planChangeKind(12_000, 1100, 'YEAR', 'MONTH'), planChangeKind(12_000, 900, 'YEAR', 'MONTH')]).toEqual(['upgrade', 'downgrade']);
  });
});

interface Setup {
  tenant: Tenant;
  staff: Record<string, string>;
  subscription: Subscription;
  small: Price;
  large: Price;
  paidThrough: Date;
}

/** A tenant with a 20 % exclusive tax, two plans of one type (1000 and 3000 USD a month) and an ACTIVE subscription on `on`. */
async function setup(on: 'small' | 'large', paidThrough = new Date(Date.UTC(new Date().getUTCFullYear() + 1, 0, 15))): Promise<Setup> {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role: 'BILLING' });
  const order = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
  const small = (await withTenant(db(), tenant.id, (tx) => tx.update(prices).set({ amount: 1000 }).where(eq(prices.id, order.subscription.priceId)).returning()))[0]!;
  const product = await buildProduct(db(), tenant, { features: { diskQuotaMb: 4096, mailboxes: 2, sslIncluded: false } });
  const large = await buildPrice(db(), tenant, product, { amount: 3000 });
  const [subscription] = await withTenant(db(), tenant.id, async (tx) => {
    await tx.insert(taxRates).values({ tenantId: tenant.id, name: 'VAT', rateBps: 2000, inclusive: false });
    return tx
      .update(subscriptions)
      .set({ paidThrough, ...(on === 'large' ? { priceId: large.id, productId: product.id } : {}) })
      .where(eq(subscriptions.id, order.subscription.id))
      .returning();
  });
  return { tenant, staff: await authHeader(t.env, user), subscription: subscription!, small, large, paidThrough };
}

const post = (s: Setup, path: string, body: unknown, headers = s.staff) =>
  t.app.inject({ method: 'POST', url: `/api/subscriptions/${s.subscription.id}/${path}`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(body) });

function read(s: Setup) {
  return withTenant(db(), s.tenant.id, async (tx) => {
    const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, s.subscription.id));
    const bills = await tx.select().from(invoices).where(eq(invoices.subscriptionId, s.subscription.id)).orderBy(asc(invoices.createdAt));
    const events = await tx.select().from(domainEvents).where(eq(domainEvents.subjectId, s.subscription.id)).orderBy(asc(domainEvents.seq));
    const audit = await tx.select().from(auditLogs).where(eq(auditLogs.targetId, s.subscription.id));
    return { subscription: subscription!, invoices: bills, events, audit };
  });
}

describe('POST /api/subscriptions/:id/plan-change', () => {
  it('an upgrade applies now with a proration invoice of the exact amount, audited, with subscription.plan_changed', async () => {
    const s = await setup('small');
    const preview = await post(s, 'plan-change/preview', { priceId: s.large.id });
    expect(preview.statusCode, preview.body).toBe(200);
    expect(preview.json()).toMatchObject({ kind: 'upgrade', effective: 'now', current: { amount: 1000 }, next: { amount: 3000 }, mailboxes: { used: 0, allowed: 2 } });
    expect((await read(s)).invoices).toHaveLength(0); // a preview writes nothing

    const res = await post(s, 'plan-change', { priceId: s.large.id });
    expect(res.statusCode, res.body).toBe(200);
    const after = await read(s);
    expect(after.subscription).toMatchObject({ priceId: s.large.id, pendingPriceId: null });
    const [invoice] = after.invoices;
    expect(invoice).toMatchObject({ kind: 'PRORATION', status: 'ISSUED', currency: 'USD', periodEnd: s.paidThrough });
    const remaining = Math.floor((s.paidThrough.getTime() - invoice!.periodStart!.getTime()) / 1000);
    const start = new Date(s.paidThrough);
    start.setUTCMonth(start.getUTCMonth() - 1); // the 15th: no clamping
    const net = expectedProration(2000, remaining, (s.paidThrough.getTime() - start.getTime()) / 1000);
    const tax = Math.round((net * 2000) / 10_000); // positive: round half up is half away from zero
    expect(net).toBeGreaterThan(0);
    const lines = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(invoiceLines).where(eq(invoiceLines.invoiceId, invoice!.id)));
    expect(lines).toMatchObject([{ unitAmount: net, netAmount: net, taxAmount: tax, totalAmount: net + tax, taxRateBps: 2000 }]);
    expect(invoice).toMatchObject({ subtotal: net, taxTotal: tax, total: net + tax });
    // The preview, a moment earlier, priced the same rule (a few seconds more remaining at most).
    expect(Math.abs(preview.json<{ proration: { subtotal: number } }>().proration.subtotal - net)).toBeLessThanOrEqual(1);
    expect(res.json()).toMatchObject({ invoice: { id: invoice!.id, total: net + tax }, subscription: { priceId: s.large.id }, jobs: [] });

    const changed = after.events.filter((event) => event.type === 'subscription.plan_changed');
    expect(changed).toHaveLength(1);
    expect(changed[0]!.payload).toMatchObject({ kind: 'upgrade', fromPriceId: s.small.id, toPriceId: s.large.id, invoiceId: invoice!.id, toAmount: { amount: 3000, currency: 'USD' } });
    const audit = after.audit.find((row) => row.action === 'subscription.plan_changed');
    expect(audit).toMatchObject({ before: { priceId: s.small.id }, after: { priceId: s.large.id } });
    expect(audit?.metadata).toMatchObject({ invoiceId: invoice!.id, kind: 'upgrade' });
  });

  it('a downgrade waits for paidThrough: the renewal is billed at the new price and the run applies the plan then', async () => {
    const s = await setup('large');
    const res = await post(s, 'plan-change', { priceId: s.small.id });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'downgrade', effective: 'period_end', invoice: null, subscription: { priceId: s.large.id, pendingPriceId: s.small.id } });
    expect(new Date(res.json<{ effectiveAt: string }>().effectiveAt)).toEqual(s.paidThrough);
    let now = await read(s);
    expect(now.subscription).toMatchObject({ priceId: s.large.id, pendingPriceId: s.small.id, pendingPlanChangeAt: s.paidThrough });
    expect(now.invoices).toHaveLength(0);
    expect(now.events.map((event) => event.type)).not.toContain('subscription.plan_changed');
    expect(now.audit.map((row) => row.action)).toContain('subscription.plan_change_scheduled');

    const deps = { db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 };
    await runBilling(deps, { asOf: new Date(s.paidThrough.getTime() - 14 * DAY), tenantId: s.tenant.id, trigger: 'test' });
    now = await read(s);
    expect(now.invoices).toMatchObject([{ kind: 'RENEWAL', subtotal: 1000, taxTotal: 200, total: 1200, periodStart: s.paidThrough }]);
    expect(now.subscription.priceId).toBe(s.large.id); // still the paid plan until paidThrough

    const report = await runBilling(deps, { asOf: new Date(s.paidThrough.getTime() + 60_000), tenantId: s.tenant.id, trigger: 'test' });
    expect(report.counts.plan_changed).toBe(1);
    now = await read(s);
    expect(now.subscription).toMatchObject({ priceId: s.small.id, pendingPriceId: null, pendingPlanChangeAt: null });
    const changed = now.events.filter((event) => event.type === 'subscription.plan_changed');
    expect(changed.map((event) => event.payload)).toMatchObject([{ kind: 'downgrade', toPriceId: s.small.id, invoiceId: null, effectiveAt: s.paidThrough.toISOString() }]);
    // A second run finds nothing more to apply.
    expect((await runBilling(deps, { asOf: new Date(s.paidThrough.getTime() + 120_000), tenantId: s.tenant.id, trigger: 'test' })).counts.plan_changed).toBeUndefined();
  });

  it('a change of interval (monthly → yearly) waits for paidThrough whatever it costs; the renewal then covers a year at the yearly price', async () => {
    const s = await setup('small'); // 1000 a month
    const yearly = await buildPrice(db(), s.tenant, { id: s.large.productId, type: 'SHARED_HOSTING' }, { amount: 15_000, interval: 'YEAR' });
    const cheaperYearly = await buildPrice(db(), s.tenant, { id: s.large.productId, type: 'SHARED_HOSTING' }, { amount: 10_000, interval: 'YEAR' });
    // Compared per year: 15,000 > 12 × 1,000 is an upgrade, 10,000 a downgrade; both at period end, nothing prorated.
    const upgrade = await post(s, 'plan-change/preview', { priceId: yearly.id });
    expect(upgrade.statusCode, upgrade.body).toBe(200);
    expect(upgrade.json()).toMatchObject({ kind: 'upgrade', effective: 'period_end', proration: null, next: { interval: 'YEAR', amount: 15_000 } });
    expect((await post(s, 'plan-change/preview', { priceId: cheaperYearly.id })).json()).toMatchObject({ kind: 'downgrade', effective: 'period_end' });

    const res = await post(s, 'plan-change', { priceId: yearly.id });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ invoice: null, jobs: [], subscription: { priceId: s.small.id, pendingPriceId: yearly.id } });
    expect((await read(s)).invoices).toHaveLength(0);

    const deps = { db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 };
    await runBilling(deps, { asOf: new Date(s.paidThrough.getTime() - 14 * DAY), tenantId: s.tenant.id, trigger: 'test' });
    const yearLater = new Date(s.paidThrough);
    yearLater.setUTCFullYear(yearLater.getUTCFullYear() + 1);
    let now = await read(s);
    expect(now.invoices).toMatchObject([{ kind: 'RENEWAL', subtotal: 15_000, periodStart: s.paidThrough, periodEnd: yearLater }]);

    const paid = await t.app.inject({ method: 'POST', url: `/api/invoices/${now.invoices[0]!.id}/payments`, headers: s.staff, payload: { amount: now.invoices[0]!.total, currency: 'USD', reference: `bank-${s.subscription.id}` } });
    expect(paid.statusCode, paid.body).toBeLessThan(300);
    await runBilling(deps, { asOf: new Date(s.paidThrough.getTime() + 60_000), tenantId: s.tenant.id, trigger: 'test' });
    now = await read(s);
    expect(now.subscription).toMatchObject({ priceId: yearly.id, pendingPriceId: null, paidThrough: yearLater });
    expect(now.events.filter((event) => event.type === 'subscription.plan_changed').map((event) => event.payload)).toMatchObject([{ kind: 'upgrade', toPriceId: yearly.id, invoiceId: null }]);
  });

  it('a downgrade after the renewal was issued replaces it at the new price; cancelling puts the current price back', async () => {
    const s = await setup('large');
    const deps = { db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 };
    await runBilling(deps, { asOf: new Date(s.paidThrough.getTime() - 14 * DAY), tenantId: s.tenant.id, trigger: 'test' });
    expect((await read(s)).invoices).toMatchObject([{ kind: 'RENEWAL', status: 'ISSUED', total: 3600 }]);

    const res = await post(s, 'plan-change', { priceId: s.small.id });
    expect(res.statusCode, res.body).toBe(200);
    let now = await read(s);
    expect(now.invoices.map((invoice) => [invoice.kind, invoice.status, invoice.total])).toEqual([
      ['RENEWAL', 'VOID', 3600],
      ['RENEWAL', 'ISSUED', 1200],
    ]);
    expect(now.invoices[1]!.dueAt).toEqual(now.invoices[0]!.dueAt);

    const cancel = await t.app.inject({ method: 'DELETE', url: `/api/subscriptions/${s.subscription.id}/plan-change`, headers: s.staff });
    expect(cancel.statusCode, cancel.body).toBe(200);
    expect(cancel.json()).toMatchObject({ cancelledPriceId: s.small.id, priceId: s.large.id, renewalInvoice: { total: 3600 } });
    now = await read(s);
    expect(now.subscription).toMatchObject({ priceId: s.large.id, pendingPriceId: null });
    expect(now.invoices.filter((invoice) => invoice.status === 'ISSUED').map((invoice) => invoice.total)).toEqual([3600]);
    expect(now.audit.map((row) => row.action)).toContain('subscription.plan_change_cancelled');
    const again = await t.app.inject({ method: 'DELETE', url: `/api/subscriptions/${s.subscription.id}/plan-change`, headers: s.staff });
    expect(again.statusCode).toBe(409);
  });

  it('concurrent changes of one subscription: one outcome, one invoice', async () => {
    const s = await setup('small');
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(s, 'plan-change', { priceId: s.large.id })));
    expect(answers.map((res) => res.statusCode).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    const now = await read(s);
    expect(now.invoices.filter((invoice) => invoice.kind === 'PRORATION')).toHaveLength(1);
    expect(now.events.filter((event) => event.type === 'subscription.plan_changed')).toHaveLength(1);
    expect(now.subscription.priceId).toBe(s.large.id);
  });

  it('refuses: Stripe-billed (409), more mailboxes than the new plan allows (409 naming the count), a one-time price or another tenant\'s (400 on priceId)', async () => {
    const s = await setup('large');
    await withTenant(db(), s.tenant.id, async (tx) => {
      const [domain] = await tx.select().from(domains).where(eq(domains.subscriptionId, s.subscription.id));
      await tx.update(prices).set({ amount: 500 }).where(eq(prices.id, s.small.id));
      await tx.update(products).set({ features: { diskQuotaMb: 1024, mailboxes: 2, sslIncluded: false } }).where(eq(products.id, s.small.productId));
      await tx.insert(mailboxes).values(['a', 'b', 'c'].map((localPart) => ({ tenantId: s.tenant.id, domainId: domain!.id, subscriptionId: s.subscription.id, localPart, quotaMb: 100 })));
    });
    const tooMany = await post(s, 'plan-change', { priceId: s.small.id });
    expect(tooMany.statusCode, tooMany.body).toBe(409);
    expect(tooMany.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(tooMany.json<{ detail: string }>().detail).toMatch(/3 mailboxes .* allows 2: delete 1 first/);

    const other = await buildTenant(db());
    const foreign = await buildPrice(db(), other, await buildProduct(db(), other));
    const oneTime = await buildPrice(db(), s.tenant, { id: s.small.productId, type: 'SHARED_HOSTING' }, { amount: 100, interval: 'ONE_TIME' });
    for (const priceId of [foreign.id, oneTime.id]) {
      const res = await post(s, 'plan-change/preview', { priceId });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['body/priceId']);
    }
    expect((await post(s, 'plan-change', { priceId: s.small.id, extra: 1 })).statusCode).toBe(400);

    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ billingMode: 'STRIPE' }).where(eq(subscriptions.id, s.subscription.id)));
    const stripe = await post(s, 'plan-change', { priceId: s.small.id });
    expect(stripe.statusCode).toBe(409);
    expect(stripe.json<{ detail: string }>().detail).toMatch(/billed by Stripe/);
    expect((await read(s)).subscription).toMatchObject({ priceId: s.large.id, pendingPriceId: null });
  });
});

describe('POST /api/portal/services/:id/plan-change (the same service, the customer door)', () => {
  it("the customer upgrades their own service; another customer's is 404", async () => {
    const s = await setup('small');
    const owner = await buildCustomerLogin(db(), s.tenant, { id: s.subscription.customerId });
    const headers = await customerAuthHeader(t.env, db(), owner);
    const portal = (id: string, path: string) =>
      t.app.inject({ method: 'POST', url: `/api/portal/services/${id}/${path}`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ priceId: s.large.id }) });
    const preview = await portal(s.subscription.id, 'plan-change/preview');
    expect(preview.statusCode, preview.body).toBe(200);
    expect(preview.json()).toMatchObject({ kind: 'upgrade', proration: { currency: 'USD' } });

    const stranger = await buildOrder(db(), s.tenant, { subscriptionStatus: 'ACTIVE' });
    expect((await portal(stranger.subscription.id, 'plan-change')).statusCode).toBe(404);

    const res = await portal(s.subscription.id, 'plan-change');
    expect(res.statusCode, res.body).toBe(200);
    const now = await read(s);
    expect(now.subscription.priceId).toBe(s.large.id);
    expect(now.audit.find((row) => row.action === 'subscription.plan_changed')).toMatchObject({ actorType: 'CUSTOMER' });
    const [invoice] = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(invoices).where(and(eq(invoices.subscriptionId, s.subscription.id), eq(invoices.kind, 'PRORATION'))));
    expect(invoice?.total).toBeGreaterThan(0);
  });

  it('GET lists the public plans of the same type and currency it may move to, and the change scheduled', async () => {
    const s = await setup('large');
    const owner = await buildCustomerLogin(db(), s.tenant, { id: s.subscription.customerId });
    const headers = await customerAuthHeader(t.env, db(), owner);
    const options = (id = s.subscription.id) => t.app.inject({ method: 'GET', url: `/api/portal/services/${id}/plan-change`, headers });
    // Not offered: a hidden product, another currency, a one-time price, an inactive price, another type.
    const hidden = await buildProduct(db(), s.tenant, { isPublic: false });
    await buildPrice(db(), s.tenant, hidden, { amount: 500 });
    const euro = await buildPrice(db(), s.tenant, await buildProduct(db(), s.tenant), { amount: 700, currency: 'EUR' });
    const once = await buildPrice(db(), s.tenant, await buildProduct(db(), s.tenant), { amount: 800, interval: 'ONE_TIME' });
    const retired = await buildPrice(db(), s.tenant, await buildProduct(db(), s.tenant), { amount: 900, isActive: false });
    const vps = await buildProduct(db(), s.tenant, { type: 'VPS' });
    await buildPrice(db(), s.tenant, vps, { amount: 600 });

    const before = await options();
    expect(before.statusCode, before.body).toBe(200);
    const body = before.json<{ current: { priceId: string }; pending: unknown; billingMode: string; plans: { priceId: string; amount: number }[] }>();
    expect(body).toMatchObject({ current: { priceId: s.large.id, amount: 3000 }, pending: null, billingMode: 'MPANEL' });
    expect(body.plans.map((plan) => plan.priceId)).toEqual([s.small.id]);
    for (const refused of [euro.id, once.id, retired.id]) expect(body.plans.some((plan) => plan.priceId === refused)).toBe(false);

    const scheduled = await t.app.inject({ method: 'POST', url: `/api/portal/services/${s.subscription.id}/plan-change`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ priceId: s.small.id }) });
    expect(scheduled.statusCode, scheduled.body).toBe(200);
    expect((await options()).json()).toMatchObject({ pending: { plan: { priceId: s.small.id, amount: 1000 }, at: s.paidThrough.toISOString() } });

    const stranger = await buildOrder(db(), s.tenant, { subscriptionStatus: 'ACTIVE' });
    expect((await options(stranger.subscription.id)).statusCode).toBe(404);
  });
});
