import { z } from 'zod';
import { customerRoles } from '../../db/schema/index.js';
import { passwordSchema } from '../auth/password.js';

const tenantSlug = z.string().trim().min(1).max(63).meta({ description: 'The tenant (hosting company) the customer account belongs to' });
const email = z.string().trim().toLowerCase().pipe(z.email()).meta({ description: 'The login email' });
const linkToken = z.string().min(20).max(200).meta({ description: 'The token from the emailed link' });

export const customerLoginBody = z.strictObject({ tenant: tenantSlug, email, password: z.string().min(1).max(1024) });
export type CustomerLoginBody = z.infer<typeof customerLoginBody>;

export const customerRefreshBody = z.strictObject({ refreshToken: z.string().min(20).max(200) });

export const setPasswordBody = z.strictObject({ token: linkToken, password: passwordSchema });
export type SetPasswordBody = z.infer<typeof setPasswordBody>;

export const linkRequestBody = z.strictObject({ tenant: tenantSlug, email });
export type LinkRequestBody = z.infer<typeof linkRequestBody>;

export const signInLinkBody = z.strictObject({ token: linkToken });

export const customerSessionLogin = z
  .object({ id: z.uuid(), customerId: z.uuid(), tenantId: z.uuid(), email: z.string(), name: z.string(), role: z.enum(customerRoles) })
  .meta({ id: 'CustomerLogin' });
export type CustomerSessionLogin = z.infer<typeof customerSessionLogin>;

export const customerTokenPair = z.object({
  token: z.string().meta({ description: 'JWT access token for /api/portal routes (its own audience: refused by staff routes)' }),
  refreshToken: z.string().meta({ description: 'Opaque refresh token; single use, rotated by POST /api/portal/auth/refresh' }),
});
export type CustomerTokenPair = z.infer<typeof customerTokenPair>;

export const customerSession = customerTokenPair.extend({ login: customerSessionLogin }).meta({ id: 'CustomerSession' });
export type CustomerSession = z.infer<typeof customerSession>;

export const linkSentResponse = z
  .object({ message: z.string(), expiresAt: z.date().optional() })
  .meta({ description: 'Nothing secret: the link goes only to the email of the login' });

export const invitationResponse = z.object({ loginId: z.uuid(), email: z.string(), expiresAt: z.date() }).meta({ id: 'CustomerInvitation' });
