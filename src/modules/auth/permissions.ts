import type { UserRole } from '../../db/schema/index.js';

/**
 * THE permission matrix: every route names one permission, and this file says which roles hold
 * it. Roles, high to low: SUPER_ADMIN (all tenants) > ADMIN > BILLING, SUPPORT > READ_ONLY.
 * READ_ONLY holds only `*:read` permissions (and its own session): it can read, never write.
 */
const ALL: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];
const ADMINS: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN'];

export const permissionMatrix = {
  /** Own session: GET /auth/me, POST /auth/logout. */
  'session:self': ALL,
  /** The dashboard's figures (GET /api/dashboard): counts and timings, no customer data. */
  'dashboard:read': ALL,

  'users:read': ADMINS,
  /** Invite, change, disable and delete staff of the tenant. */
  'users:write': ADMINS,
  /**
   * Create a user with a password directly. Emails are unique across the install, so the answer
   * (409) would tell a tenant that an address is used elsewhere: tenant ADMINs invite instead.
   */
  'users:create': ['SUPER_ADMIN'],
  'tenants:read': ['SUPER_ADMIN'],
  'tenants:write': ['SUPER_ADMIN'],
  'audit:read': ADMINS,

  'catalog:read': ALL,
  'catalog:write': ADMINS,

  'customers:read': ALL,
  /** (Re)send a customer's client portal invitation. */
  'customers:invite': ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT'],
  'orders:read': ALL,
  'subscriptions:read': ALL,
  'subscriptions:suspend': ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT'],
  'subscriptions:terminate': ADMINS,
  'billing:read': ALL,
  'billing:write': ['SUPER_ADMIN', 'ADMIN', 'BILLING'],
  'jobs:read': ALL,
  'jobs:retry': ['SUPER_ADMIN', 'ADMIN', 'SUPPORT'],

  'dns:read': ALL,
  'dns:write': ['SUPER_ADMIN', 'ADMIN', 'SUPPORT'],
  /** Servers are the platform's: a tenant's admins see them, only the platform's SUPER_ADMIN registers or changes one. */
  'servers:read': ADMINS,
  'servers:write': ['SUPER_ADMIN'],
  'mail:read': ALL,
  /** Mailboxes (create, quota, password, delete) and aliases. */
  'mail:write': ['SUPER_ADMIN', 'ADMIN', 'SUPPORT'],
  'certificates:read': ALL,
  'certificates:renew': ['SUPER_ADMIN', 'ADMIN', 'SUPPORT'],
  'notifications:read': ADMINS,
  'notifications:write': ADMINS,
  /** Outgoing webhook endpoints, their secrets and delivery logs. */
  'webhooks:read': ADMINS,
  'webhooks:write': ADMINS,
} as const satisfies Record<string, readonly UserRole[]>;

export type Permission = keyof typeof permissionMatrix;

export function isPermission(value: string): value is Permission {
  return Object.hasOwn(permissionMatrix, value);
}

export function roleHas(role: UserRole, permission: Permission): boolean {
  const roles: readonly UserRole[] = permissionMatrix[permission];
  return roles.includes(role);
}

/** Rank for "nobody can raise a user above their own role"; BILLING and SUPPORT are peers. */
export const roleRank: Readonly<Record<UserRole, number>> = {
  SUPER_ADMIN: 4,
  ADMIN: 3,
  BILLING: 2,
  SUPPORT: 2,
  READ_ONLY: 1,
};

/** May `actor` give a user the role `target` (create, or change a role to it)? */
export function canAssignRole(actor: UserRole, target: UserRole): boolean {
  return roleRank[target] <= roleRank[actor];
}
