import { z } from 'zod';
import { localeTag } from '../../shared/locale.js';
import { jobStatuses } from '../../db/schema/index.js';
import { domainName } from '../../shared/domain-name.js';
import { tenantSlug } from '../tenants/tenants.types.js';

const mailbox = z.strictObject({
  localPart: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/, 'lower-case letters, digits and . _ - inside, 1-64 characters'),
});

/** The marketing site's order, signed with X-Mpanel-Signature (DESIGN.md "The order → live-site flow"). */
export const orderBody = z
  .strictObject({
    tenant: tenantSlug.optional(),
    customer: z.strictObject({
      email: z
        .email()
        .max(254)
        .transform((email) => email.toLowerCase()),
      name: z.string().trim().min(1).max(200),
      company: z.string().trim().max(200).optional(),
      phone: z
        .string()
        .regex(/^\+?[0-9 ()-]{3,32}$/, 'digits, spaces, ( ) - and an optional leading +')
        .optional(),
      locale: localeTag.optional().meta({ description: "The customer's language for emails and invoices (BCP 47, e.g. de-DE); default the tenant's" }),
    }),
    priceId: z.uuid(),
    domain: domainName.meta({ description: 'Fully qualified; IDN accepted and stored as punycode' }),
    payment: z.strictObject({
      provider: z.literal('stripe'),
      reference: z
        .string()
        .min(3)
        .max(255)
        .regex(/^[A-Za-z0-9_-]+$/, 'a Stripe checkout session or payment intent id')
        .meta({ description: 'Idempotency key: the same reference again returns the same order' }),
      amount: z.number().int().min(0).max(100_000_000).meta({ description: 'Minor units (cents)' }),
      currency: z
        .string()
        .regex(/^[A-Za-z]{3}$/, 'an ISO 4217 code')
        .transform((code) => code.toUpperCase()),
      stripeCustomerId: z.string().max(255).optional(),
      stripeSubscriptionId: z.string().max(255).optional(),
    }),
    mailboxes: z.array(mailbox).max(100).optional(),
  })
  .superRefine((order, ctx) => {
    const seen = new Set<string>();
    for (const [index, box] of (order.mailboxes ?? []).entries()) {
      if (seen.has(box.localPart)) ctx.addIssue({ code: 'custom', path: ['mailboxes', index, 'localPart'], message: 'is listed twice' });
      seen.add(box.localPart);
    }
  });
export type OrderBody = z.output<typeof orderBody>;

export const orderAccepted = z
  .object({
    orderId: z.uuid(),
    subscriptionId: z.uuid(),
    jobs: z.array(z.object({ id: z.uuid(), type: z.string(), status: z.enum(jobStatuses) })).meta({
      description: 'The provisioning steps as accepted (status at acceptance); follow their progress with GET /api/orders/{id}',
    }),
  })
  .meta({ id: 'OrderAccepted' });
export type OrderAccepted = z.infer<typeof orderAccepted>;
