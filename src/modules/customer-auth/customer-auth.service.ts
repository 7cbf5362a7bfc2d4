import { randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { customerLogins, customerRefreshTokens, customers, tenants, type Customer, type CustomerLogin } from '../../db/schema/index.js';
import { CUSTOMER_SETTING, CUSTOMER_TOKEN_HASH_SETTING, TENANT_SETTING } from '../../db/schema/rls.js';
import { withCustomer, withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError, conflict, notFound } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { ChallengeIssued, ClientMeta, TwoFactorChallenge } from '../auth/auth.types.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import { dummyPasswordHash, hashPassword, verifyPassword } from '../auth/password.js';
import { hashRefreshToken, newRefreshToken } from '../auth/tokens.js';
import { resolvePublicTenant } from '../tenants/tenant-resolution.js';
import type { CustomerAuthContext } from './customer-auth-context.js';
import type { CustomerLoginBody, CustomerSession, CustomerSessionLogin, CustomerTokenPair, LinkRequestBody } from './customer-auth.types.js';
import type { CustomerLinkMail, CustomerLinkMailer } from './customer-link-mailer.js';
import { issueLink, useLink } from './customer-links.js';
import { signCustomerToken } from './customer-tokens.js';

/**
 * Customer accounts and their sessions (client portal). A customer account has logins (the owner,
 * made when the first order is accepted, and the contacts the owner invites); each signs in with
 * tenant + email + password, or with a one-time link, and gets a session of its own principal:
 * a customer access token (its own audience) and a rotating refresh token, as staff get.
 */
export interface CustomerAuthDeps {
  env: Env;
  db: Database;
  logger: Logger;
  throttle: LoginThrottle;
  mailer: CustomerLinkMailer;
  /** Second factor (modules/two-factor): a challenge instead of tokens when the login needs one. */
  secondFactor?: CustomerSecondFactor;
}

export interface CustomerSecondFactor {
  /** A challenge when the login must present a second factor, else null (tokens are issued). */
  challengeFor(login: CustomerLogin, tenantRequires: boolean): Promise<ChallengeIssued | null>;
}

export type CustomerLoginOutcome = CustomerSession | TwoFactorChallenge;

const INVALID_CREDENTIALS = 'Invalid email or password';
const INVALID_REFRESH = 'The refresh token is not valid';

export const customerActor = (meta: ClientMeta, loginId: string | null): AuditActor => ({
  type: 'CUSTOMER',
  userId: loginId,
  ip: meta.ip,
  userAgent: meta.userAgent,
  requestId: meta.requestId,
});

export function sessionLogin(login: Pick<CustomerLogin, 'id' | 'customerId' | 'tenantId' | 'email' | 'name' | 'role'>): CustomerSessionLogin {
  return { id: login.id, customerId: login.customerId, tenantId: login.tenantId, email: login.email, name: login.name, role: login.role };
}

/** Sends links after their transaction committed; a failed send is logged, the link stays valid (a resend replaces it). */
async function deliver(deps: Pick<CustomerAuthDeps, 'mailer' | 'logger'>, mail: CustomerLinkMail | null | undefined): Promise<void> {
  if (!mail) return;
  try {
    await deps.mailer.send(mail);
  } catch (error) {
    deps.logger.error({ err: error, kind: mail.kind, loginId: mail.loginId }, 'could not send a customer link');
  }
}

// ---------------------------------------------------------------------------------------------
// Invitations

/**
 * At order intake, in its transaction: the customer's owner login and its invitation link, the
 * first time the customer orders (a customer with a login already gets nothing). The returned
 * mail goes out after commit (acceptOrder). An email already used by another login of the
 * tenant gets no login (logged): staff can resend the invitation once that is sorted out.
 */
export async function inviteOwnerOnFirstOrder(tx: Tx, portalUrl: string, customer: Pick<Customer, 'id' | 'tenantId' | 'email' | 'name'>): Promise<CustomerLinkMail | null> {
  const [existing] = await tx.select({ id: customerLogins.id }).from(customerLogins).where(eq(customerLogins.customerId, customer.id)).limit(1);
  if (existing) return null;
  const [login] = await tx
    .insert(customerLogins)
    .values({ tenantId: customer.tenantId, customerId: customer.id, email: customer.email.toLowerCase(), name: customer.name, role: 'OWNER' })
    .onConflictDoNothing()
    .returning();
  if (!login) return null;
  await recordAudit(tx, {
    tenantId: customer.tenantId,
    actor: { type: 'SYSTEM' },
    action: 'customer_login.invited',
    targetType: 'customer_login',
    targetId: login.id,
    after: { customerId: customer.id, email: login.email, role: login.role },
    metadata: { reason: 'first order accepted' },
  });
  return issueLink(tx, login, 'INVITATION', portalUrl);
}

/**
 * Staff: (re)sends the owner's invitation (a new 72 h link; the previous one stops working). The
 * answer says where it went and until when, never the link. A customer made before portal
 * accounts existed gets its owner login now. 409 once the owner has set a password (password
 * reset is the way then).
 */
export async function resendInvitation(deps: CustomerAuthDeps, tenantId: string, customerId: string, actor: AuditActor): Promise<{ loginId: string; email: string; expiresAt: Date }> {
  const mail = await withTenant(deps.db, tenantId, async (tx) => {
    const [customer] = await tx.select().from(customers).where(and(eq(customers.tenantId, tenantId), eq(customers.id, customerId), isNull(customers.deletedAt)));
    if (!customer) throw notFound('Customer');
    let [owner] = await tx.select().from(customerLogins).where(and(eq(customerLogins.customerId, customer.id), eq(customerLogins.role, 'OWNER'), isNull(customerLogins.deletedAt)));
    if (!owner) {
      [owner] = await tx.insert(customerLogins).values({ tenantId, customerId: customer.id, email: customer.email.toLowerCase(), name: customer.name, role: 'OWNER' }).onConflictDoNothing().returning();
      if (!owner) throw conflict(`Another portal login of this tenant already uses ${customer.email}`);
    }
    if (owner.passwordHash !== null) throw conflict('The owner has already set a password; they can ask for a password reset');
    await recordAudit(tx, { tenantId, actor, action: 'customer_login.invited', targetType: 'customer_login', targetId: owner.id, after: { customerId: customer.id, email: owner.email, role: owner.role } });
    return issueLink(tx, owner, 'INVITATION', deps.env.PORTAL_URL);
  });
  await deliver(deps, mail);
  return { loginId: mail.loginId, email: mail.email, expiresAt: mail.expiresAt };
}

/** Accepting an invitation or a reset link: the login's password, every other session of it ended. */
export async function setPasswordWithLink(deps: CustomerAuthDeps, token: string, password: string, meta: ClientMeta): Promise<void> {
  const passwordHash = await hashPassword(password);
  await useLink(deps.db, token, ['INVITATION', 'PASSWORD_RESET'], async (tx, login, kind) => {
    await tx.update(customerLogins).set({ passwordHash }).where(eq(customerLogins.id, login.id));
    await revokeAllSessions(tx, login.id);
    await recordAudit(tx, {
      tenantId: login.tenantId,
      actor: customerActor(meta, login.id),
      action: 'customer_login.password_set',
      targetType: 'customer_login',
      targetId: login.id,
      metadata: { via: kind === 'INVITATION' ? 'invitation' : 'password reset' },
    });
  });
}

/** The login of `email` in the tenant, read with the tenant set (null when there is none). */
async function findLogin(tx: Tx, email: string): Promise<(CustomerLogin & { customerDeleted: boolean }) | undefined> {
  const [row] = await tx
    .select({ login: customerLogins, customerDeletedAt: customers.deletedAt })
    .from(customerLogins)
    .innerJoin(customers, eq(customers.id, customerLogins.customerId))
    .where(and(eq(sql`lower(${customerLogins.email})`, email), isNull(customerLogins.deletedAt)));
  return row ? { ...row.login, customerDeleted: row.customerDeletedAt !== null } : undefined;
}

/**
 * Password reset or sign-in link by email. The answer is the same whether or not the email has a
 * login (no account discovery); requests count against the login throttle like failed logins,
 * so the endpoint cannot be used to flood a mailbox.
 */
export async function sendLinkByEmail(deps: CustomerAuthDeps, body: LinkRequestBody, kind: 'PASSWORD_RESET' | 'SIGN_IN', meta: ClientMeta): Promise<void> {
  const tenant = await resolvePublicTenant(deps.db, body.tenant, 'body/tenant');
  const account = `${tenant.id}:${body.email}`;
  await deps.throttle.assertAllowed(meta.ip, account);
  await deps.throttle.recordFailure(meta.ip, account);
  const mail = await withTenant(deps.db, tenant.id, async (tx) => {
    const login = await findLogin(tx, body.email);
    // A sign-in link is for a login that has a password already (an invitation is accepted first).
    if (!login || !login.isActive || login.customerDeleted || (kind === 'SIGN_IN' && login.passwordHash === null)) return null;
    await recordAudit(tx, {
      tenantId: tenant.id,
      actor: customerActor(meta, null),
      action: kind === 'SIGN_IN' ? 'customer_auth.sign_in_link_sent' : 'customer_login.password_reset_sent',
      targetType: 'customer_login',
      targetId: login.id,
    });
    return issueLink(tx, login, kind, deps.env.PORTAL_URL);
  });
  await deliver(deps, mail);
}

// ---------------------------------------------------------------------------------------------
// Sessions

async function issueRefreshToken(tx: Tx, env: Env, login: Pick<CustomerLogin, 'id' | 'tenantId' | 'customerId'>, familyId: string, meta: ClientMeta) {
  const { token, hash } = newRefreshToken();
  const [row] = await tx
    .insert(customerRefreshTokens)
    .values({ tenantId: login.tenantId, customerId: login.customerId, loginId: login.id, familyId, tokenHash: hash, expiresAt: new Date(Date.now() + env.JWT_REFRESH_EXPIRES_IN * 1000), ip: meta.ip, userAgent: meta.userAgent })
    .returning({ id: customerRefreshTokens.id });
  if (!row) throw new Error('insert into customer_refresh_tokens returned no row');
  return { token, id: row.id };
}

async function revokeFamily(tx: Tx, familyId: string): Promise<number> {
  const revoked = await tx
    .update(customerRefreshTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(customerRefreshTokens.familyId, familyId), isNull(customerRefreshTokens.revokedAt)))
    .returning({ id: customerRefreshTokens.id });
  return revoked.length;
}

