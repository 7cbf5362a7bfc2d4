import { randomBytes } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, creditNotes, domainEvents, invoices, jobs, payments, subscriptions, webhookEvents, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { stripeTestSignatureHeader } from '../../../test/helpers/stripe-signature.js';
import { systemActor } from '../audit/audit.service.js';
import { runBilling } from '../billing/billing-run.js';
import { createDraftInvoice, issueInvoice } from '../billing/invoices.service.js';
import { buildOrder, buildTenant } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildCustomerLogin, customerAuthHeader } from '../../../test/helpers/portal.js';
import { startStripeStandin, stripeEvent, type StripeStandin } from '../../../test/helpers/stripe-standin.js';

// Stripe Billing's events against the real database, the app's signed webhook route, and the real
// SDK (payment port) talking to a loopback stand-in. Events are signed with the SDK's own helper.

let t: TestApp;
let standin: StripeStandin;
const db = () => t.container.database.db;
const DAY = 86_400_000;
const hex = () => randomBytes(6).toString('hex');
const unix = (date: Date) => Math.floor(date.getTime() / 1000);

beforeAll(async () => {
  standin = await startStripeStandin();
  t = await createTestApp({ env: { STRIPE_API_BASE: standin.base, STRIPE_API_KEY: standin.apiKey } });
});
afterAll(async () => {
  await t.close();
  await standin.close();
});

const event = stripeEvent;

async function deliver(payload: object) {
  const body = JSON.stringify(payload);
  const reply = await t.app.inject({ method: 'POST', url: '/api/webhooks/stripe', payload: body, headers: { 'content-type': 'application/json', 'stripe-signature': stripeTestSignatureHeader(body, t.env.STRIPE_WEBHOOK_SECRET) } });
  expect(reply.statusCode, reply.body).toBe(200);
  return reply.json<{ status: string; duplicate: boolean; error?: string }>();
}

/** A STRIPE-mode subscription (as an order from Checkout in subscription mode leaves it), paid through `paidThrough`. */
async function stripeSubscription(tenant: Tenant, paidThrough: Date) {
  const built = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
  const stripeId = `sub_${hex()}`;
  await withTenant(db(), tenant.id, (tx) => tx.update(subscriptions).set({ billingMode: 'STRIPE', stripeSubscriptionId: stripeId, paidThrough }).where(eq(subscriptions.id, built.subscription.id)));
  return { ...built, stripeId };
}

function stripeInvoice(stripeSubscriptionId: string, period: { start: Date; end: Date }, fields: Record<string, unknown> = {}) {
  return {
    id: `in_${hex()}`,
    object: 'invoice',
    status: 'open',
    number: `ST-${hex().toUpperCase()}`,
    currency: 'eur',
    subtotal: 1000,
    total: 1200,
    amount_paid: 0,
    total_taxes: [{ amount: 200, tax_behavior: 'exclusive' }],
    period_start: unix(new Date(period.start.getTime() - 30 * DAY)),
    period_end: unix(period.start),
    due_date: null,
    created: unix(new Date()),
    attempt_count: 0,
    next_payment_attempt: null,
    billing_reason: 'subscription_cycle',
    customer: `cus_${hex()}`,
    parent: { type: 'subscription_details', subscription_details: { subscription: stripeSubscriptionId } },
    lines: { object: 'list', data: [{ id: `il_${hex()}`, period: { start: unix(period.start), end: unix(period.end) } }] },
    hosted_invoice_url: 'https://invoice.stripe.test/i/abc',
    invoice_pdf: 'https://invoice.stripe.test/i/abc/pdf',
    ...fields,
  };
}

