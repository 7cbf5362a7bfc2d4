import { z } from 'zod';

export const invoiceCheckout = z
  .object({
    invoiceId: z.uuid(),
    url: z.string().meta({ description: 'Send the customer here to pay' }),
    provider: z.enum(['stripe_checkout', 'stripe_invoice']).meta({ description: "stripe_checkout: a Checkout Session for an mPanel invoice; stripe_invoice: Stripe's own page for a STRIPE-mode invoice" }),
    sessionId: z.string().nullable(),
    expiresAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'PortalInvoiceCheckout' });
export type InvoiceCheckout = z.output<typeof invoiceCheckout>;
