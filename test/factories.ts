import { randomBytes } from 'node:crypto';
import type { Database } from '../src/config/database.js';
import { tenants, users, type Tenant, type User, type UserRole } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { hashPassword } from '../src/modules/auth/password.js';

/**
 * Factories: each test builds the tenants and users it needs, with overrides, so tests never
 * depend on each other or on seed data.
 */
const unique = () => randomBytes(4).toString('hex');

export const DEFAULT_PASSWORD = 'correct-horse-battery-staple';

// bcrypt cost 4 keeps factories fast; verification reads the cost from the hash, and the
// production path (users.service) always hashes at cost 12.
const hashes = new Map<string, Promise<string>>();
const fastHash = (password: string) => {
  let hash = hashes.get(password);
  if (!hash) hashes.set(password, (hash = hashPassword(password, 4)));
  return hash;
};

export async function buildTenant(db: Database, overrides: Partial<typeof tenants.$inferInsert> = {}): Promise<Tenant> {
  const slug = overrides.slug ?? `t-${unique()}`;
  const [tenant] = await db
    .insert(tenants)
    .values({ slug, name: `Tenant ${slug}`, ...overrides })
    .returning();
  if (!tenant) throw new Error('buildTenant: no row');
  return tenant;
}

export interface BuiltUser {
  user: User;
  password: string;
}

export async function buildUser(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  overrides: { role?: UserRole; email?: string; name?: string; password?: string; isActive?: boolean } = {},
): Promise<BuiltUser> {
  const password = overrides.password ?? DEFAULT_PASSWORD;
  const passwordHash = await fastHash(password);
  const user = await withTenant(db, tenant.id, async (tx) => {
    const [row] = await tx
      .insert(users)
      .values({
        tenantId: tenant.id,
        email: overrides.email ?? `user-${unique()}@example.test`,
        name: overrides.name ?? 'Test User',
        role: overrides.role ?? 'ADMIN',
        isActive: overrides.isActive ?? true,
        passwordHash,
      })
      .returning();
    return row;
  });
  if (!user) throw new Error('buildUser: no row');
  return { user, password };
}
