import { eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { tenants, type Tenant } from '../../db/schema/index.js';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * The tenant of an unauthenticated caller (marketing site, public catalog), named by slug. The
 * slug may be omitted only while the install has exactly one active tenant. An unknown or
 * inactive tenant is 404. `field` names where the slug came from, for the error.
 */
export async function resolvePublicTenant(db: Database, slug: string | undefined, field: string): Promise<Tenant> {
  if (slug !== undefined) {
    const [tenant] = await db.select().from(tenants).where(eq(tenants.slug, slug));
    if (!tenant || !tenant.isActive) throw new AppError('NOT_FOUND', `Tenant "${slug}" not found`);
    return tenant;
  }
  const active = await db.select().from(tenants).where(eq(tenants.isActive, true)).limit(2);
  const [only] = active;
  if (active.length !== 1 || !only) {
    throw new AppError('VALIDATION_FAILED', 'This install has several tenants: name one', { fields: [{ field, message: 'is required when more than one tenant is active' }] });
  }
  return only;
}
