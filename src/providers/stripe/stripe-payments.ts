import type Stripe from 'stripe';
import { invoiceOf, subscriptionOf } from './stripe-objects.js';
import { INVOICE_CHECKOUT_METADATA, PaymentProviderError, StripePayloadError, type HostedCheckout, type InvoiceCheckoutRequest, type PaymentPort, type StripeInvoice, type StripeSubscription } from './stripe.port.js';

export interface StripePaymentsSettings {
  readonly apiKey: string;
  /** Scheme, host and port the SDK sends requests to (STRIPE_API_BASE): https://api.stripe.com, or a loopback stand-in. */
  readonly apiBase: string;
  readonly timeoutMs?: number;
}

/**
 * The payment port on the real Stripe SDK. The SDK's `host`, `port` and `protocol` options point
 * it at STRIPE_API_BASE; answers are read through stripe-objects.ts, so a field Stripe moved or a
 * status it added is a PaymentProviderError here, not a crash in a handler.
 */
export class StripePayments implements PaymentPort {
  /** The SDK, loaded and configured at the first call, not at start-up (~21 MB of RSS). */
  private client: Promise<{ sdk: typeof Stripe; stripe: Stripe }> | null = null;

  constructor(private readonly settings: StripePaymentsSettings) {}

  private connect(): Promise<{ sdk: typeof Stripe; stripe: Stripe }> {
    const { settings } = this;
    this.client ??= import('stripe').then(({ default: sdk }) => {
      const base = new URL(settings.apiBase);
      const protocol = base.protocol === 'http:' ? 'http' : 'https';
      const stripe = new sdk(settings.apiKey, {
        host: base.hostname,
        port: base.port || (protocol === 'http' ? 80 : 443),
        protocol,
        timeout: settings.timeoutMs ?? 20_000,
        // One retry on a network error or a 409/5xx, with the same idempotency key (the SDK's rule).
        maxNetworkRetries: 1,
        telemetry: false,
        appInfo: { name: 'mPanel' },
      });
      return { sdk, stripe };
    });
    return this.client;
  }

  async retrieveSubscription(id: string): Promise<StripeSubscription> {
    return this.call(`retrieve subscription ${id}`, async (stripe) => subscriptionOf(await stripe.subscriptions.retrieve(id)));
  }

  async retrieveInvoice(id: string): Promise<StripeInvoice> {
    // `payments` is not in the invoice unless expanded: it names the PaymentIntent that paid it.
    return this.call(`retrieve invoice ${id}`, async (stripe) => invoiceOf(await stripe.invoices.retrieve(id, { expand: ['payments'] })));
  }

  async createInvoiceCheckout(request: InvoiceCheckoutRequest): Promise<HostedCheckout> {
    const metadata = { [INVOICE_CHECKOUT_METADATA.tenant]: request.tenantSlug, [INVOICE_CHECKOUT_METADATA.invoiceId]: request.invoiceId };
    return this.call(`create a Checkout Session for invoice ${request.invoiceNumber}`, async (stripe) => {
      const session = await stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: [{ quantity: 1, price_data: { currency: request.currency.toLowerCase(), unit_amount: request.amount, product_data: { name: `Invoice ${request.invoiceNumber}` } } }],
          ...(request.stripeCustomerId ? { customer: request.stripeCustomerId } : { customer_email: request.customerEmail }),
          client_reference_id: request.invoiceId,
          success_url: request.successUrl,
          cancel_url: request.cancelUrl,
          metadata,
          // The PaymentIntent carries them too: refunds and disputes name the PaymentIntent.
          payment_intent_data: { metadata },
        },
        { idempotencyKey: request.idempotencyKey },
      );
      if (!session.url) throw new PaymentProviderError('Stripe answered a Checkout Session without a url', null);
      return { sessionId: session.id, url: session.url, expiresAt: session.expires_at ? new Date(session.expires_at * 1000) : null };
    });
  }

  private async call<T>(what: string, run: (stripe: Stripe) => Promise<T>): Promise<T> {
    const { sdk, stripe } = await this.connect();
    try {
      return await run(stripe);
    } catch (error) {
      if (error instanceof PaymentProviderError) throw error;
      if (error instanceof sdk.errors.StripeError) {
        throw new PaymentProviderError(`Stripe could not ${what}: ${error.message}`, error.statusCode ?? null, { cause: error });
      }
      if (error instanceof StripePayloadError) {
        throw new PaymentProviderError(`Stripe's answer to "${what}" is not what mPanel reads: ${error.message}`, null, { cause: error });
      }
      throw error;
    }
  }
}
