import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, jsonb, pgTable, text, uniqueIndex, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import { customers } from './billing.js';
import { createdAt, deletedAt, id, tstz, updatedAt } from './columns.js';
import { customerLinkKindEnum, customerRoleEnum } from './enums.js';
import { customerIsolationPolicy, customerTokenLookupPolicy, ownedByCustomer, tenantIsolationPolicy } from './rls.js';
import { tenantId, users } from './tenancy.js';

/**
 * The people who sign in to the client portal for a customer account: the owner (made when the
 * customer's first order is accepted) and the billing and technical contacts the owner invites.
 * No password until the login has used its invitation link.
 */
export const customerLogins = pgTable(
  'customer_logins',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: customerRoleEnum('role').notNull(),
    passwordHash: text('password_hash'),
    isActive: boolean('is_active').notNull().default(true),
    invitedBy: uuid('invited_by').references((): AnyPgColumn => customerLogins.id, { onDelete: 'set null' }),
    lastLoginAt: tstz('last_login_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: deletedAt(),
  },
  (t) => [
    // Portal login is by tenant + email: one login per email in a tenant.
    uniqueIndex('customer_logins_tenant_email_lower_unique').on(t.tenantId, sql`lower(${t.email})`),
    index('customer_logins_customer_idx').on(t.customerId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

/** One-time links (invitation 72 h, password reset, sign-in 15 min): only the SHA-256 is stored. */
export const customerLinkTokens = pgTable(
  'customer_link_tokens',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    loginId: uuid('login_id')
      .notNull()
      .references(() => customerLogins.id, { onDelete: 'cascade' }),
    kind: customerLinkKindEnum('kind').notNull(),
    tokenHash: text('token_hash').notNull().unique('customer_link_tokens_token_hash_unique'),
    expiresAt: tstz('expires_at').notNull(),
    usedAt: tstz('used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('customer_link_tokens_login_idx').on(t.loginId, t.kind),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
    customerTokenLookupPolicy(t.tokenHash),
  ],
).enableRLS();

/** Portal sessions: rotating refresh tokens of a customer login, as refresh_tokens are for staff. */
export const customerRefreshTokens = pgTable(
  'customer_refresh_tokens',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id, { onDelete: 'cascade' }),
    loginId: uuid('login_id')
      .notNull()
      .references(() => customerLogins.id, { onDelete: 'cascade' }),
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull().unique('customer_refresh_tokens_token_hash_unique'),
    expiresAt: tstz('expires_at').notNull(),
    revokedAt: tstz('revoked_at'),
    replacedBy: uuid('replaced_by').references((): AnyPgColumn => customerRefreshTokens.id, { onDelete: 'set null' }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
  },
  (t) => [
    index('customer_refresh_tokens_family_idx').on(t.familyId),
    index('customer_refresh_tokens_login_idx').on(t.loginId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
    customerTokenLookupPolicy(t.tokenHash),
  ],
).enableRLS();

/** A recovery code as stored: its SHA-256 and when it was spent. */
export interface StoredRecoveryCode {
  hash: string;
  usedAt: string | null;
}

/**
 * TOTP second factor of a staff user or a customer login (exactly one of the two). The secret is
 * sealed with the secret box (SECRETS_ENCRYPTION_KEY); `lastStep` is the last accepted time step,
 * so a code is never accepted twice.
 */
export const twoFactorFactors = pgTable(
  'two_factor_factors',
  {
    id: id(),
    tenantId: tenantId(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    customerLoginId: uuid('customer_login_id').references(() => customerLogins.id, { onDelete: 'cascade' }),
    /** NULL for a staff user's factor; the login's customer otherwise (customer policy). */
    customerId: uuid('customer_id').references(() => customers.id, { onDelete: 'cascade' }),
    secretSealed: text('secret_sealed').notNull(),
    confirmedAt: tstz('confirmed_at'),
    lastStep: bigint('last_step', { mode: 'number' }),
    recoveryCodes: jsonb('recovery_codes').$type<StoredRecoveryCode[]>().notNull().default(sql`'[]'::jsonb`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('two_factor_factors_principal_check', sql`(${t.userId} is null) <> (${t.customerLoginId} is null)`),
    uniqueIndex('two_factor_factors_user_unique').on(t.userId),
    uniqueIndex('two_factor_factors_customer_login_unique').on(t.customerLoginId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

export type CustomerLogin = typeof customerLogins.$inferSelect;
export type CustomerLinkToken = typeof customerLinkTokens.$inferSelect;
export type CustomerRefreshToken = typeof customerRefreshTokens.$inferSelect;
export type TwoFactorFactor = typeof twoFactorFactors.$inferSelect;
