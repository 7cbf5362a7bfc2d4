import { randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { refreshTokens, tenants, users, type User } from '../../db/schema/index.js';
import { LOGIN_EMAIL_SETTING, REFRESH_TOKEN_HASH_SETTING, TENANT_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { AuthContext } from './auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { ClientMeta, LoginBody, LoginOutcome, LoginResult, SessionUser, TokenPair, ChallengeIssued } from './auth.types.js';
import type { LoginThrottle } from './login-throttle.js';
import type { SessionInvalidator } from './session-cache.js';
import { dummyPasswordHash, verifyPassword } from './password.js';
import { hashRefreshToken, newRefreshToken, signAccessToken } from './tokens.js';

export interface AuthDeps {
  env: Env;
  db: Database;
  throttle: LoginThrottle;
  sessions: SessionInvalidator;
  /** A write done off the response path failed (logged by the router). */
  onBackgroundError?: (error: unknown) => void;
  /** Users with a second factor, or whose tenant requires one for their role, get a challenge instead of tokens. */
  secondFactor?: StaffSecondFactor;
}

export interface StaffSecondFactor {
  challengeFor(user: User): Promise<ChallengeIssued | null>;
}

const INVALID_CREDENTIALS = 'Invalid email or password';
const INVALID_REFRESH = 'The refresh token is not valid';

function sessionUser(user: Pick<User, 'id' | 'email' | 'name' | 'role' | 'tenantId'>): SessionUser {
  return { id: user.id, email: user.email, name: user.name, role: user.role, tenantId: user.tenantId };
}

export function actorFor(meta: ClientMeta, userId: string | null): AuditActor {
  return { type: 'USER', userId, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId };
}

/** Login is by email alone: the users row is read through the narrow `login_lookup` policy. */
async function findLoginUser(db: Database, email: string) {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${LOGIN_EMAIL_SETTING}, ${email}, true)`);
    const [row] = await tx
      .select({ user: users, tenantActive: tenants.isActive })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(sql`lower(${users.email})`, email), isNull(users.deletedAt)));
    return row;
  });
}

/** A new refresh token row in `familyId` (a new login starts a new family). */
async function issueRefreshToken(tx: Tx, env: Env, user: Pick<User, 'id' | 'tenantId'>, familyId: string, meta: ClientMeta) {
  const { token, hash } = newRefreshToken();
  const [row] = await tx
    .insert(refreshTokens)
    .values({
      tenantId: user.tenantId,
      userId: user.id,
      familyId,
      tokenHash: hash,
      expiresAt: new Date(Date.now() + env.JWT_REFRESH_EXPIRES_IN * 1000),
      ip: meta.ip,
      userAgent: meta.userAgent,
    })
    .returning({ id: refreshTokens.id });
  if (!row) throw new Error('insert into refresh_tokens returned no row');
  return { token, id: row.id };
}

async function revokeFamily(tx: Tx, familyId: string): Promise<void> {
  await tx
    .update(refreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

/**
 * Email + password → access token, refresh token and the user. Wrong email and wrong password
 * give the same 401 after the same bcrypt work; a disabled user or inactive tenant gets 403 only
 * once the password is right (so a guess learns nothing about the account's state).
 */
export async function login(deps: AuthDeps, body: LoginBody, meta: ClientMeta): Promise<LoginOutcome> {
  const { db, throttle } = deps;
  const email = body.email.toLowerCase();
  await throttle.assertAllowed(meta.ip, email);

  const found = await findLoginUser(db, email);
  const passwordOk = await verifyPassword(body.password, found?.user.passwordHash ?? (await dummyPasswordHash()));

  if (!found || !passwordOk) {
    await throttle.recordFailure(meta.ip, email);
    if (found) {
      // Off the response path: awaiting this write made a wrong password on a known account
      // measurably slower than an unknown email, which told a guesser the account exists.
      void withTenant(db, found.user.tenantId, (tx) =>
        recordAudit(tx, { tenantId: found.user.tenantId, actor: actorFor(meta, null), action: 'auth.login_failed', targetType: 'user', targetId: found.user.id, metadata: { reason: 'wrong password' } }),
      ).catch((error: unknown) => deps.onBackgroundError?.(error));
    }
    throw new AppError('UNAUTHENTICATED', INVALID_CREDENTIALS);
  }

  const { user } = found;
  const refusal = !user.isActive ? 'This user is disabled' : !found.tenantActive ? 'This tenant is deactivated' : undefined;
  if (refusal) {
    await withTenant(db, user.tenantId, (tx) =>
      recordAudit(tx, { tenantId: user.tenantId, actor: actorFor(meta, user.id), action: 'auth.login_denied', targetType: 'user', targetId: user.id, metadata: { reason: refusal } }),
    );
    throw new AppError('FORBIDDEN', refusal);
  }

  await throttle.recordSuccess(meta.ip, email);
  const challenge = await deps.secondFactor?.challengeFor(user);
  if (challenge) return { twoFactorRequired: true, ...challenge };
  return startStaffSession(deps, user, meta, 'password');
}

/** A new session (refresh family) for the user: tokens, audited, last login stamped. */
export async function startStaffSession(deps: Pick<AuthDeps, 'env' | 'db'>, user: User, meta: ClientMeta, via: string): Promise<LoginResult> {
  const { env, db } = deps;
  const familyId = randomUUID();
  const refresh = await withTenant(db, user.tenantId, async (tx) => {
    await tx.update(users).set({ lastLoginAt: new Date() }).where(eq(users.id, user.id));
    const issued = await issueRefreshToken(tx, env, user, familyId, meta);
    await recordAudit(tx, { tenantId: user.tenantId, actor: actorFor(meta, user.id), action: 'auth.login', targetType: 'user', targetId: user.id, metadata: { sessionId: familyId, via } });
    return issued;
  });
  const token = await signAccessToken(env, { userId: user.id, tenantId: user.tenantId, sessionId: familyId, role: user.role });
  return { token, refreshToken: refresh.token, user: sessionUser(user) };
}

type RefreshOutcome = { ok: true; pair: TokenPair } | { ok: false; message: string; endedSession?: string };

/**
 * Rotates a refresh token: the presented one is spent and a new one of the same family issued.
 * Presenting a spent token again means it was copied: the whole family (every session descended
 * from that login) is revoked, recorded, and the caller gets 401. The revocation commits even
 * though the request fails, which is why outcomes are returned, not thrown, inside the transaction.
 */
export async function refresh(deps: AuthDeps, presented: string, meta: ClientMeta): Promise<TokenPair> {
  const { env, db } = deps;
  const hash = hashRefreshToken(presented);
  const outcome = await db.transaction(async (tx): Promise<RefreshOutcome> => {
    await tx.execute(sql`select set_config(${REFRESH_TOKEN_HASH_SETTING}, ${hash}, true)`);
    const [found] = await tx.select({ id: refreshTokens.id, tenantId: refreshTokens.tenantId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, hash));
    if (!found) return { ok: false, message: INVALID_REFRESH };

    // From here on the tenant is known: lock the row so concurrent refreshes of one token serialise.
    await tx.execute(sql`select set_config(${TENANT_SETTING}, ${found.tenantId}, true)`);
    const [current] = await tx.select().from(refreshTokens).where(eq(refreshTokens.id, found.id)).for('update');
    if (!current) return { ok: false, message: INVALID_REFRESH };

    if (current.replacedBy !== null) {
      await revokeFamily(tx, current.familyId);
      await recordAudit(tx, {
        tenantId: current.tenantId,
        actor: actorFor(meta, current.userId),
        action: 'auth.refresh_token_reused',
        targetType: 'user',
        targetId: current.userId,
        metadata: { sessionId: current.familyId, tokenId: current.id },
      });
      return { ok: false, message: 'This refresh token was already used; the session has been revoked', endedSession: current.familyId };
    }
    if (current.revokedAt !== null) return { ok: false, message: 'The session has ended' };
    if (current.expiresAt.getTime() <= Date.now()) return { ok: false, message: 'The refresh token has expired' };

    const [owner] = await tx
      .select({ user: users, tenantActive: tenants.isActive })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(users.id, current.userId), isNull(users.deletedAt)));
    if (!owner || !owner.user.isActive || !owner.tenantActive) {
      await revokeFamily(tx, current.familyId);
      return { ok: false, message: INVALID_REFRESH, endedSession: current.familyId };
    }

    const next = await issueRefreshToken(tx, env, owner.user, current.familyId, meta);
    await tx.update(refreshTokens).set({ revokedAt: new Date(), replacedBy: next.id }).where(eq(refreshTokens.id, current.id));
    const token = await signAccessToken(env, { userId: owner.user.id, tenantId: owner.user.tenantId, sessionId: current.familyId, role: owner.user.role });
    return { ok: true, pair: { token, refreshToken: next.token } };
  });
  if (!outcome.ok) {
    // Committed: the session's access tokens stop working now, in every API process.
    if (outcome.endedSession) await deps.sessions.invalidate({ session: outcome.endedSession });
    throw new AppError('UNAUTHENTICATED', outcome.message);
  }
  return outcome.pair;
}

/** Ends the session: revokes the refresh token family of the access token's login, and with it the access tokens. */
export async function logout(deps: Pick<AuthDeps, 'db' | 'sessions'>, auth: AuthContext, meta: ClientMeta): Promise<void> {
  await withTenant(deps.db, auth.homeTenantId, async (tx) => {
    await revokeFamily(tx, auth.sessionId);
    await recordAudit(tx, { tenantId: auth.homeTenantId, actor: actorFor(meta, auth.userId), action: 'auth.logout', targetType: 'user', targetId: auth.userId, metadata: { sessionId: auth.sessionId } });
  });
  await deps.sessions.invalidate({ session: auth.sessionId });
}

export function me(auth: AuthContext): SessionUser {
  return { id: auth.userId, email: auth.email, name: auth.name, role: auth.role, tenantId: auth.homeTenantId };
}
