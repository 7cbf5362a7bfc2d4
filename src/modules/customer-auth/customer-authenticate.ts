import { and, eq, isNull } from 'drizzle-orm';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { customerLogins, customers, tenants } from '../../db/schema/index.js';
import { withCustomer } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { AuditActor } from '../audit/audit.service.js';
import type { CustomerAuthContext } from './customer-auth-context.js';
import { sessionIsOpen } from './customer-auth.service.js';
import { verifyCustomerToken } from './customer-tokens.js';
import { customerRoleHas, type PortalPermission } from './portal-permissions.js';

declare module 'fastify' {
  interface FastifyRequest {
    customer?: CustomerAuthContext;
  }
  interface FastifyContextConfig {
    /** A /api/portal route: the portal permission (customer-auth/portal-permissions.ts) the login's role must hold. */
    portal?: PortalPermission;
  }
}

/** The customer context of a portal route; throws if called on a public one (a programming error). */
export function customerOf(request: FastifyRequest): CustomerAuthContext {
  if (!request.customer) throw new Error(`route ${request.routeOptions.url} has no customer context: is it public?`);
  return request.customer;
}


/** The audit actor of a portal request: the customer login. */
export function customerActorOf(request: FastifyRequest): AuditActor {
  return { type: 'CUSTOMER', userId: request.customer?.loginId ?? null, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
}

/** Every /api/portal route declares `config.public` or `config.portal`, checked when the app starts. */
export function assertPortalRouteDeclaresAccess(route: RouteOptions): void {
  const config: { public?: boolean; portal?: string; permission?: string } = route.config ?? {};
  if (config.permission) throw new Error(`portal route ${String(route.method)} ${route.url} names a staff permission; use config.portal`);
  if (!config.public === !config.portal) throw new Error(`portal route ${String(route.method)} ${route.url} must declare exactly one of config.public and config.portal`);
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * onRequest hook of the /api/portal plugin: a customer token (portal audience; a staff token is
 * 401 here), then the login, its customer, tenant and session re-read on every request (with the
 * customer set for row-level security), so a removed login, ended session or deactivated tenant
 * takes effect at once.
 */
export function createCustomerAuthenticate(deps: { env: Env; db: Database }) {
  return async function authenticateCustomer(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const config = request.routeOptions.config;
    if (config.public) return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match?.[1]) throw new AppError('UNAUTHENTICATED', 'A bearer token is required (Authorization: Bearer <token>)');
    const claims = await verifyCustomerToken(deps.env, match[1]);
    const current = await withCustomer(deps.db, claims.tid, claims.cid, async (tx) => {
      const [row] = await tx
        .select({ login: customerLogins, customerDeletedAt: customers.deletedAt, tenantActive: tenants.isActive })
        .from(customerLogins)
        .innerJoin(customers, eq(customers.id, customerLogins.customerId))
        .innerJoin(tenants, eq(tenants.id, customerLogins.tenantId))
        .where(and(eq(customerLogins.id, claims.sub), eq(customerLogins.customerId, claims.cid), isNull(customerLogins.deletedAt)));
      if (!row) return undefined;
      return { ...row, open: await sessionIsOpen(tx, row.login.id, claims.sid) };
    });
    if (!current || current.customerDeletedAt !== null) throw new AppError('UNAUTHENTICATED', 'The access token is not valid');
    if (!current.login.isActive) throw new AppError('UNAUTHENTICATED', 'This login is disabled');
    if (!current.tenantActive) throw new AppError('UNAUTHENTICATED', 'This tenant is deactivated');
    if (!current.open) throw new AppError('UNAUTHENTICATED', 'The session has ended');
    const permission = config.portal;
    if (!permission || !customerRoleHas(current.login.role, permission)) {
      throw new AppError('FORBIDDEN', `Your portal role (${current.login.role}) may not do this`);
    }
    const { login } = current;
    request.customer = { loginId: login.id, customerId: login.customerId, tenantId: login.tenantId, role: login.role, email: login.email, name: login.name, sessionId: claims.sid };
  };
}
