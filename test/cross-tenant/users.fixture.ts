import { eq } from 'drizzle-orm';
import { users } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildUser } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** A SUPPORT user of tenant A: not the admin, so the control call may also delete it. */
async function createUser({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const { user } = await buildUser(db, tenant, { role: 'SUPPORT' });
  return { id: user.id };
}

/** The whole row, deleted or not, read as tenant A. */
function snapshot({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, (tx) => tx.select().from(users).where(eq(users.id, id!)));
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/users/:id', create: createUser, snapshot },
  { route: 'PATCH /api/users/:id', create: createUser, body: { name: 'Renamed by tenant B', isActive: false }, snapshot },
  { route: 'DELETE /api/users/:id', create: createUser, snapshot },
];
