import { sql, type SQL } from 'drizzle-orm';
import { pgPolicy, type PgColumn, type PgPolicy } from 'drizzle-orm/pg-core';

// Transaction-local settings the policies read. Set them with
// `select set_config(<name>, <value>, true)` inside a transaction: `is_local = true` resets
// them at commit/rollback, so a pooled connection never carries a tenant into the next request.
export const TENANT_SETTING = 'app.tenant_id';
export const LOGIN_EMAIL_SETTING = 'app.login_email';
export const REFRESH_TOKEN_HASH_SETTING = 'app.refresh_token_hash';
export const OUTBOX_SWEEP_SETTING = 'app.outbox_sweep';
export const AUDIT_SEAL_SETTING = 'app.audit_seal';
export const EVENT_DISPATCH_SETTING = 'app.event_dispatch';
export const BILLING_SCAN_SETTING = 'app.billing_scan';
export const STRIPE_DUNNING_SCAN_SETTING = 'app.stripe_dunning_scan';
export const SSL_RENEWAL_SCAN_SETTING = 'app.ssl_renewal_scan';
export const STAFF_INVITATION_TOKEN_HASH_SETTING = 'app.staff_invitation_token_hash';

/** `nullif(current_setting('<name>', true), '')`: NULL when the setting is unset or empty. */
function setting(name: string): SQL {
  return sql.raw(`nullif(current_setting('${name}', true), '')`);
}

/**
 * The one tenant policy every tenant-owned table carries: rows are visible and writable only
 * when `tenant_id` equals the transaction's `app.tenant_id`. With nothing set, the comparison
 * is NULL, so no rows. TO PUBLIC (not only mpanel_app) so that, under FORCE ROW LEVEL SECURITY,
 * the owner role (seeds, admin scripts) works the same way once it sets the tenant.
 */
export function tenantIsolationPolicy(tenantId: PgColumn): PgPolicy {
  const sameTenant = sql`${tenantId} = ${setting(TENANT_SETTING)}::uuid`;
  return pgPolicy('tenant_isolation', {
    as: 'permissive',
    for: 'all',
    to: 'public',
    using: sameTenant,
    withCheck: sameTenant,
  });
}

/**
 * users: SELECT-only, for login before the tenant is known. The transaction declares the one
 * (lower-cased) email it looks up in `app.login_email`.
 */
export function loginLookupPolicy(email: PgColumn): PgPolicy {
  return pgPolicy('login_lookup', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`lower(${email}) = ${setting(LOGIN_EMAIL_SETTING)}`,
  });
}

/**
 * refresh_tokens: SELECT-only, for the refresh endpoint, which knows only the token. The
 * transaction declares the one token hash it looks up in `app.refresh_token_hash`.
 */
export function refreshLookupPolicy(tokenHash: PgColumn): PgPolicy {
  return pgPolicy('refresh_lookup', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${tokenHash} = ${setting(REFRESH_TOKEN_HASH_SETTING)}`,
  });
}

/**
 * jobs: SELECT-only, for the outbox sweeper, which looks for jobs left unqueued in every tenant.
 * The transaction declares it with `app.outbox_sweep = 'on'`; it then sees only PENDING and QUEUED
 * rows (nothing finished, nothing it could not also see by walking the tenants one by one).
 */
export function outboxSweepPolicy(status: PgColumn): PgPolicy {
  return pgPolicy('outbox_sweep', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(OUTBOX_SWEEP_SETTING)} = 'on' and ${status} in ('PENDING', 'QUEUED')`,
  });
}

/**
 * audit_logs: SELECT-only, for the audit sealer, which looks for rows not sealed yet in every
 * tenant. The transaction declares it with `app.audit_seal = 'on'`; it then sees only unsealed
 * rows, and seals each tenant's in a transaction of that tenant.
 */
export function auditSealScanPolicy(hash: PgColumn): PgPolicy {
  return pgPolicy('audit_seal_scan', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(AUDIT_SEAL_SETTING)} = 'on' and ${hash} is null`,
  });
}

/**
 * domain_events: SELECT-only, for the event dispatcher, which looks for events not dispatched yet
 * in every tenant. The transaction declares it with `app.event_dispatch = 'on'`; it then sees only
 * undispatched rows, and handles each tenant's in a transaction of that tenant.
 */
export function eventDispatchScanPolicy(dispatchedAt: PgColumn): PgPolicy {
  return pgPolicy('event_dispatch_scan', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(EVENT_DISPATCH_SETTING)} = 'on' and ${dispatchedAt} is null`,
  });
}

/**
 * event_deliveries: SELECT-only, for the delivery workers, which look for deliveries due in every
 * tenant. Declared with the dispatcher's `app.event_dispatch = 'on'`; only unfinished deliveries
 * show, and each tenant's are claimed and updated in a transaction of that tenant.
 */
export function eventDeliveryScanPolicy(status: PgColumn): PgPolicy {
  return pgPolicy('event_delivery_scan', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(EVENT_DISPATCH_SETTING)} = 'on' and ${status} in ('PENDING', 'SENDING')`,
  });
}

/**
 * subscriptions: SELECT-only, for the billing run, which looks for subscriptions mPanel bills in
 * every tenant. The transaction declares it with `app.billing_scan = 'on'`; it then sees only
 * MPANEL-billed subscriptions that are live (ACTIVE, PAST_DUE, SUSPENDED), and acts on each in a
 * transaction of its tenant (where the tenant policy applies as everywhere else).
 */
export function billingScanPolicy(status: PgColumn, billingMode: PgColumn): PgPolicy {
  return pgPolicy('billing_scan', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(BILLING_SCAN_SETTING)} = 'on' and ${billingMode} = 'MPANEL' and ${status} in ('ACTIVE', 'PAST_DUE', 'SUSPENDED')`,
  });
}