export async function revokeAllSessions(tx: Tx, loginId: string): Promise<void> {
  await tx.update(customerRefreshTokens).set({ revokedAt: new Date() }).where(and(eq(customerRefreshTokens.loginId, loginId), isNull(customerRefreshTokens.revokedAt)));
}

/** A new session (refresh family) for the login: tokens, audited, last login stamped. */
export async function startCustomerSession(deps: Pick<CustomerAuthDeps, 'env' | 'db'>, login: CustomerLogin, meta: ClientMeta, via: string): Promise<CustomerSession> {
  const familyId = randomUUID();
  const refresh = await withCustomer(deps.db, login.tenantId, login.customerId, async (tx) => {
    await tx.update(customerLogins).set({ lastLoginAt: new Date() }).where(eq(customerLogins.id, login.id));
    const issued = await issueRefreshToken(tx, deps.env, login, familyId, meta);
    await recordAudit(tx, { tenantId: login.tenantId, actor: customerActor(meta, login.id), action: 'customer_auth.login', targetType: 'customer_login', targetId: login.id, metadata: { sessionId: familyId, via } });
    return issued;
  });
  const token = await signCustomerToken(deps.env, { loginId: login.id, tenantId: login.tenantId, customerId: login.customerId, sessionId: familyId, role: login.role });
  return { token, refreshToken: refresh.token, login: sessionLogin(login) };
}

