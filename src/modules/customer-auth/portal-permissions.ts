import type { CustomerRole } from '../../db/schema/index.js';

/**
 * The client portal's permission matrix (staff have theirs in modules/auth/permissions.ts). Every
 * /api/portal route names one of these in `config.portal`, or is `config.public`.
 * OWNER: everything; BILLING: the account's billing side; TECHNICAL: services and DNS.
 */
const ALL: readonly CustomerRole[] = ['OWNER', 'BILLING', 'TECHNICAL'];

export const portalPermissionMatrix = {
  /** Own login: profile read, own sessions, password, second factor, logout. */
  'portal:self': ALL,
  /** Read the account's services and DNS. */
  'portal:read': ALL,
  'portal:billing': ['OWNER', 'BILLING'],
  'portal:technical': ['OWNER', 'TECHNICAL'],
  /** The account itself: profile changes, contacts (other logins). */
  'portal:owner': ['OWNER'],
} as const satisfies Record<string, readonly CustomerRole[]>;

export type PortalPermission = keyof typeof portalPermissionMatrix;

export function isPortalPermission(value: string): value is PortalPermission {
  return Object.hasOwn(portalPermissionMatrix, value);
}

export function customerRoleHas(role: CustomerRole, permission: PortalPermission): boolean {
  const roles: readonly CustomerRole[] = portalPermissionMatrix[permission];
  return roles.includes(role);
}
