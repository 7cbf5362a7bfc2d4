import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStripeStandin, type StripeStandin } from '../../../test/helpers/stripe-standin.js';
import { StripePayments } from './stripe-payments.js';
import { PaymentProviderError } from './stripe.port.js';

// The payment port's adapter: the real SDK, pointed at the loopback stand-in by STRIPE_API_BASE.

let standin: StripeStandin;
let port: StripePayments;
beforeAll(async () => {
  standin = await startStripeStandin();
  port = new StripePayments({ apiKey: standin.apiKey, apiBase: standin.base });
});
afterAll(() => standin.close());

describe('StripePayments (SDK → loopback stand-in)', () => {
  it('reads a subscription into our own type (period per item, as the current API has it)', async () => {
    standin.subscriptions.set('sub_port_1', {
      id: 'sub_port_1',
      object: 'subscription',
      status: 'past_due',
      customer: { id: 'cus_port_1', object: 'customer' },
      cancel_at_period_end: true,
      canceled_at: null,
      items: { object: 'list', data: [{ id: 'si_1', current_period_end: 1_800_000_000 }, { id: 'si_2', current_period_end: 1_800_000_100 }] },
    });
    expect(await port.retrieveSubscription('sub_port_1')).toEqual({
      id: 'sub_port_1',
      status: 'past_due',
      stripeCustomerId: 'cus_port_1',
      currentPeriodEnd: new Date(1_800_000_100_000),
      cancelAtPeriodEnd: true,
      canceledAt: null,
    });
    expect(standin.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/subscriptions/sub_port_1' });
  });

  it('reads an invoice, with its PaymentIntent from the expanded payments', async () => {
    standin.invoices.set('in_port_1', {
      id: 'in_port_1',
      object: 'invoice',
      status: 'paid',
      number: 'ST-9',
      currency: 'usd',
      total: 1100,
      amount_paid: 1100,
      total_taxes: [{ amount: 100 }],
      period_start: 1_700_000_000,
      period_end: 1_700_000_000,
      created: 1_700_000_000,
      attempt_count: 1,
      next_payment_attempt: null,
      parent: { subscription_details: { subscription: 'sub_port_1' } },
      lines: { data: [{ period: { start: 1_700_000_000, end: 1_702_592_000 } }] },
      payments: { data: [{ status: 'paid', payment: { payment_intent: 'pi_port_1' } }] },
      hosted_invoice_url: 'https://invoice.stripe.test/x',
      invoice_pdf: null,
    });
    expect(await port.retrieveInvoice('in_port_1')).toMatchObject({
      status: 'paid',
      currency: 'USD',
      subtotal: 1000,
      taxTotal: 100,
      total: 1100,
      periodEnd: new Date(1_702_592_000_000),
      stripeSubscriptionId: 'sub_port_1',
      paymentIntentId: 'pi_port_1',
    });
  });

  it("turns Stripe's errors into PaymentProviderError with the status: unknown id 404, wrong key 401", async () => {
    await expect(port.retrieveInvoice('in_missing')).rejects.toMatchObject({ name: 'PaymentProviderError', status: 404 });
    const wrongKey = new StripePayments({ apiKey: 'sk_test_wrong', apiBase: standin.base });
    await expect(wrongKey.retrieveSubscription('sub_port_1')).rejects.toBeInstanceOf(PaymentProviderError);
    await expect(wrongKey.retrieveSubscription('sub_port_1')).rejects.toMatchObject({ status: 401 });
  });

  it('an answer mPanel cannot read is a PaymentProviderError, not a crash later', async () => {
    standin.invoices.set('in_port_odd', { id: 'in_port_odd', object: 'invoice', status: 'unheard_of', currency: 'usd' });
    await expect(port.retrieveInvoice('in_port_odd')).rejects.toThrow(/not what mPanel reads/);
  });

  it('creates a Checkout Session (mode payment) naming the tenant and the invoice, with the idempotency key', async () => {
    const checkout = await port.createInvoiceCheckout({
      tenantSlug: 'acme',
      tenantId: '00000000-0000-4000-8000-000000000001',
      invoiceId: '00000000-0000-4000-8000-000000000002',
      invoiceNumber: 'INV-2026-000001',
      amount: 2500,
      currency: 'EUR',
      customerEmail: 'payer@example.test',
      stripeCustomerId: null,
      successUrl: 'http://127.0.0.1/portal/ok',
      cancelUrl: 'http://127.0.0.1/portal/cancel',
      idempotencyKey: 'key-1',
    });
    expect(checkout.url).toBe(`${standin.base}/pay/${checkout.sessionId}`);
    const request = standin.requests.at(-1);
    expect(request).toMatchObject({ method: 'POST', path: '/v1/checkout/sessions', idempotencyKey: 'key-1' });
    expect(request?.body).toMatchObject({
      mode: 'payment',
      customer_email: 'payer@example.test',
      client_reference_id: '00000000-0000-4000-8000-000000000002',
      metadata: { mpanel_tenant: 'acme', mpanel_invoice_id: '00000000-0000-4000-8000-000000000002' },
      payment_intent_data: { metadata: { mpanel_tenant: 'acme', mpanel_invoice_id: '00000000-0000-4000-8000-000000000002' } },
      line_items: [{ quantity: '1', price_data: { currency: 'eur', unit_amount: '2500', product_data: { name: 'Invoice INV-2026-000001' } } }],
    });
  });
});
