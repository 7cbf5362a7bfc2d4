import type { Database } from '../../src/config/database.js';
import type { Env } from '../../src/config/env.js';
import type { CustomerLogin, Tenant } from '../../src/db/schema/index.js';

/**
 * One entry of the cross-customer suite (test/cross-customer.test.ts): for a portal route that
 * takes an id (in its path, or in its body: `POST /api/portal/mailboxes {mailDomainId}`), how to
 * make the object it acts on, owned by a new customer of `tenant` (customer
 * A). The suite calls the route as another customer of the same tenant and as a customer of
 * another tenant, expects 404 with `snapshot` unchanged and no audit row written, then makes the
 * same call as A's owner, which must succeed (and, for a method other than GET, change the
 * snapshot). A portal route with a path parameter and no fixture fails the suite.
 */
export interface CrossCustomerContext {
  db: Database;
  env: Env;
  tenant: Tenant;
}

export interface CrossCustomerFixture {
  /** Method and URL exactly as registered, e.g. 'DELETE /api/portal/contacts/:id'. */
  route: string;
  /** Makes customer A's object; returns the path parameters and A's owner login (who may call the route). */
  create(context: CrossCustomerContext): Promise<{ params: Record<string, string>; owner: CustomerLogin }>;
  /** A body that would be valid for the route if the object were the caller's own; a function reads what `create` returned (e.g. the id of a price it made). */
  body?: unknown;
  /**
   * Set (with the reason) for a route other than GET that changes nothing, e.g. a preview: the
   * control call then checks that the snapshot did NOT change.
   */
  readOnly?: string;
  /** The object's state, read as the tenant (staff view). */
  snapshot(context: CrossCustomerContext, params: Record<string, string>): Promise<unknown>;
}
