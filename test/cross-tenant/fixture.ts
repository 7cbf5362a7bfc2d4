import type { Database } from '../../src/config/database.js';
import type { Tenant, User } from '../../src/db/schema/index.js';

/**
 * One entry of the cross-tenant suite (test/cross-tenant.test.ts): for a route that takes an id,
 * how to make the object it acts on in tenant A. The suite then calls the route as every user of
 * tenant B whose role holds the route's permission (SUPER_ADMIN included, acting in its own
 * tenant; the others also naming tenant A in X-Mpanel-Tenant) and expects 404 each time, with
 * `snapshot` unchanged and no audit row written in A.
 *
 * So that those checks could fail, the suite finally makes the same call as tenant A's ADMIN:
 * it must succeed (2xx) — `create` and `body` must make a call the route accepts — and, for a
 * method other than GET, change `snapshot` — the snapshot must show what the route changes.
 *
 * Each module adds its routes in test/cross-tenant/<module>.fixture.ts exporting
 * `fixtures: CrossTenantFixture[]`; the suite fails for any registered route with a path
 * parameter that no fixture (or the documented exclusion list) covers.
 */
export interface CrossTenantContext {
  db: Database;
  /** Tenant A, which owns the object. */
  tenant: Tenant;
  /** An ADMIN of tenant A. */
  admin: User;
}

export interface CrossTenantFixture {
  /** Method and URL exactly as registered, e.g. 'PATCH /api/users/:id'. */
  route: string;
  /** Creates the object in tenant A; returns the path parameters, e.g. { id }. */
  create(context: CrossTenantContext): Promise<Record<string, string>>;
  /** A body that would be valid for the route if the object were the caller's own; a function reads what `create` returned (e.g. the id of a price it made). */
  body?: unknown;
  /**
   * Set (with the reason) for a route other than GET that changes nothing, e.g. a preview: the
   * control call then checks that the snapshot did NOT change.
   */
  readOnly?: string;
  /** The object's state (rows read as tenant A), compared before and after the attempt. */
  snapshot(context: CrossTenantContext, params: Record<string, string>): Promise<unknown>;
}