async function tenantRequiresTwoFactor(db: Database, tenantId: string): Promise<boolean> {
  const [tenant] = await db.select({ required: tenants.twoFactorCustomers }).from(tenants).where(eq(tenants.id, tenantId));
  return tenant?.required ?? false;
}

/** Tokens, or a second-factor challenge when the login has one enrolled or the tenant requires it. */
async function finishSignIn(deps: CustomerAuthDeps, login: CustomerLogin, meta: ClientMeta, via: string): Promise<CustomerLoginOutcome> {
  if (deps.secondFactor) {
    const challenge = await deps.secondFactor.challengeFor(login, await tenantRequiresTwoFactor(deps.db, login.tenantId));
    if (challenge) return { twoFactorRequired: true, ...challenge };
  }
  return startCustomerSession(deps, login, meta, via);
}

/**
 * Tenant + email + password. Same rules as staff login: one 401 for a wrong email or password
 * after the same bcrypt work, throttled per IP and per account (Redis), failures audited.
 */
export async function customerLogin(deps: CustomerAuthDeps, body: CustomerLoginBody, meta: ClientMeta): Promise<CustomerLoginOutcome> {
  const tenant = await resolvePublicTenant(deps.db, body.tenant, 'body/tenant');
  const account = `${tenant.id}:${body.email}`;
  await deps.throttle.assertAllowed(meta.ip, account);
  const login = await withTenant(deps.db, tenant.id, (tx) => findLogin(tx, body.email));
  const passwordOk = await verifyPassword(body.password, login?.passwordHash ?? (await dummyPasswordHash()));
  if (!login || !passwordOk || login.passwordHash === null || !login.isActive || login.customerDeleted) {
    await deps.throttle.recordFailure(meta.ip, account);
    if (login) {
      await withTenant(deps.db, tenant.id, (tx) =>
        recordAudit(tx, { tenantId: tenant.id, actor: customerActor(meta, null), action: 'customer_auth.login_failed', targetType: 'customer_login', targetId: login.id, metadata: { reason: passwordOk ? 'login disabled' : 'wrong password' } }),
      );
    }
    throw new AppError('UNAUTHENTICATED', INVALID_CREDENTIALS);
  }
  await deps.throttle.recordSuccess(meta.ip, account);
  return finishSignIn(deps, login, meta, 'password');
}