/**
 * subscriptions: SELECT-only, for the billing run's STRIPE-mode pass (modules/billing/stripe-dunning.ts),
 * declared with its own `app.stripe_dunning_scan = 'on'` (the MPANEL scan never sees these rows): only STRIPE-billed subscriptions that are
 * PAST_DUE (the ones that may be due for a NON_PAYMENT suspension), ACTIVE (a cancellation at
 * the end of the paid period) or SUSPENDED (a cancelled one's termination after the retention).
 */
export function stripeDunningScanPolicy(status: PgColumn, billingMode: PgColumn): PgPolicy {
  return pgPolicy('stripe_dunning_scan', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(STRIPE_DUNNING_SCAN_SETTING)} = 'on' and ${billingMode} = 'STRIPE' and ${status} in ('ACTIVE', 'PAST_DUE', 'SUSPENDED')`,
  });
}
/**
 * The Stripe webhook (modules/payment-events/stripe-billing.ts) learns an event's tenant from the
 * Stripe id it names, before any tenant is known. The transaction declares the one id it looks up
 * in `app.stripe_reference`; SELECT-only, and only the rows carrying exactly that id show.
 */
export const STRIPE_REFERENCE_SETTING = 'app.stripe_reference';
export function stripeReferenceLookupPolicy(...references: (PgColumn | SQL)[]): PgPolicy {
  const matches = references.map((column) => sql`${column} = ${setting(STRIPE_REFERENCE_SETTING)}`);
  return pgPolicy('stripe_reference_lookup', { as: 'permissive', for: 'select', to: 'public', using: sql.join(matches, sql` or `) });
}
/**
 * billing_settings: SELECT-only, for the same scan, which needs each tenant's renewal lead time
 * to pick the subscriptions whose renewal is due (declared with `app.billing_scan = 'on'`).
 */
export function billingSettingsScanPolicy(): PgPolicy {
  return pgPolicy('billing_scan', { as: 'permissive', for: 'select', to: 'public', using: sql`${setting(BILLING_SCAN_SETTING)} = 'on'` });
}

/**
 * ssl_certificates: SELECT-only, for the renewal scheduler, which looks for certificates due in
 * every tenant. The transaction declares it with `app.ssl_renewal_scan = 'on'`; it then sees only
 * the certificates the scheduler manages (renew_after set: issued and not terminated), and takes
 * each in a transaction of its tenant. Due-ness is left to the query (its clock is injectable).
 */
export function sslRenewalScanPolicy(renewAfter: PgColumn): PgPolicy {
  return pgPolicy('ssl_renewal_scan', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${setting(SSL_RENEWAL_SCAN_SETTING)} = 'on' and ${renewAfter} is not null`,
  });
}

// Customer isolation (the client portal, modules/portal): inside a tenant a customer sees only
// their own rows. Set by withCustomer (db/tenant-tx.ts) next to the tenant.
export const CUSTOMER_SETTING = 'app.customer_id';
/** Lookup of one customer link or session token by its hash, before the tenant is known. */
export const CUSTOMER_TOKEN_HASH_SETTING = 'app.customer_token_hash';

/**
 * The customer policy: RESTRICTIVE, so it narrows the tenant policy and never widens anything.
 * With no customer set (staff, workers) it is true; with one set, a row is visible and writable
 * only when `owned` (an expression over the row: its customer_id, or an EXISTS on its parent,
 * which is itself under this policy) holds for that customer.
 */
export function customerIsolationPolicy(owned: SQL): PgPolicy {
  const check = sql`${setting(CUSTOMER_SETTING)} is null or ${owned}`;
  return pgPolicy('customer_isolation', { as: 'restrictive', for: 'all', to: 'public', using: check, withCheck: check });
}

/** `column = app.customer_id`, for customerIsolationPolicy on tables with a customer column. */
export function ownedByCustomer(customerId: PgColumn): SQL {
  return sql`${customerId} = ${setting(CUSTOMER_SETTING)}::uuid`;
}

/** SELECT-only lookup of one customer token by hash (like refresh_lookup, for the portal). */
export function customerTokenLookupPolicy(tokenHash: PgColumn): PgPolicy {
  return pgPolicy('customer_token_lookup', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${tokenHash} = ${setting(CUSTOMER_TOKEN_HASH_SETTING)}`,
  });
}

/**
 * staff_invitations: SELECT-only, for accepting an invitation, whose link carries only the token.
 * The transaction declares the SHA-256 it looks up in `app.staff_invitation_token_hash`.
 */
export function staffInvitationLookupPolicy(tokenHash: PgColumn): PgPolicy {
  return pgPolicy('staff_invitation_lookup', {
    as: 'permissive',
    for: 'select',
    to: 'public',
    using: sql`${tokenHash} = ${setting(STAFF_INVITATION_TOKEN_HASH_SETTING)}`,
  });
}