const subscriptionRow = (tenant: Tenant, id: string) => withTenant(db(), tenant.id, async (tx) => (await tx.select().from(subscriptions).where(eq(subscriptions.id, id)))[0]!);
const mirrorOf = (tenant: Tenant, stripeInvoiceId: string) => withTenant(db(), tenant.id, async (tx) => (await tx.select().from(invoices).where(eq(invoices.stripeInvoiceId, stripeInvoiceId)))[0]);
const eventsOf = (tenant: Tenant, type: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.type, type)));
const lifecycleJobs = (tenant: Tenant, subscriptionId: string) =>
  withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(and(eq(jobs.subscriptionId, subscriptionId), inArray(jobs.type, ['SUSPEND_SITE', 'TERMINATE_SITE', 'SUSPEND_MAIL', 'TERMINATE_MAIL']))));

describe('invoice events (STRIPE mode)', () => {
  it('mirrors the invoice read-only and applies it forward only, whatever the arrival order and the number of deliveries', async () => {
    const tenant = await buildTenant(db());
    // Whole seconds: Stripe's times are unix seconds.
    const paidThrough = new Date(Math.floor(Date.now() / 1000) * 1000 + 2 * DAY);
    const sub = await stripeSubscription(tenant, paidThrough);
    const period = { start: paidThrough, end: new Date(paidThrough.getTime() + 30 * DAY) };
    const draft = stripeInvoice(sub.stripeId, period, { status: 'draft', number: null });
    const open = { ...draft, status: 'open', number: 'ST-0001' };
    const paid = { ...open, status: 'paid', amount_paid: 1200, attempt_count: 1, status_transitions: { paid_at: unix(new Date()) } };
    // Stripe's current copy has the payment (webhooks do not): the PaymentIntent is read through the port.
    standin.invoices.set(draft.id, { ...paid, payments: { object: 'list', data: [{ status: 'paid', payment: { type: 'payment_intent', payment_intent: 'pi_stripe_mode_1' } }] } });

    const paidEvent = event('invoice.paid', paid);
    expect(await deliver(paidEvent)).toMatchObject({ status: 'PROCESSED', duplicate: false });
    // Older states arriving late change nothing.
    expect(await deliver(event('invoice.finalized', open))).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('older state (open)') });
    expect(await deliver(event('invoice.created', draft))).toMatchObject({ status: 'IGNORED' });
    expect(await deliver(event('invoice.payment_failed', { ...open, attempt_count: 1, next_payment_attempt: unix(new Date(Date.now() + DAY)) }))).toMatchObject({ status: 'IGNORED' });
    // The same event again, and paid again under another id: nothing moves twice.
    expect(await deliver(paidEvent)).toMatchObject({ status: 'PROCESSED', duplicate: true });
    expect(await deliver(event('invoice.paid', paid))).toMatchObject({ status: 'PROCESSED' });
    // A void cannot replace paid.
    expect(await deliver(event('invoice.voided', { ...paid, status: 'void' }))).toMatchObject({ status: 'IGNORED' });

    const mirror = await mirrorOf(tenant, draft.id);
    expect(mirror).toMatchObject({
      billingMode: 'STRIPE',
      kind: 'RENEWAL',
      status: 'PAID',
      stripeStatus: 'paid',
      number: 'ST-0001',
      currency: 'EUR',
      subtotal: 1000,
      taxTotal: 200,
      total: 1200,
      amountPaid: 1200,
      periodStart: period.start,
      periodEnd: period.end,
      hostedUrl: 'https://invoice.stripe.test/i/abc',
      pdfUrl: 'https://invoice.stripe.test/i/abc/pdf',
      stripePaymentIntentId: 'pi_stripe_mode_1',
      subscriptionId: sub.subscription.id,
    });
    expect(mirror?.paidThroughAppliedAt).not.toBeNull();
    expect(standin.requests.some((request) => request.path === `/v1/invoices/${draft.id}` && [...request.query].some(([key, value]) => key.startsWith('expand') && value === 'payments'))).toBe(true);
    const after = await subscriptionRow(tenant, sub.subscription.id);
    expect(after.paidThrough).toEqual(period.end);
    expect(after.status).toBe('ACTIVE');
    expect(await eventsOf(tenant, 'invoice.paid')).toHaveLength(1);
    const audits = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.action, 'invoice.stripe_synced'), eq(auditLogs.targetId, mirror!.id))));
    expect(audits.map((row) => (row.metadata as { paymentEventId: string }).paymentEventId)).toContain(paidEvent.id);

    // The next period's invoice, paid: paidThrough moves once more, to its end.
    const next = { start: period.end, end: new Date(period.end.getTime() + 30 * DAY) };
    const renewal = stripeInvoice(sub.stripeId, next, { status: 'paid', amount_paid: 1200, attempt_count: 1, payment_intent: 'pi_stripe_mode_2' });
    await deliver(event('invoice.paid', renewal));
    expect((await subscriptionRow(tenant, sub.subscription.id)).paidThrough).toEqual(next.end);
    // ...and the first period's invoice paid again later does not move it back.
    await deliver(event('invoice.paid', paid));
    expect((await subscriptionRow(tenant, sub.subscription.id)).paidThrough).toEqual(next.end);
  });

  it('an event of the other livemode is recorded IGNORED and changes nothing', async () => {
    const tenant = await buildTenant(db());
    const sub = await stripeSubscription(tenant, new Date(Date.now() + DAY));
    const invoice = stripeInvoice(sub.stripeId, { start: new Date(), end: new Date(Date.now() + 30 * DAY) }, { status: 'paid', amount_paid: 1200 });
    const live = event('invoice.paid', invoice, { livemode: true });
    expect(await deliver(live)).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('live-mode event') });
    expect(await mirrorOf(tenant, invoice.id)).toBeUndefined();
    const [row] = await db().select().from(webhookEvents).where(eq(webhookEvents.eventId, live.id));
    expect(row?.status).toBe('IGNORED');
  });
});

