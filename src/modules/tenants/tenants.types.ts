import { z } from 'zod';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { queryBoolean, timestamp } from '../../shared/http/schemas.js';

export const tenantSlug = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens, 1-63 characters');

export const tenantName = z.string().trim().min(1).max(120);

export const createTenantInput = z.strictObject({ slug: tenantSlug, name: tenantName });
export type CreateTenantInput = z.infer<typeof createTenantInput>;

export const updateTenantBody = z
  .strictObject({ name: tenantName.optional(), isActive: z.boolean().optional() })
  .refine((body) => body.name !== undefined || body.isActive !== undefined, 'must contain at least one of name, isActive');
export type UpdateTenantBody = z.output<typeof updateTenantBody>;

export const listTenantsQuery = z.strictObject({
  isActive: queryBoolean.optional(),
  q: z.string().trim().min(1).max(100).optional().meta({ description: 'Substring of the slug or the name (case-insensitive)' }),
  ...paginationQuery,
});
export type ListTenantsQuery = z.output<typeof listTenantsQuery>;

export const tenantResponse = z
  .object({
    id: z.uuid(),
    slug: z.string(),
    name: z.string(),
    isActive: z.boolean(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Tenant' });
export type TenantView = z.output<typeof tenantResponse>;

export const tenantsPage = pageOf(tenantResponse);
export type TenantsPage = z.output<typeof tenantsPage>;
