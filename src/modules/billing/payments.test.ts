import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invoices, jobs, payments, subscriptions, type SubscriptionStatus, type SuspensionReason, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { systemActor } from '../audit/audit.service.js';
import { signMarketingPayload } from '../orders/marketing-signature.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildOrder, buildTenant, buildUser } from '../../../test/factories.js';
import { createDraftInvoice, issueInvoice } from './invoices.service.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});
const db = () => t.container.database.db;
const DAY = 86_400_000;

/** A subscription paid through `paidThrough`, with an issued invoice for the next month (or the given period). */
async function setup(options: { status?: SubscriptionStatus; suspensionReason?: SuspensionReason; kind?: 'RENEWAL' | 'INITIAL'; overdue?: boolean } = {}) {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role: 'BILLING' });
  const built = await buildOrder(db(), tenant, { subscriptionStatus: options.status ?? 'ACTIVE' });
  const paidThrough = new Date(Date.now() + (options.overdue ? -3 : 10) * DAY);
  const periodStart = options.kind === 'INITIAL' ? new Date(paidThrough.getTime() - 30 * DAY) : paidThrough;
  const periodEnd = options.kind === 'INITIAL' ? paidThrough : new Date(paidThrough.getTime() + 30 * DAY);
  const invoice = await withTenant(db(), tenant.id, async (tx) => {
    await tx.update(subscriptions).set({ paidThrough, suspensionReason: options.suspensionReason ?? null }).where(eq(subscriptions.id, built.subscription.id));
    const draft = await createDraftInvoice(
      tx,
      tenant.id,
      { customerId: built.customer.id, subscriptionId: built.subscription.id, currency: 'USD', kind: options.kind ?? 'RENEWAL', periodStart, periodEnd, dueAt: paidThrough, lines: [{ description: 'Renewal', quantity: 1, unitAmount: 999 }] },
      systemActor,
    );
    return issueInvoice(tx, tenant.id, draft.id, systemActor, new Date(paidThrough.getTime() - 14 * DAY));
  });
  return { tenant, subscription: built.subscription, invoice, periodEnd, paidThrough, headers: await authHeader(t.env, user) };
}

function signed(payload: unknown) {
  const body = JSON.stringify(payload);
  return t.app.inject({ method: 'POST', url: '/api/payments', headers: { 'content-type': 'application/json', 'x-mpanel-signature': signMarketingPayload(t.env.MARKETING_WEBHOOK_SECRET, body) }, payload: body });
}

const subscriptionOf = (tenant: Tenant, id: string) => withTenant(db(), tenant.id, async (tx) => (await tx.select().from(subscriptions).where(eq(subscriptions.id, id)))[0]!);

describe('POST /api/payments (signed, idempotent)', () => {
  it('peer failure 1: 10 concurrent deliveries and a staff payment extend paidThrough by exactly one period, once', async () => {
    const s = await setup();
    const body = { tenant: s.tenant.slug, invoiceId: s.invoice.id, reference: 'pi_123', amount: 999, currency: 'USD' };
    const unsigned = await t.app.inject({ method: 'POST', url: '/api/payments', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    expect(unsigned.statusCode).toBe(401);

    const replies = await Promise.all(Array.from({ length: 10 }, () => signed(body)));
    expect(replies.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(replies.map((r) => r.json<{ id: string }>().id)).size).toBe(1);
    expect(replies[0]!.json()).toMatchObject({ invoiceStatus: 'PAID', subscriptionPaidThrough: s.periodEnd.toISOString() });

    const staff = await t.app.inject({ method: 'POST', url: `/api/invoices/${s.invoice.id}/payments`, headers: { ...s.headers, 'content-type': 'application/json' }, payload: JSON.stringify({ amount: 999, currency: 'USD', reference: 'bank-1' }) });
    expect(staff.statusCode).toBe(409);
    expect((await signed({ ...body, amount: 5 })).statusCode).toBe(409);

    const sub = await subscriptionOf(s.tenant, s.subscription.id);
    expect(sub.paidThrough?.toISOString()).toBe(s.periodEnd.toISOString());
    const rows = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(payments));
    expect(rows).toHaveLength(1);
  });

  it('peer failure 3: paying the first invoice does not double the period', async () => {
    const s = await setup({ kind: 'INITIAL' });
    expect((await signed({ tenant: s.tenant.slug, invoiceId: s.invoice.id, reference: 'pi_first', amount: 999, currency: 'USD' })).statusCode).toBe(201);
    const sub = await subscriptionOf(s.tenant, s.subscription.id);
    expect(sub.paidThrough?.toISOString()).toBe(s.paidThrough.toISOString());
  });
});

describe('staff payment and recovery', () => {
  it('PAST_DUE → ACTIVE once the overdue invoice is paid, partial payments add up', async () => {
    const s = await setup({ status: 'PAST_DUE', overdue: true });
    const pay = (reference: string, amount: number) =>
      t.app.inject({ method: 'POST', url: `/api/invoices/${s.invoice.id}/payments`, headers: { ...s.headers, 'content-type': 'application/json' }, payload: JSON.stringify({ amount, currency: 'USD', reference }) });
    expect((await pay('bank-1', 500)).json()).toMatchObject({ invoiceStatus: 'ISSUED' });
    expect((await subscriptionOf(s.tenant, s.subscription.id)).status).toBe('PAST_DUE');
    expect((await pay('bank-2', 499)).statusCode).toBe(201);
    const sub = await subscriptionOf(s.tenant, s.subscription.id);
    expect(sub).toMatchObject({ status: 'ACTIVE', statusReason: { event: 'recovered', invoiceId: s.invoice.id } });
  });

  it('peer failure 9: a NON_PAYMENT suspension is lifted by the payment (UNSUSPEND_SITE job); a STAFF one is not', async () => {
    for (const reason of ['NON_PAYMENT', 'STAFF'] as const) {
      const s = await setup({ status: 'SUSPENDED', suspensionReason: reason, overdue: true });
      expect((await signed({ tenant: s.tenant.slug, invoiceId: s.invoice.id, reference: `pi_${reason}`, amount: 999, currency: 'USD' })).statusCode).toBe(201);
      const lifecycle = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.type, 'UNSUSPEND_SITE')));
      expect(lifecycle, reason).toHaveLength(reason === 'NON_PAYMENT' ? 1 : 0);
      const [invoice] = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(invoices).where(eq(invoices.id, s.invoice.id)));
      expect(invoice?.status).toBe('PAID');
    }
  });
});