describe('failed payment → PAST_DUE → suspension (STRIPE mode)', () => {
  it('moves to PAST_DUE through the state machine, never suspends while Stripe has a retry scheduled, and suspends at +7 days once it has none', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = new Date(Date.now() - 8 * DAY);
    const sub = await stripeSubscription(tenant, paidThrough);
    const period = { start: paidThrough, end: new Date(paidThrough.getTime() + 30 * DAY) };
    const invoice = stripeInvoice(sub.stripeId, period, { attempt_count: 1, next_payment_attempt: unix(new Date(Date.now() + 2 * DAY)) });
    const failed = event('invoice.payment_failed', invoice);
    expect(await deliver(failed)).toMatchObject({ status: 'PROCESSED' });

    let row = await subscriptionRow(tenant, sub.subscription.id);
    expect(row.status).toBe('PAST_DUE');
    expect(row.statusReason).toMatchObject({ event: 'past_due', paymentEventId: failed.id, rule: 'stripe.invoice.payment_failed', actorType: 'WEBHOOK' });
    expect(await eventsOf(tenant, 'payment.failed')).toHaveLength(1);
    expect(await eventsOf(tenant, 'subscription.past_due')).toHaveLength(1);

    const deps = { db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 };
    // +8 days, but Stripe retries in 2 days: deferred, nothing created.
    const first = await runBilling(deps, { asOf: new Date(), tenantId: tenant.id, trigger: 'test' });
    expect(first.actions).toEqual([expect.objectContaining({ subscriptionId: sub.subscription.id, action: 'suspend', outcome: 'DEFERRED', detail: expect.stringContaining('Stripe retries') })]);
    expect(await lifecycleJobs(tenant, sub.subscription.id)).toEqual([]);

    // An older failure (attempt 0) arriving late does not bring a retry back.
    expect(await deliver(event('invoice.payment_failed', { ...invoice, attempt_count: 0 }))).toMatchObject({ status: 'IGNORED' });
    // The retries are over: Stripe marks it uncollectible (no next_payment_attempt).
    expect(await deliver(event('invoice.marked_uncollectible', { ...invoice, status: 'uncollectible', attempt_count: 4, next_payment_attempt: null }))).toMatchObject({ status: 'PROCESSED' });
    const second = await runBilling(deps, { asOf: new Date(), tenantId: tenant.id, trigger: 'test' });
    expect(second.actions).toEqual([expect.objectContaining({ action: 'suspend', outcome: 'DONE', rule: 'stripe.suspend+7' })]);
    const suspension = await lifecycleJobs(tenant, sub.subscription.id);
    expect(suspension.map((job) => job.type)).toContain('SUSPEND_SITE');
    // A second run at once creates no second suspension.
    const third = await runBilling(deps, { asOf: new Date(), tenantId: tenant.id, trigger: 'test' });
    expect(third.actions.filter((action) => action.outcome === 'DONE')).toEqual([]);
    expect(await lifecycleJobs(tenant, sub.subscription.id)).toHaveLength(suspension.length);
    row = await subscriptionRow(tenant, sub.subscription.id);
    expect(['PAST_DUE', 'SUSPENDED']).toContain(row.status);
  });

  it('does not suspend before +7 days even with no retry scheduled', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = new Date(Date.now() - 3 * DAY);
    const sub = await stripeSubscription(tenant, paidThrough);
    await deliver(event('invoice.payment_failed', stripeInvoice(sub.stripeId, { start: paidThrough, end: new Date(paidThrough.getTime() + 30 * DAY) }, { attempt_count: 1 })));
    expect((await subscriptionRow(tenant, sub.subscription.id)).status).toBe('PAST_DUE');
    const report = await runBilling({ db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 }, { asOf: new Date(), tenantId: tenant.id, trigger: 'test' });
    expect(report.actions).toEqual([]);
    expect(await lifecycleJobs(tenant, sub.subscription.id)).toEqual([]);
  });
});

