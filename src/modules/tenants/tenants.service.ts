import { eq, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { tenants, type Tenant } from '../../db/schema/index.js';
import { TENANT_SETTING } from '../../db/schema/rls.js';
import { conflict } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { createTenantInput, type CreateTenantInput } from './tenants.types.js';

export function tenantSnapshot(tenant: Tenant) {
  return { id: tenant.id, slug: tenant.slug, name: tenant.name, isActive: tenant.isActive };
}

/** Creates a tenant; its first audit row (the start of its hash chain) records the creation. */
export async function createTenant(db: Database, input: CreateTenantInput, actor: AuditActor): Promise<Tenant> {
  const data = createTenantInput.parse(input);
  return db.transaction(async (tx) => {
    const [existing] = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.slug, data.slug));
    if (existing) throw conflict(`A tenant with slug "${data.slug}" already exists`, [{ field: 'body/slug', message: 'is already taken' }]);
    const [tenant] = await tx.insert(tenants).values(data).returning();
    if (!tenant) throw new Error('insert into tenants returned no row');
    await tx.execute(sql`select set_config(${TENANT_SETTING}, ${tenant.id}, true)`);
    await recordAudit(tx, { tenantId: tenant.id, actor, action: 'tenant.created', targetType: 'tenant', targetId: tenant.id, after: tenantSnapshot(tenant) });
    return tenant;
  });
}

export async function findTenantBySlug(db: Database, slug: string): Promise<Tenant | undefined> {
  const [tenant] = await db.select().from(tenants).where(eq(tenants.slug, slug));
  return tenant;
}
