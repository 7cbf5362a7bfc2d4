import { and, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { tenants, users, type User, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import type { RouterDeps } from '../router-deps.js';
import { answerChallenge, hasConfirmedFactor, issueChallenge, startChallengeEnrolment, type Principal, type TwoFactorDeps } from '../two-factor/two-factor.service.js';
import { actorFor, startStaffSession, type AuthDeps, type StaffSecondFactor } from './auth.service.js';
import type { ClientMeta, LoginResult } from './auth.types.js';
import { LoginThrottle } from './login-throttle.js';

/**
 * The staff sign-in dependencies, built by each router that signs staff in (API tokens, console
 * cookies, the second step): the login throttle (password and second-factor failures alike) and
 * the second factor, which turns a password login into a challenge when the user has one or the
 * tenant requires it for the user's role.
 */
export function staffAuth({ env, db, redis, sessions, logger }: RouterDeps): { auth: AuthDeps; twoFactor: TwoFactorDeps } {
  const throttle = new LoginThrottle(redis, {
    prefix: env.REDIS_KEY_PREFIX,
    maxPerAccount: env.LOGIN_MAX_FAILURES_PER_ACCOUNT,
    maxPerIp: env.LOGIN_MAX_FAILURES_PER_IP,
    windowSeconds: env.LOGIN_FAILURE_WINDOW,
  });
  const twoFactor: TwoFactorDeps = { env, db, redis, throttle };
  return {
    twoFactor,
    auth: {
      env,
      db,
      sessions,
      throttle,
      secondFactor: staffSecondFactor(twoFactor),
      onBackgroundError: (error) => logger.error({ err: error }, 'could not record a failed login in the audit log'),
    },
  };
}

export const principalOfUser = (user: Pick<User, 'id' | 'tenantId' | 'email'>): Principal => ({ kind: 'user', tenantId: user.tenantId, userId: user.id, customerId: null, account: user.email });

export async function policyOf(db: Database, tenantId: string): Promise<{ twoFactorStaffRoles: UserRole[]; twoFactorCustomers: boolean }> {
  const [row] = await db.select({ twoFactorStaffRoles: tenants.twoFactorStaffRoles, twoFactorCustomers: tenants.twoFactorCustomers }).from(tenants).where(eq(tenants.id, tenantId));
  return row ?? { twoFactorStaffRoles: [], twoFactorCustomers: false };
}

/** Users with a confirmed factor answer a challenge; users whose role the tenant requires it of, an enrolment challenge. */
export function staffSecondFactor(deps: TwoFactorDeps): StaffSecondFactor {
  return {
    async challengeFor(user) {
      const principal = principalOfUser(user);
      if (await hasConfirmedFactor(deps.db, principal)) return issueChallenge(deps.env, principal);
      const policy = await policyOf(deps.db, user.tenantId);
      return policy.twoFactorStaffRoles.includes(user.role) ? issueChallenge(deps.env, principal, { enrol: true }) : null;
    },
  };
}


async function userOfChallenge(db: Database, { tenantId, id }: { tenantId: string; id: string }): Promise<Principal> {
  const [user] = await withTenant(db, tenantId, (tx) => tx.select().from(users).where(and(eq(users.id, id), isNull(users.deletedAt))));
  if (!user?.isActive) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid; log in again');
  return principalOfUser(user);
}

/** POST .../2fa/setup: an enrolment challenge starts the user's factor. */
export function setupFromChallenge(deps: { auth: AuthDeps; twoFactor: TwoFactorDeps }, challenge: string, meta: ClientMeta): Promise<{ secret: string; otpauthUri: string }> {
  return startChallengeEnrolment(deps.twoFactor, 'user', challenge, actorFor(meta, null), (claims) => userOfChallenge(deps.auth.db, claims));
}

/** POST .../2fa/verify: challenge + code → a new session (with the recovery codes of a factor enrolled just now). */
export async function completeStaffChallenge(
  deps: { auth: AuthDeps; twoFactor: TwoFactorDeps },
  challenge: string,
  code: string,
  meta: ClientMeta,
): Promise<LoginResult & { recoveryCodes?: string[] }> {
  const { principal, recoveryCodes } = await answerChallenge(deps.twoFactor, 'user', challenge, code, actorFor(meta, null), (claims) => userOfChallenge(deps.auth.db, claims));
  if (principal.kind !== 'user') throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid');
  const [user] = await withTenant(deps.auth.db, principal.tenantId, (tx) => tx.select().from(users).where(eq(users.id, principal.userId)));
  if (!user) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid');
  const session = await startStaffSession(deps.auth, user, meta, 'password + second factor');
  return recoveryCodes ? { ...session, recoveryCodes } : session;
}