describe('disputes, refunds and subscription events (STRIPE mode)', () => {
  it('a dispute flags the subscription, raises the admin alert and terminates nothing; closing it clears the flag', async () => {
    const tenant = await buildTenant(db());
    const sub = await stripeSubscription(tenant, new Date(Date.now() + DAY));
    const pi = `pi_${hex()}`;
    await deliver(event('invoice.paid', stripeInvoice(sub.stripeId, { start: new Date(), end: new Date(Date.now() + 30 * DAY) }, { status: 'paid', amount_paid: 1200, payment_intent: pi })));
    const dispute = { id: `dp_${hex()}`, object: 'dispute', charge: `ch_${hex()}`, payment_intent: pi, amount: 1200, currency: 'eur', status: 'needs_response', reason: 'fraudulent' };
    const opened = event('charge.dispute.created', dispute);
    expect(await deliver(opened)).toMatchObject({ status: 'PROCESSED' });
    const row = await subscriptionRow(tenant, sub.subscription.id);
    expect(row.disputedAt).not.toBeNull();
    expect(row.status).toBe('ACTIVE');
    const alerts = await eventsOf(tenant, 'dispute.opened');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.payload).toMatchObject({ subscriptionId: sub.subscription.id, disputeId: dispute.id, reason: 'fraudulent', amount: { amount: 1200, currency: 'EUR' } });
    expect(await lifecycleJobs(tenant, sub.subscription.id)).toEqual([]);
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.action, 'subscription.disputed'), eq(auditLogs.targetId, sub.subscription.id))));
    expect(audit[0]?.metadata).toMatchObject({ paymentEventId: opened.id });

    expect(await deliver(event('charge.dispute.closed', { ...dispute, status: 'won' }))).toMatchObject({ status: 'PROCESSED' });
    expect((await subscriptionRow(tenant, sub.subscription.id)).disputedAt).toBeNull();
    expect(await eventsOf(tenant, 'dispute.closed')).toHaveLength(1);
    expect(await lifecycleJobs(tenant, sub.subscription.id)).toEqual([]);
  });

  it('a refund is mirrored on the Stripe invoice, only upwards', async () => {
    const tenant = await buildTenant(db());
    const sub = await stripeSubscription(tenant, new Date(Date.now() + DAY));
    const pi = `pi_${hex()}`;
    const invoice = stripeInvoice(sub.stripeId, { start: new Date(), end: new Date(Date.now() + 30 * DAY) }, { status: 'paid', amount_paid: 1200, payment_intent: pi });
    await deliver(event('invoice.paid', invoice));
    const charge = { id: `ch_${hex()}`, object: 'charge', payment_intent: pi, amount: 1200, currency: 'eur', refunded: false };
    expect(await deliver(event('charge.refunded', { ...charge, amount_refunded: 500 }))).toMatchObject({ status: 'PROCESSED' });
    expect(await deliver(event('charge.refunded', { ...charge, amount_refunded: 300 }))).toMatchObject({ status: 'IGNORED' });
    expect((await mirrorOf(tenant, invoice.id))?.amountRefunded).toBe(500);
    expect(await eventsOf(tenant, 'payment.refunded')).toHaveLength(1);
  });

  it('subscription events: an older period is ignored, canceled is final, and the run suspends (CANCELLED) when the paid period ends', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = new Date(Date.now() - DAY);
    const sub = await stripeSubscription(tenant, paidThrough);
    const object = (periodEnd: Date, fields: Record<string, unknown> = {}) => ({
      id: sub.stripeId,
      object: 'subscription',
      status: 'active',
      customer: `cus_${hex()}`,
      cancel_at_period_end: false,
      canceled_at: null,
      items: { object: 'list', data: [{ id: `si_${hex()}`, current_period_end: unix(periodEnd) }] },
      ...fields,
    });
    expect(await deliver(event('customer.subscription.updated', object(new Date(Date.now() + 30 * DAY))))).toMatchObject({ status: 'PROCESSED' });
    expect(await deliver(event('customer.subscription.updated', object(paidThrough, { status: 'past_due' })))).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('older state') });
    expect((await subscriptionRow(tenant, sub.subscription.id)).stripeStatus).toBe('active');
    expect(await deliver(event('customer.subscription.deleted', object(new Date(Date.now() + 30 * DAY), { status: 'canceled', canceled_at: unix(new Date()) })))).toMatchObject({ status: 'PROCESSED' });
    expect(await deliver(event('customer.subscription.updated', object(new Date(Date.now() + 30 * DAY))))).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('canceled') });
    const row = await subscriptionRow(tenant, sub.subscription.id);
    expect(row).toMatchObject({ stripeStatus: 'canceled', cancelAtPeriodEnd: true, status: 'ACTIVE' });

    const report = await runBilling({ db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 }, { asOf: new Date(), tenantId: tenant.id, trigger: 'test' });
    expect(report.actions).toEqual([expect.objectContaining({ action: 'cancel_suspend', outcome: 'DONE' })]);
    const suspension = await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(and(eq(jobs.subscriptionId, sub.subscription.id), eq(jobs.type, 'SUSPEND_SITE'))));
    expect(suspension).toHaveLength(1);
  });

  it('a subscription Stripe cancelled is terminated once the retention after its paid period is over, not before; a STAFF suspension is left to staff', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = new Date(Date.now() - 10 * DAY);
    const billing = (asOf: Date, dryRun = false) => runBilling({ db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 }, { asOf, tenantId: tenant.id, trigger: 'test', dryRun });
    const terminations = (subscriptionId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(and(eq(jobs.subscriptionId, subscriptionId), eq(jobs.type, 'TERMINATE_SITE'))));
    // As the worker leaves them after the cancellation's suspension (CANCELLED), after a non-payment
    // suspension Stripe then cancelled (its retries spent), and after staff suspended one.
    const suspended = async (suspensionReason: 'CANCELLED' | 'NON_PAYMENT' | 'STAFF') => {
      const sub = await stripeSubscription(tenant, paidThrough);
      await withTenant(db(), tenant.id, (tx) => tx.update(subscriptions).set({ status: 'SUSPENDED', suspensionReason, stripeStatus: 'canceled' }).where(eq(subscriptions.id, sub.subscription.id)));
      return sub.subscription.id;
    };
    const cancelled = await suspended('CANCELLED');
    const unpaid = await suspended('NON_PAYMENT');
    const byStaff = await suspended('STAFF');

    // The tenant's default retention is 30 days from paidThrough: day 29 does nothing.
    expect((await billing(new Date(paidThrough.getTime() + 29 * DAY))).actions).toEqual([]);
    const due = new Date(paidThrough.getTime() + 30 * DAY);
    const dry = await billing(due, true);
    expect(dry.actions).toHaveLength(2);
    expect(await terminations(cancelled)).toEqual([]);

    const report = await billing(due);
    expect(report.actions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subscriptionId: cancelled, action: 'cancel_terminate', outcome: 'DONE', rule: 'stripe.cancel.retention' }),
        expect.objectContaining({ subscriptionId: unpaid, action: 'cancel_terminate', outcome: 'DONE', rule: 'stripe.cancel.retention' }),
      ]),
    );
    expect(report.actions).toHaveLength(2);
    expect(await terminations(cancelled)).toHaveLength(1);
    expect(await terminations(unpaid)).toHaveLength(1);
    expect(await terminations(byStaff)).toEqual([]);
    // A second run while the termination is in progress plans no second one.
    const again = await billing(due);
    expect(again.actions.every((action) => action.outcome === 'DEFERRED')).toBe(true);
    expect(await terminations(cancelled)).toHaveLength(1);
  });
});

