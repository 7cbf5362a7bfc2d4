import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  jsonb,
  pgTable,
  text,
  uniqueIndex,
  uuid,
  type AnyPgColumn,
} from 'drizzle-orm/pg-core';
import { createdAt, deletedAt, id, tstz, updatedAt } from './columns.js';
import { actorTypeEnum, userRoleEnum } from './enums.js';
import { auditSealScanPolicy, loginLookupPolicy, refreshLookupPolicy, staffInvitationLookupPolicy, tenantIsolationPolicy } from './rls.js';

// tenants has NO row-level security: it is looked up by slug before a tenant is known.
export const tenants = pgTable(
  'tenants',
  {
    id: id(),
    slug: text('slug').notNull().unique('tenants_slug_unique'),
    name: text('name').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    /** Staff roles that must sign in with a second factor (modules/two-factor). */
    twoFactorStaffRoles: userRoleEnum('two_factor_staff_roles').array().notNull().default(sql`'{}'::user_role[]`),
    /** Customers (client portal) must sign in with a second factor. */
    twoFactorCustomers: boolean('two_factor_customers').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [check('tenants_slug_check', sql`${t.slug} ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'`)],
);

/** `tenant_id uuid NOT NULL REFERENCES tenants ON DELETE RESTRICT`, for every tenant-owned table. */
export const tenantId = () =>
  uuid('tenant_id')
    .notNull()
    .references(() => tenants.id, { onDelete: 'restrict' });

export const users = pgTable(
  'users',
  {
    id: id(),
    tenantId: tenantId(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: userRoleEnum('role').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    lastLoginAt: tstz('last_login_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: deletedAt(),
  },
  (t) => [
    // Login is by email alone, so an email is unique across all tenants.
    uniqueIndex('users_email_lower_unique').on(sql`lower(${t.email})`),
    index('users_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
    loginLookupPolicy(t.email),
  ],
).enableRLS();

/**
 * Staff invitations: a tenant ADMIN invites an email address, and the user is created only when
 * the owner of that address accepts with a password. Nothing the inviting tenant sees depends on
 * whether the address has an account in another tenant (emails are unique across the install):
 * only the person accepting learns it. Only the SHA-256 of the link's token is stored.
 */
export const staffInvitations = pgTable(
  'staff_invitations',
  {
    id: id(),
    tenantId: tenantId(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: userRoleEnum('role').notNull(),
    tokenHash: text('token_hash').notNull().unique('staff_invitations_token_hash_unique'),
    invitedBy: uuid('invited_by').references(() => users.id, { onDelete: 'set null' }),
    expiresAt: tstz('expires_at').notNull(),
    acceptedAt: tstz('accepted_at'),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    revokedAt: tstz('revoked_at'),
    createdAt: createdAt(),
  },
  (t) => [
    // One open invitation per address in a tenant: inviting again replaces it.
    uniqueIndex('staff_invitations_open_email_unique').on(t.tenantId, sql`lower(${t.email})`).where(sql`${t.acceptedAt} is null and ${t.revokedAt} is null`),
    index('staff_invitations_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    tenantIsolationPolicy(t.tenantId),
    staffInvitationLookupPolicy(t.tokenHash),
  ],
).enableRLS();

export type StaffInvitation = typeof staffInvitations.$inferSelect;

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: id(),
    tenantId: tenantId(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    familyId: uuid('family_id').notNull(),
    tokenHash: text('token_hash').notNull().unique('refresh_tokens_token_hash_unique'),
    expiresAt: tstz('expires_at').notNull(),
    revokedAt: tstz('revoked_at'),
    replacedBy: uuid('replaced_by').references((): AnyPgColumn => refreshTokens.id, {
      onDelete: 'set null',
    }),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
  },
  (t) => [
    index('refresh_tokens_family_idx').on(t.familyId),
    index('refresh_tokens_user_idx').on(t.userId),
    tenantIsolationPolicy(t.tenantId),
    refreshLookupPolicy(t.tokenHash),
  ],
).enableRLS();

export const auditLogs = pgTable(
  'audit_logs',
  {
    id: id(),
    /** Insertion order, for the per-tenant hash chain and for paging. */
    seq: bigint('seq', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    tenantId: tenantId(),
    actorType: actorTypeEnum('actor_type').notNull(),
    /** No foreign key: the log outlives deleted users. */
    actorUserId: uuid('actor_user_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    requestId: text('request_id'),
    before: jsonb('before').$type<Record<string, unknown>>(),
    after: jsonb('after').$type<Record<string, unknown>>(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    /**
     * The hash chain, written once by the sealer after the row's transaction committed
     * (modules/audit/audit-seal.ts): null until then. `chainSeq` is the row's place in its
     * tenant's chain (1, 2, 3...), `prevHash` the previous row's hash (null for the first).
     */
    chainSeq: bigint('chain_seq', { mode: 'number' }),
    prevHash: text('prev_hash'),
    hash: text('hash'),
    sealedAt: tstz('sealed_at'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('audit_logs_tenant_chain_seq_unique').on(t.tenantId, t.chainSeq),
    index('audit_logs_unsealed_idx')
      .on(t.tenantId, t.seq)
      .where(sql`${t.hash} is null`),
    index('audit_logs_tenant_seq_idx').on(t.tenantId, t.seq),
    index('audit_logs_tenant_action_seq_idx').on(t.tenantId, t.action, t.seq),
    index('audit_logs_tenant_target_idx').on(t.tenantId, t.targetType, t.targetId),
    index('audit_logs_tenant_actor_seq_idx').on(t.tenantId, t.actorUserId, t.seq),
    index('audit_logs_tenant_created_idx').on(t.tenantId, t.createdAt),
    tenantIsolationPolicy(t.tenantId),
    auditSealScanPolicy(t.hash),
  ],
).enableRLS();

export type Tenant = typeof tenants.$inferSelect;
export type NewTenant = typeof tenants.$inferInsert;
export type User = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
export type RefreshToken = typeof refreshTokens.$inferSelect;
export type NewRefreshToken = typeof refreshTokens.$inferInsert;
export type AuditLog = typeof auditLogs.$inferSelect;
export type NewAuditLog = typeof auditLogs.$inferInsert;
