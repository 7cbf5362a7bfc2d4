import { and, eq, ilike, or, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { containsPattern } from '../../db/like.js';
import { tenants, type Tenant } from '../../db/schema/index.js';
import { TENANT_SETTING } from '../../db/schema/rls.js';
import { withTenant } from '../../db/tenant-tx.js';
import { conflict, notFound } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { keyset, page } from '../../shared/http/pagination.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { createTenantInput, type CreateTenantInput, type ListTenantsQuery, type TenantsPage, type TenantView, type UpdateTenantBody } from './tenants.types.js';

// The tenants table has no row-level security (login looks a tenant up before one is known), so
// these functions see every tenant: their routes are for SUPER_ADMIN only (tenants:* permissions).

export function tenantSnapshot(tenant: Tenant) {
  return { id: tenant.id, slug: tenant.slug, name: tenant.name, isActive: tenant.isActive };
}

export function tenantView(tenant: Tenant): TenantView {
  return { ...tenantSnapshot(tenant), createdAt: tenant.createdAt, updatedAt: tenant.updatedAt };
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

export async function listTenants(db: Database, query: ListTenantsQuery): Promise<TenantsPage> {
  const { where: after, orderBy } = keyset(tenants.createdAt, tenants.id, query.cursor);
  const pattern = query.q === undefined ? undefined : containsPattern(query.q);
  const rows = await db
    .select()
    .from(tenants)
    .where(
      and(
        query.isActive === undefined ? undefined : eq(tenants.isActive, query.isActive),
        pattern === undefined ? undefined : or(ilike(tenants.slug, pattern), ilike(tenants.name, pattern)),
        after,
      ),
    )
    .orderBy(...orderBy)
    .limit(query.limit + 1);
  const { items, nextCursor } = page(rows, query.limit);
  return { items: items.map(tenantView), nextCursor };
}

export async function getTenant(db: Database, id: string): Promise<TenantView> {
  const [tenant] = await db.select().from(tenants).where(eq(tenants.id, id));
  if (!tenant) throw notFound('Tenant');
  return tenantView(tenant);
}

/**
 * Renames, deactivates or reactivates a tenant, audited in that tenant's own chain. Deactivation
 * needs nothing more: every request checks its tenant is active, so the tenant's tokens stop
 * working at once. A SUPER_ADMIN cannot deactivate their own tenant, which would lock them out.
 */
export async function updateTenant(db: Database, auth: AuthContext, id: string, changes: UpdateTenantBody, actor: AuditActor): Promise<TenantView> {
  return withTenant(db, id, async (tx) => {
    const [before] = await tx.select().from(tenants).where(eq(tenants.id, id)).for('update');
    if (!before) throw notFound('Tenant');
    if (changes.isActive === false && before.id === auth.homeTenantId) throw conflict('You cannot deactivate your own tenant');

    const [after] = await tx.update(tenants).set({ name: changes.name, isActive: changes.isActive }).where(eq(tenants.id, id)).returning();
    if (!after) throw new Error('update of tenants returned no row');
    await recordAudit(tx, { tenantId: id, actor, action: 'tenant.updated', targetType: 'tenant', targetId: id, before: tenantSnapshot(before), after: tenantSnapshot(after) });
    return tenantView(after);
  });
}
