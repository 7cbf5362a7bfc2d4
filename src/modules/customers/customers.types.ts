import { z } from 'zod';
import { customerRoles } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { subscriptionResponse } from '../subscriptions/subscriptions.types.js';

export const listCustomersQuery = z.strictObject({
  q: z.string().trim().min(1).max(100).optional().meta({ description: 'Substring of the email or the name (case-insensitive)' }),
  ...paginationQuery,
});
export type ListCustomersQuery = z.output<typeof listCustomersQuery>;

export const customerResponse = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    company: z.string().nullable(),
    phone: z.string().nullable(),
    stripeCustomerId: z.string().nullable(),
    locale: z.string().nullable().meta({ description: "The customer's language for emails and invoices (BCP 47); null: the tenant's" }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Customer' });
export type CustomerView = z.output<typeof customerResponse>;

export const customerDetail = customerResponse.extend({ subscriptions: z.array(subscriptionResponse) }).meta({ id: 'CustomerDetail' });
export type CustomerDetailView = z.output<typeof customerDetail>;

export const customersPage = pageOf(customerResponse);
export type CustomersPage = z.output<typeof customersPage>;

export const customerContact = z
  .object({
    id: z.uuid(),
    name: z.string(),
    email: z.string(),
    role: z.enum(customerRoles).meta({ description: 'OWNER: made with the first order; BILLING and TECHNICAL: invited by the owner' }),
    invitation: z.enum(['PENDING', 'ACCEPTED']).meta({ description: 'PENDING until the login has set its password from the invitation link' }),
    active: z.boolean().meta({ description: 'false: the login is disabled and cannot sign in' }),
    twoFactorEnabled: z.boolean(),
    lastLoginAt: timestamp.nullable().meta({ description: 'null: never signed in (or before sign-ins were recorded)' }),
    createdAt: timestamp,
  })
  .meta({ id: 'CustomerContact' });
export type CustomerContactView = z.output<typeof customerContact>;
export const customerContacts = z.object({ items: z.array(customerContact) }).meta({ id: 'CustomerContacts' });