/** Signs in with a one-time sign-in link (15 min); the second factor still applies. */
export async function signInWithLink(deps: CustomerAuthDeps, token: string, meta: ClientMeta): Promise<CustomerLoginOutcome> {
  const login = await useLink(deps.db, token, ['SIGN_IN'], (_tx, found) => Promise.resolve(found));
  return finishSignIn(deps, login, meta, 'sign-in link');
}

type RefreshOutcome = { ok: true; pair: CustomerTokenPair & { login: CustomerSessionLogin } } | { ok: false; message: string };

/** Rotation with reuse detection, as for staff (auth.service.ts refresh); with the login (a reloaded portal page needs it). */
export async function customerRefresh(deps: Pick<CustomerAuthDeps, 'env' | 'db'>, presented: string, meta: ClientMeta): Promise<CustomerTokenPair & { login: CustomerSessionLogin }> {
  const { env, db } = deps;
  const hash = hashRefreshToken(presented);
  const outcome = await db.transaction(async (tx): Promise<RefreshOutcome> => {
    await tx.execute(sql`select set_config(${CUSTOMER_TOKEN_HASH_SETTING}, ${hash}, true)`);
    const [found] = await tx
      .select({ id: customerRefreshTokens.id, tenantId: customerRefreshTokens.tenantId, customerId: customerRefreshTokens.customerId })
      .from(customerRefreshTokens)
      .where(eq(customerRefreshTokens.tokenHash, hash));
    if (!found) return { ok: false, message: INVALID_REFRESH };
    await tx.execute(
      sql`select set_config(${TENANT_SETTING}, ${found.tenantId}, true), set_config(${CUSTOMER_SETTING}, ${found.customerId}, true), set_config(${CUSTOMER_TOKEN_HASH_SETTING}, '', true)`,
    );
    const [current] = await tx.select().from(customerRefreshTokens).where(eq(customerRefreshTokens.id, found.id)).for('update');
    if (!current) return { ok: false, message: INVALID_REFRESH };
    if (current.replacedBy !== null) {
      await revokeFamily(tx, current.familyId);
      await recordAudit(tx, {
        tenantId: current.tenantId,
        actor: customerActor(meta, current.loginId),
        action: 'customer_auth.refresh_token_reused',
        targetType: 'customer_login',
        targetId: current.loginId,
        metadata: { sessionId: current.familyId, tokenId: current.id },
      });
      return { ok: false, message: 'This refresh token was already used; the session has been revoked' };
    }
    if (current.revokedAt !== null) return { ok: false, message: 'The session has ended' };
    if (current.expiresAt.getTime() <= Date.now()) return { ok: false, message: 'The refresh token has expired' };
    const [owner] = await tx
      .select({ login: customerLogins, customerDeletedAt: customers.deletedAt, tenantActive: tenants.isActive })
      .from(customerLogins)
      .innerJoin(customers, eq(customers.id, customerLogins.customerId))
      .innerJoin(tenants, eq(tenants.id, customerLogins.tenantId))
      .where(and(eq(customerLogins.id, current.loginId), isNull(customerLogins.deletedAt)));
    if (!owner || !owner.login.isActive || owner.customerDeletedAt !== null || !owner.tenantActive) {
      await revokeFamily(tx, current.familyId);
      return { ok: false, message: INVALID_REFRESH };
    }
    const next = await issueRefreshToken(tx, env, owner.login, current.familyId, meta);
    await tx.update(customerRefreshTokens).set({ revokedAt: new Date(), replacedBy: next.id }).where(eq(customerRefreshTokens.id, current.id));
    const { login } = owner;
    const token = await signCustomerToken(env, { loginId: login.id, tenantId: login.tenantId, customerId: login.customerId, sessionId: current.familyId, role: login.role });
    return { ok: true, pair: { token, refreshToken: next.token, login: sessionLogin(login) } };
  });
  if (!outcome.ok) throw new AppError('UNAUTHENTICATED', outcome.message);
  return outcome.pair;
}

export async function customerLogout(db: Database, auth: CustomerAuthContext, meta: ClientMeta): Promise<void> {
  await withCustomer(db, auth.tenantId, auth.customerId, async (tx) => {
    await revokeFamily(tx, auth.sessionId);
    await recordAudit(tx, { tenantId: auth.tenantId, actor: customerActor(meta, auth.loginId), action: 'customer_auth.logout', targetType: 'customer_login', targetId: auth.loginId, metadata: { sessionId: auth.sessionId } });
  });
}

/** Is the session (refresh family) still open? Access tokens of an ended session are refused. */
export async function sessionIsOpen(tx: Tx, loginId: string, familyId: string): Promise<boolean> {
  const [open] = await tx
    .select({ id: customerRefreshTokens.id })
    .from(customerRefreshTokens)
    .where(and(eq(customerRefreshTokens.loginId, loginId), eq(customerRefreshTokens.familyId, familyId), isNull(customerRefreshTokens.revokedAt)))
    .limit(1);
  return open !== undefined;
}
