import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { staffInvitations, users } from '../../src/db/schema/index.js';
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

/** An open invitation of tenant A. */
async function createInvitation({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const [row] = await withTenant(db, tenant.id, (tx) =>
    tx
      .insert(staffInvitations)
      .values({ tenantId: tenant.id, email: `invited-${randomUUID()}@example.test`, name: 'Invited', role: 'SUPPORT', tokenHash: `fixture-${randomUUID()}`, expiresAt: new Date(Date.now() + 3_600_000) })
      .returning({ id: staffInvitations.id }),
  );
  return { id: row!.id };
}

function invitationSnapshot({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, (tx) => tx.select().from(staffInvitations).where(eq(staffInvitations.id, id!)));
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'DELETE /api/users/invitations/:id', create: createInvitation, snapshot: invitationSnapshot },
  { route: 'GET /api/users/:id', create: createUser, snapshot },
  { route: 'PATCH /api/users/:id', create: createUser, body: { name: 'Renamed by tenant B', isActive: false }, snapshot },
  { route: 'DELETE /api/users/:id', create: createUser, snapshot },
];
