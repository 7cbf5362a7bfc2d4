import type { UserRole } from '../../db/schema/index.js';

/**
 * Who is calling, resolved once per request by the authenticate hook (authenticate.ts). A plain
 * type: services take it (or the part they need) without knowing about HTTP.
 */
export interface AuthContext {
  readonly userId: string;
  readonly email: string;
  readonly name: string;
  readonly role: UserRole;
  /** The user's own tenant. */
  readonly homeTenantId: string;
  /** The tenant this request acts in: the home tenant, or for a SUPER_ADMIN the one named in X-Mpanel-Tenant. */
  readonly tenantId: string;
  /** Refresh-token family of the session (logout revokes it). */
  readonly sessionId: string;
}
