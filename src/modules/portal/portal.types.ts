import { z } from 'zod';
import { customerRoles, subscriptionStatuses, certificateStatuses } from '../../db/schema/index.js';
import { localeTag } from '../../shared/locale.js';
import { passwordSchema } from '../auth/password.js';
import { customerSessionLogin } from '../customer-auth/customer-auth.types.js';

// One address shape for staff billing and the portal (copied onto invoices at issue).
export { billingAddress } from '../billing/billing.types.js';
import { billingAddress } from '../billing/billing.types.js';

export const profile = z
  .object({
    customer: z.object({
      id: z.uuid(),
      email: z.string(),
      name: z.string(),
      company: z.string().nullable(),
      phone: z.string().nullable(),
      billingAddress: billingAddress.nullable(),
      taxId: z.string().nullable(),
      locale: z.string().nullable().meta({ description: "The language emails and invoices are written in; null: the provider's default" }),
    }),
    login: customerSessionLogin,
    twoFactorEnabled: z.boolean().meta({ description: 'Whether the signed-in login has two-factor sign-in on' }),
  })
  .meta({ id: 'PortalProfile' });
export type Profile = z.infer<typeof profile>;

export const updateProfileBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    company: z.string().trim().max(200).nullable().optional(),
    phone: z.string().trim().max(50).nullable().optional(),
    locale: localeTag.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'name at least one field');
export type UpdateProfileBody = z.infer<typeof updateProfileBody>;

export const taxIdBody = z.strictObject({ taxId: z.string().trim().regex(/^[A-Za-z0-9 .-]{2,32}$/, '2 to 32 letters, digits, spaces, dots or dashes').nullable() });

export const contact = z
  .object({ id: z.uuid(), email: z.string(), name: z.string(), role: z.enum(customerRoles), passwordSet: z.boolean(), lastLoginAt: z.date().nullable(), createdAt: z.date() })
  .meta({ id: 'PortalContact' });
export type Contact = z.infer<typeof contact>;
export const contactList = z.object({ items: z.array(contact) });
export const inviteContactBody = z.strictObject({
  email: z.string().trim().toLowerCase().pipe(z.email()),
  name: z.string().trim().min(1).max(200),
  role: z.enum(['BILLING', 'TECHNICAL']),
});
export type InviteContactBody = z.infer<typeof inviteContactBody>;

export const portalSession = z
  .object({ id: z.uuid().meta({ description: 'The session id (refresh family)' }), startedAt: z.date(), lastUsedAt: z.date(), ip: z.string().nullable(), userAgent: z.string().nullable(), current: z.boolean() })
  .meta({ id: 'PortalSession' });
export type PortalSession = z.infer<typeof portalSession>;
export const sessionList = z.object({ items: z.array(portalSession) });

export const changePasswordBody = z.strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: passwordSchema });

export const service = z
  .object({
    id: z.uuid(),
    plan: z.object({ productId: z.uuid(), name: z.string(), type: z.string(), priceId: z.uuid(), amount: z.number().int(), currency: z.string(), interval: z.string() }),
    status: z.enum(subscriptionStatuses),
    statusReason: z.object({ event: z.string(), reason: z.string(), at: z.string() }).nullable(),
    currentPeriodStart: z.date(),
    currentPeriodEnd: z.date().nullable(),
    paidThrough: z.date().nullable().meta({ description: 'Paid up to this instant' }),
    cancelAtPeriodEnd: z.boolean().meta({ description: 'Cancelled: not renewed, stops when the paid period ends (POST /api/portal/services/{id}/cancel)' }),
    domain: z.string().nullable(),
    siteUrl: z.string().nullable(),
    certificateStatus: z.enum(certificateStatuses).nullable(),
    createdAt: z.date(),
  })
  .meta({ id: 'PortalService' });
export type Service = z.infer<typeof service>;
export const serviceList = z.object({ items: z.array(service) });