describe('an mPanel invoice paid through Stripe Checkout (portal → stand-in → signed webhook)', () => {
  it('pays the invoice once and moves paidThrough by one period; a refund becomes a credit note', async () => {
    const tenant = await buildTenant(db());
    const built = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
    const paidThrough = new Date(Date.now() + 5 * DAY);
    const periodEnd = new Date(paidThrough.getTime() + 30 * DAY);
    const invoice = await withTenant(db(), tenant.id, async (tx) => {
      await tx.update(subscriptions).set({ paidThrough }).where(eq(subscriptions.id, built.subscription.id));
      const draft = await createDraftInvoice(
        tx,
        tenant.id,
        { customerId: built.customer.id, subscriptionId: built.subscription.id, currency: 'EUR', kind: 'RENEWAL', periodStart: paidThrough, periodEnd, dueAt: paidThrough, lines: [{ description: 'Renewal', quantity: 1, unitAmount: 1500 }] },
        systemActor,
      );
      return issueInvoice(tx, tenant.id, draft.id, systemActor);
    });
    const login = await buildCustomerLogin(db(), tenant, built.customer);
    const headers = await customerAuthHeader(t.env, db(), login);

    const reply = await t.app.inject({ method: 'POST', url: `/api/portal/invoices/${invoice.id}/checkout`, headers });
    expect(reply.statusCode, reply.body).toBe(200);
    const checkout = reply.json<{ url: string; sessionId: string; provider: string }>();
    expect(checkout).toMatchObject({ invoiceId: invoice.id, provider: 'stripe_checkout', url: expect.stringContaining(`${standin.base}/pay/`) });
    const created = standin.requests.find((request) => request.method === 'POST' && request.path === '/v1/checkout/sessions' && (request.body.metadata as Record<string, string>).mpanel_invoice_id === invoice.id);
    expect(created?.body).toMatchObject({
      mode: 'payment',
      metadata: { mpanel_tenant: tenant.slug, mpanel_invoice_id: invoice.id },
      line_items: [{ quantity: '1', price_data: { currency: 'eur', unit_amount: '1500' } }],
      success_url: expect.stringContaining(invoice.id),
    });
    expect(created?.idempotencyKey).toContain(invoice.id);
    // Asked again: the same session (same idempotency key).
    const again = await t.app.inject({ method: 'POST', url: `/api/portal/invoices/${invoice.id}/checkout`, headers });
    expect(standin.requests.filter((request) => request.path === '/v1/checkout/sessions').at(-1)?.idempotencyKey).toBe(created?.idempotencyKey);
    expect(again.statusCode).toBe(200);

    // The customer pays; Stripe sends checkout.session.completed (twice, and once more under another id).
    const session = standin.completeSession(checkout.sessionId);
    const completed = event('checkout.session.completed', session);
    expect(await deliver(completed)).toMatchObject({ status: 'PROCESSED', duplicate: false });
    expect(await deliver(completed)).toMatchObject({ duplicate: true });
    expect(await deliver(event('checkout.session.completed', session))).toMatchObject({ status: 'IGNORED', error: expect.stringContaining('already recorded') });

    const [paid] = await withTenant(db(), tenant.id, (tx) => tx.select().from(invoices).where(eq(invoices.id, invoice.id)));
    expect(paid).toMatchObject({ status: 'PAID', amountPaid: 1500 });
    expect((await subscriptionRow(tenant, built.subscription.id)).paidThrough).toEqual(periodEnd);
    const recorded = await withTenant(db(), tenant.id, (tx) => tx.select().from(payments).where(eq(payments.invoiceId, invoice.id)));
    expect(recorded).toEqual([expect.objectContaining({ source: 'STRIPE', reference: session.payment_intent, amount: 1500, currency: 'EUR' })]);

    // Paid now: 409; another customer's invoice: 404.
    expect((await t.app.inject({ method: 'POST', url: `/api/portal/invoices/${invoice.id}/checkout`, headers })).statusCode).toBe(409);
    const other = await buildOrder(db(), tenant, {});
    const otherHeaders = await customerAuthHeader(t.env, db(), await buildCustomerLogin(db(), tenant, other.customer));
    expect((await t.app.inject({ method: 'POST', url: `/api/portal/invoices/${invoice.id}/checkout`, headers: otherHeaders })).statusCode).toBe(404);

    // A partial refund in Stripe: a credit note for it, once.
    const charge = { id: `ch_${hex()}`, object: 'charge', payment_intent: session.payment_intent, amount: 1500, amount_refunded: 400, currency: 'eur' };
    expect(await deliver(event('charge.refunded', charge))).toMatchObject({ status: 'PROCESSED' });
    expect(await deliver(event('charge.refunded', charge))).toMatchObject({ status: 'IGNORED' });
    const notes = await withTenant(db(), tenant.id, (tx) => tx.select().from(creditNotes).where(eq(creditNotes.invoiceId, invoice.id)));
    expect(notes).toEqual([expect.objectContaining({ total: 400, currency: 'EUR' })]);
  });

  it('answers 503 when Stripe refuses, and changes nothing', async () => {
    const broken = await createTestApp({ env: { STRIPE_API_BASE: standin.base, STRIPE_API_KEY: 'sk_test_wrong_key' } });
    try {
      const tenant = await buildTenant(db());
      const built = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
      const invoice = await withTenant(db(), tenant.id, async (tx) => {
        const draft = await createDraftInvoice(tx, tenant.id, { customerId: built.customer.id, currency: 'EUR', lines: [{ description: 'Setup', quantity: 1, unitAmount: 900 }] }, systemActor);
        return issueInvoice(tx, tenant.id, draft.id, systemActor);
      });
      const headers = await customerAuthHeader(broken.env, db(), await buildCustomerLogin(db(), tenant, built.customer));
      const reply = await broken.app.inject({ method: 'POST', url: `/api/portal/invoices/${invoice.id}/checkout`, headers });
      expect(reply.statusCode, reply.body).toBe(503);
      const [row] = await withTenant(db(), tenant.id, (tx) => tx.select().from(invoices).where(eq(invoices.id, invoice.id)));
      expect(row?.status).toBe('ISSUED');
    } finally {
      await broken.close();
    }
  });
});
