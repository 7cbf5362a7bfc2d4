import { and, eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { customers, invoices, tenants } from '../../db/schema/index.js';
import { withCustomer } from '../../db/tenant-tx.js';
import { PaymentProviderError, type PaymentPort } from '../../providers/stripe/stripe.port.js';
import { AppError, conflict, notFound } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { CustomerAuthContext } from '../customer-auth/customer-auth-context.js';
import type { InvoiceCheckout } from './portal-payments.types.js';

export interface PortalPaymentDeps {
  readonly db: Database;
  readonly payments: PaymentPort;
  /** STRIPE_CHECKOUT_SUCCESS_URL / _CANCEL_URL; `{invoice}` is replaced by the invoice id. */
  readonly successUrl: string;
  readonly cancelUrl: string;
}

/**
 * POST /api/portal/invoices/:id/checkout: a hosted payment page for one of the customer's own
 * ISSUED invoices (404 for anyone else's, 409 for a draft, paid or void one). An mPanel invoice
 * gets a Stripe Checkout Session (mode payment) for what is still due, whose metadata names the
 * tenant and the invoice: its checkout.session.completed event records the payment
 * (payment-events/stripe-billing.ts). A STRIPE-mode invoice is paid on Stripe's own hosted page.
 */
export async function createInvoiceCheckout(deps: PortalPaymentDeps, auth: CustomerAuthContext, invoiceId: string, actor: AuditActor): Promise<InvoiceCheckout> {
  const found = await withCustomer(deps.db, auth.tenantId, auth.customerId, async (tx) => {
    const [invoice] = await tx
      .select()
      .from(invoices)
      .where(and(eq(invoices.id, invoiceId), eq(invoices.customerId, auth.customerId)));
    if (!invoice || invoice.status === 'DRAFT') throw notFound('Invoice');
    if (invoice.status !== 'ISSUED') throw conflict(`This invoice is ${invoice.status}: only an issued invoice can be paid`);
    const [customer] = await tx.select({ email: customers.email, stripeCustomerId: customers.stripeCustomerId }).from(customers).where(eq(customers.id, auth.customerId));
    const [tenant] = await tx.select({ slug: tenants.slug }).from(tenants).where(eq(tenants.id, auth.tenantId));
    if (!customer || !tenant) throw notFound('Invoice');
    return { invoice, customer, tenant };
  });
  const { invoice, customer, tenant } = found;

  if (invoice.billingMode === 'STRIPE') {
    if (!invoice.hostedUrl) throw conflict('Stripe has not published a payment page for this invoice yet');
    return { invoiceId: invoice.id, url: invoice.hostedUrl, provider: 'stripe_invoice', sessionId: null, expiresAt: null };
  }
  const due = invoice.total - invoice.amountPaid;
  if (due <= 0) throw conflict('Nothing is due on this invoice');
  const fill = (template: string) => template.replaceAll('{invoice}', invoice.id);
  let checkout;
  try {
    checkout = await deps.payments.createInvoiceCheckout({
      tenantSlug: tenant.slug,
      tenantId: auth.tenantId,
      invoiceId: invoice.id,
      invoiceNumber: invoice.number ?? invoice.id,
      amount: due,
      currency: invoice.currency,
      customerEmail: customer.email,
      stripeCustomerId: customer.stripeCustomerId,
      successUrl: fill(deps.successUrl),
      cancelUrl: fill(deps.cancelUrl),
      // One session per invoice, amount and day: asking twice gives the same page.
      idempotencyKey: `mpanel-invoice-checkout-${invoice.id}-${due}-${new Date().toISOString().slice(0, 10)}`,
    });
  } catch (error) {
    if (error instanceof PaymentProviderError) throw new AppError('DEPENDENCY_UNAVAILABLE', 'The payment provider could not create a payment page; try again later', { cause: error });
    throw error;
  }
  await withCustomer(deps.db, auth.tenantId, auth.customerId, (tx) =>
    recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'invoice.checkout_created',
      targetType: 'invoice',
      targetId: invoice.id,
      after: { sessionId: checkout.sessionId, amount: due, currency: invoice.currency },
    }),
  );
  return { invoiceId: invoice.id, url: checkout.url, provider: 'stripe_checkout', sessionId: checkout.sessionId, expiresAt: checkout.expiresAt?.toISOString() ?? null };
}
