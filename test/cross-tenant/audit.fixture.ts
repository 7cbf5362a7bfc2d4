import { desc, eq } from 'drizzle-orm';
import { auditLogs } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { appendToChain } from '../../src/modules/audit/audit.service.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** An entry in tenant A's audit log, written the way every module writes one. */
async function createEntry({ db, tenant, admin }: CrossTenantContext): Promise<Record<string, string>> {
  const [row] = await withTenant(db, tenant.id, async (tx) => {
    await appendToChain(tx, { tenantId: tenant.id, actor: { type: 'USER', userId: admin.id }, action: 'test.cross_tenant', targetType: 'user', targetId: admin.id });
    return tx.select({ id: auditLogs.id }).from(auditLogs).where(eq(auditLogs.action, 'test.cross_tenant')).orderBy(desc(auditLogs.seq)).limit(1);
  });
  if (!row) throw new Error('audit fixture: no row');
  return { id: row.id };
}

export const fixtures: CrossTenantFixture[] = [
  {
    route: 'GET /api/audit-logs/:id',
    create: createEntry,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.id, id!))),
  },
];
