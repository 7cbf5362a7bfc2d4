import { eq } from 'drizzle-orm';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { tenants, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { AuthContext } from './auth-context.js';
import type { ClientMeta } from './auth.types.js';
import { roleHas, type Permission } from './permissions.js';
import type { SessionCache } from './session-cache.js';
import { verifyAccessToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth?: AuthContext;
  }
  interface FastifyContextConfig {
    /** The permission (see modules/auth/permissions.ts) a caller's role must hold. */
    permission?: Permission;
  }
}

export const ACTING_TENANT_HEADER = 'x-mpanel-tenant';

/** The auth context of an authenticated route; throws if called on a public one (a programming error). */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new Error(`route ${request.routeOptions.url} has no auth context: is it public?`);
  return request.auth;
}

/**
 * The permission a route asks for, or null for a public one. Every /api route declares either
 * `config.public` or `config.permission`; a route with neither is a mistake caught when the app
 * starts, not a route left open.
 */
function declaredPermission(route: RouteOptions): Permission | null {
  const config: { public?: boolean; permission?: Permission } = route.config ?? {};
  if (config.public) return null;
  if (!config.permission) throw new Error(`route ${String(route.method)} ${route.url} declares neither config.public nor config.permission`);
  return config.permission;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * The staff API's access, wired per route (an onRoute hook for the /api scope): every route must
 * declare config.public or config.permission; a public route gets no hook at all (the catalog and
 * the probes pay nothing for authentication, not even a hook that returns at once), any other
 * one the authenticate hook for its permission, first among its onRequest hooks.
 */
export function authenticateRoutes(deps: { env: Env; db: Database; sessions: SessionCache }): (route: RouteOptions) => void {
  return (route) => {
    const permission = declaredPermission(route);
    if (permission === null) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [authenticate(deps, permission), ...own];
  };
}

/**
 * onRequest hook: verifies the bearer token, then checks the caller's user, tenant and session
 * (session-cache.ts: in memory, at most AUTH_CACHE_TTL_MS old, dropped on every change), so a
 * disabled user, a changed role, a deactivated tenant or an ended session takes effect at once.
 */
function authenticate(deps: { env: Env; db: Database; sessions: SessionCache }, permission: Permission) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match?.[1]) throw new AppError('UNAUTHENTICATED', 'A bearer token is required (Authorization: Bearer <token>)');
    const claims = await verifyAccessToken(deps.env, match[1]);

    const current = await deps.sessions.get(claims);
    if (!current) throw new AppError('UNAUTHENTICATED', 'The access token is not valid');
    if (current.sessionEnded) throw new AppError('UNAUTHENTICATED', 'The session has ended; log in again');
    if (!current.userActive) throw new AppError('UNAUTHENTICATED', 'This user is disabled');
    if (!current.tenantActive) throw new AppError('UNAUTHENTICATED', 'This tenant is deactivated');

    if (!roleHas(current.role, permission)) {
      throw new AppError('FORBIDDEN', `Your role (${current.role}) may not do this`);
    }

    let tenantId = claims.tid;
    const acting = request.headers[ACTING_TENANT_HEADER];
    if (typeof acting === 'string' && acting.toLowerCase() !== claims.tid) {
      tenantId = await enterOtherTenant(deps.db, request, current.role, current.userId, acting.toLowerCase());
    }
    request.auth = { userId: current.userId, email: current.email, name: current.name, role: current.role, homeTenantId: claims.tid, tenantId, sessionId: claims.sid };
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The one cross-tenant path: a SUPER_ADMIN names the tenant to act in with X-Mpanel-Tenant.
 * Each such request is recorded in that tenant's audit log. Anyone else naming another tenant
 * gets 404 (as for any object of another tenant).
 */
async function enterOtherTenant(db: Database, request: FastifyRequest, role: UserRole, userId: string, tenantId: string): Promise<string> {
  if (role !== 'SUPER_ADMIN' || !UUID.test(tenantId)) throw new AppError('NOT_FOUND', 'Tenant not found');
  const [target] = await db.select({ id: tenants.id, isActive: tenants.isActive }).from(tenants).where(eq(tenants.id, tenantId));
  if (!target) throw new AppError('NOT_FOUND', 'Tenant not found');
  // A deactivated tenant is frozen: it may be inspected, not changed (reactivating it is a
  // /api/tenants route, in the SUPER_ADMIN's own tenant).
  if (!target.isActive && request.method !== 'GET' && request.method !== 'HEAD') {
    throw new AppError('FORBIDDEN', 'This tenant is deactivated: acting in it is read-only');
  }
  await withTenant(db, target.id, (tx) =>
    recordAudit(tx, {
      tenantId: target.id,
      actor: { ...actorOf(request), userId },
      action: 'superadmin.cross_tenant_access',
      metadata: { method: request.method, route: request.routeOptions.url ?? request.url },
    }),
  );
  return target.id;
}

/** The audit actor of a request: the authenticated user (if any), client IP, user agent, request id. */
/** Where a request comes from, for throttling and the audit log (staff and portal routes alike). */
export const clientMeta = (request: FastifyRequest): ClientMeta => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id });

export function actorOf(request: FastifyRequest): AuditActor {
  return { type: 'USER', userId: request.auth?.userId ?? null, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id };
}
