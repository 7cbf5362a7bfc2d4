import { randomUUID } from 'node:crypto';
import type { Env } from '../../src/config/env.js';
import type { User } from '../../src/db/schema/index.js';
import { signAccessToken } from '../../src/modules/auth/tokens.js';

/**
 * `Authorization` header for a user built by the factories, signed like a real login's access
 * token (without going through bcrypt, so tests stay fast). Tests of login itself use the route.
 */
export async function authHeader(env: Env, user: Pick<User, 'id' | 'tenantId' | 'role'>, actingTenantId?: string): Promise<Record<string, string>> {
  const token = await signAccessToken(env, { userId: user.id, tenantId: user.tenantId, sessionId: randomUUID(), role: user.role });
  return { authorization: `Bearer ${token}`, ...(actingTenantId ? { 'x-mpanel-tenant': actingTenantId } : {}) };
}
