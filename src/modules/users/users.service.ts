import { and, count, eq, ilike, isNull, or, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { containsPattern } from '../../db/like.js';
import { refreshTokens, users, type User, type UserRole } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError, conflict, notFound } from '../../shared/errors/app-error.js';
import { findPgError } from '../../shared/errors/pg-errors.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { hashPassword } from '../auth/password.js';
import { canAssignRole } from '../auth/permissions.js';
import { listPage } from '../list-page.js';
import {
  createUserInput,
  type CreateUserData,
  type CreateUserInput,
  type ListUsersQuery,
  type UpdateUserBody,
  type UserView,
  type UsersPage,
} from './users.types.js';

/** What of a user may appear in audit rows (never the password hash). */
export function publicUser(user: User) {
  return { id: user.id, email: user.email, name: user.name, role: user.role, tenantId: user.tenantId, isActive: user.isActive };
}

/** What of a user an API response shows. */
export function userView(user: User): UserView {
  return { ...publicUser(user), lastLoginAt: user.lastLoginAt, createdAt: user.createdAt, updatedAt: user.updatedAt };
}

const EMAIL_UNIQUE_INDEX = 'users_email_lower_unique';

/**
 * Inserts the user and audits it. Emails are unique across all tenants (login is by email alone),
 * so a taken email may belong to another tenant, invisible here: the unique index answers, not a
 * lookup. Only the platform's SUPER_ADMIN creates users this way from the API (tenant ADMINs invite:
 * staff-invitations.service.ts), so the 409 tells a tenant nothing.
 */
export async function insertUser(
  tx: Tx,
  tenantId: string,
  data: Pick<CreateUserData, 'email' | 'name' | 'role'>,
  passwordHash: string,
  actor: AuditActor,
  taken: () => AppError = () => conflict('A user with this email already exists', [{ field: 'body/email', message: 'is already taken' }]),
): Promise<User> {
  let user: User | undefined;
  try {
    [user] = await tx
      .insert(users)
      .values({ tenantId, email: data.email, name: data.name, role: data.role, passwordHash })
      .returning();
  } catch (error) {
    const pg = findPgError(error);
    if (pg?.code === '23505' && pg.constraint === EMAIL_UNIQUE_INDEX) {
      throw taken();
    }
    throw error;
  }
  if (!user) throw new Error('insert into users returned no row');
  await recordAudit(tx, { tenantId, actor, action: 'user.created', targetType: 'user', targetId: user.id, after: publicUser(user) });
  return user;
}

/** Creates a user in the transaction's tenant (set by withTenant), audited in the same transaction. */
export async function createUser(tx: Tx, tenantId: string, input: CreateUserInput, actor: AuditActor): Promise<User> {
  const data = createUserInput.parse(input);
  return insertUser(tx, tenantId, data, await hashPassword(data.password), actor);
}

// ---------------------------------------------------------------------------------------------
// The staff API: every function acts in the caller's tenant (auth.tenantId).

export async function listUsers(db: Database, auth: AuthContext, query: ListUsersQuery): Promise<UsersPage> {
  const pattern = query.q === undefined ? undefined : containsPattern(query.q);
  return listPage(db, auth.tenantId, query, {
    table: users,
    filters: [
      isNull(users.deletedAt),
      query.role === undefined ? undefined : eq(users.role, query.role),
      query.isActive === undefined ? undefined : eq(users.isActive, query.isActive),
      pattern === undefined ? undefined : or(ilike(users.email, pattern), ilike(users.name, pattern)),
    ],
    rows: (tx, q) => tx.select().from(users).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: userView,
  });
}

export async function getUser(db: Database, auth: AuthContext, id: string): Promise<UserView> {
  const user = await withTenant(db, auth.tenantId, (tx) => findUser(tx, auth.tenantId, id));
  if (!user) throw notFound('User');
  return userView(user);
}

/** POST /users: like createUser, within the caller's role ceiling; bcrypt runs before the transaction opens. */
export async function addUser(db: Database, auth: AuthContext, data: CreateUserData, actor: AuditActor): Promise<UserView> {
  assertMayGrant(auth, data.role);
  const passwordHash = await hashPassword(data.password);
  const user = await withTenant(db, auth.tenantId, (tx) => insertUser(tx, auth.tenantId, data, passwordHash, actor));
  return userView(user);
}

/**
 * PATCH /users/:id. Disabling a user or changing their password ends their sessions (refresh
 * tokens revoked); a role change needs nothing more, since every request re-reads the role.
 */
