import type { User } from '../../db/schema/index.js';
import { users } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { hashPassword } from '../auth/password.js';
import { createUserInput, type CreateUserInput } from './users.types.js';

/** What of a user may appear in responses and audit rows (never the password hash). */
export function publicUser(user: User) {
  return { id: user.id, email: user.email, name: user.name, role: user.role, tenantId: user.tenantId, isActive: user.isActive };
}

/** Creates a user in the transaction's tenant (set by withTenant), audited in the same transaction. */
export async function createUser(tx: Tx, tenantId: string, input: CreateUserInput, actor: AuditActor): Promise<User> {
  const data = createUserInput.parse(input);
  const passwordHash = await hashPassword(data.password);
  const [user] = await tx
    .insert(users)
    .values({ tenantId, email: data.email, name: data.name, role: data.role, passwordHash })
    .returning();
  if (!user) throw new Error('insert into users returned no row');
  await recordAudit(tx, { tenantId, actor, action: 'user.created', targetType: 'user', targetId: user.id, after: publicUser(user) });
  return user;
}
