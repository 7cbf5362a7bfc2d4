import type { CustomerRole } from '../../db/schema/index.js';

/** Who is calling a portal route: a customer login, resolved once per request (customer-authenticate.ts). */
export interface CustomerAuthContext {
  readonly loginId: string;
  readonly customerId: string;
  readonly tenantId: string;
  readonly role: CustomerRole;
  readonly email: string;
  readonly name: string;
  /** Refresh-token family of the session. */
  readonly sessionId: string;
}