export async function updateUser(db: Database, auth: AuthContext, id: string, changes: UpdateUserBody, actor: AuditActor): Promise<UserView> {
  const passwordHash = changes.password === undefined ? undefined : await hashPassword(changes.password);
  return withTenant(db, auth.tenantId, async (tx) => {
    const before = await lockUser(tx, auth.tenantId, id);
    assertMayManage(auth, before);
    if (changes.role !== undefined) assertMayGrant(auth, changes.role);
    if (changes.isActive === false && before.id === auth.userId) throw conflict('You cannot disable yourself');
    const role = changes.role ?? before.role;
    const isActive = changes.isActive ?? before.isActive;
    if (isActiveAdmin(before) && !(role === 'ADMIN' && isActive)) await assertNotLastAdmin(tx, auth.tenantId);

    const [after] = await tx
      .update(users)
      .set({ name: changes.name, role: changes.role, isActive: changes.isActive, passwordHash })
      .where(eq(users.id, before.id))
      .returning();
    if (!after) throw new Error('update of users returned no row');
    if (changes.isActive === false || passwordHash !== undefined) await revokeSessions(tx, before.id);

    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'user.updated',
      targetType: 'user',
      targetId: before.id,
      before: publicUser(before),
      after: publicUser(after),
      // The hash never enters the log, so a password change would otherwise leave no trace.
      metadata: passwordHash === undefined ? null : { passwordChanged: true },
    });
    return userView(after);
  });
}

/** DELETE /users/:id: a soft delete (the row stays for the audit trail; the user vanishes from the API). */
export async function deleteUser(db: Database, auth: AuthContext, id: string, actor: AuditActor): Promise<void> {
  await withTenant(db, auth.tenantId, async (tx) => {
    const before = await lockUser(tx, auth.tenantId, id);
    assertMayManage(auth, before);
    if (before.id === auth.userId) throw conflict('You cannot delete yourself');
    if (isActiveAdmin(before)) await assertNotLastAdmin(tx, auth.tenantId);

    const [after] = await tx.update(users).set({ deletedAt: new Date(), isActive: false }).where(eq(users.id, before.id)).returning();
    if (!after) throw new Error('update of users returned no row');
    await revokeSessions(tx, before.id);
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'user.deleted', targetType: 'user', targetId: before.id, before: publicUser(before), after: publicUser(after) });
  });
}

// ---------------------------------------------------------------------------------------------
// Rules and the queries behind them.

async function findUser(tx: Tx, tenantId: string, id: string): Promise<User | undefined> {
  const [user] = await tx
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id), isNull(users.deletedAt)));
  return user;
}

/** The user, locked until the transaction ends, so the before/after pair is exact under concurrent writes. */
async function lockUser(tx: Tx, tenantId: string, id: string): Promise<User> {
  const [user] = await tx
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id), isNull(users.deletedAt)))
    .for('update');
  if (!user) throw notFound('User');
  return user;
}

/** Nobody gives a role above their own. */
export function assertMayGrant(auth: AuthContext, role: UserRole): void {
  if (!canAssignRole(auth.role, role)) throw new AppError('FORBIDDEN', 'You cannot grant a role above your own');
}

/** Nobody changes or deletes a user whose role is above their own (an ADMIN and a SUPER_ADMIN). */
function assertMayManage(auth: AuthContext, target: User): void {
  if (!canAssignRole(auth.role, target.role)) throw new AppError('FORBIDDEN', 'You cannot change a user whose role is above your own');
}

function isActiveAdmin(user: User): boolean {
  return user.role === 'ADMIN' && user.isActive;
}

/**
 * Refuses to take away the tenant's last active ADMIN. Writers that would remove one take a
 * per-tenant advisory lock first, so two concurrent demotions of the last two admins run one
 * after the other and the second counts the first's result. (Locking the admin rows with
 * FOR UPDATE instead could deadlock: each writer already holds its own target row.)
 */
async function assertNotLastAdmin(tx: Tx, tenantId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`tenant-admins:${tenantId}`}, 0))`);
  const [row] = await tx
    .select({ admins: count() })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, 'ADMIN'), eq(users.isActive, true), isNull(users.deletedAt)));
  if ((row?.admins ?? 0) <= 1) {
    throw conflict('This is the last active ADMIN of the tenant: it cannot be disabled, demoted or deleted');
  }
}

/**
 * Ends the user's sessions: their refresh tokens stop working, and with them their access tokens
 * (a session whose refresh tokens are all revoked has ended: auth/session-cache.ts). Re-enabling the
 * user later does not bring them back.
 */
async function revokeSessions(tx: Tx, userId: string): Promise<void> {
  await tx
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
}
