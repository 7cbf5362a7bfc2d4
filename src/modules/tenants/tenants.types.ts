import { z } from 'zod';

export const tenantSlug = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens, 1-63 characters');

export const tenantName = z.string().trim().min(1).max(120);

export const createTenantInput = z.strictObject({ slug: tenantSlug, name: tenantName });
export type CreateTenantInput = z.infer<typeof createTenantInput>;
