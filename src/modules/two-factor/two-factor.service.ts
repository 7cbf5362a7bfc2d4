import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { jwtVerify, SignJWT } from 'jose';
import type { Redis } from 'ioredis';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { twoFactorFactors, type StoredRecoveryCode, type TwoFactorFactor } from '../../db/schema/index.js';
import { withCustomer, withTenant, type Tx } from '../../db/tenant-tx.js';
import { createSecretBox, type SecretBox } from '../../shared/crypto/secret-box.js';
import { AppError, conflict } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { LoginThrottle } from '../auth/login-throttle.js';
import { matchTotp, newTotpSecret, otpauthUri } from './totp.js';

/**
 * TOTP second factor for staff users and customer logins: enrol (secret sealed at rest, otpauth
 * URI for the QR code), confirm with a code (10 single-use recovery codes, shown once, stored as
 * SHA-256), disable with a fresh code. A code is accepted once (the last accepted step is
 * stored), failures are throttled (Redis) and every outcome is audited. Sign-in with a factor is
 * two steps: the password answers a short-lived challenge (a JWT of its own audience, single use)
 * and the challenge plus a code answers the tokens.
 */
export type Principal =
  | { kind: 'user'; tenantId: string; userId: string; customerId: null; account: string }
  | { kind: 'customer'; tenantId: string; loginId: string; customerId: string; account: string };

export interface TwoFactorDeps {
  env: Env;
  db: Database;
  redis: Redis;
  throttle: LoginThrottle;
}

export const RECOVERY_CODES = 10;
export const CHALLENGE_SECONDS = 300;

const boxes = new Map<string, SecretBox>();
const boxFor = (env: Env): SecretBox => {
  let box = boxes.get(env.SECRETS_ENCRYPTION_KEY);
  if (!box) boxes.set(env.SECRETS_ENCRYPTION_KEY, (box = createSecretBox({ key: env.SECRETS_ENCRYPTION_KEY })));
  return box;
};
const principalId = (p: Principal): string => (p.kind === 'user' ? p.userId : p.loginId);
const associated = (p: Principal): string => `two-factor:${p.kind}:${principalId(p)}`;
const hashCode = (code: string): string => createHash('sha256').update(code.replace(/[\s-]/g, '').toLowerCase()).digest('hex');

function inScope<T>(db: Database, p: Principal, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return p.customerId ? withCustomer(db, p.tenantId, p.customerId, fn) : withTenant(db, p.tenantId, fn);
}

const ownerFilter = (p: Principal) => (p.kind === 'user' ? eq(twoFactorFactors.userId, p.userId) : eq(twoFactorFactors.customerLoginId, p.loginId));

async function factorOf(tx: Tx, p: Principal, lock = false): Promise<TwoFactorFactor | undefined> {
  const query = tx.select().from(twoFactorFactors).where(and(eq(twoFactorFactors.tenantId, p.tenantId), ownerFilter(p)));
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

export async function hasConfirmedFactor(db: Database, p: Principal): Promise<boolean> {
  const factor = await inScope(db, p, (tx) => factorOf(tx, p));
  return factor?.confirmedAt != null;
}

const audit = (tx: Tx, p: Principal, actor: AuditActor, action: 'two_factor.enrolment_started' | 'two_factor.enabled' | 'two_factor.disabled' | 'two_factor.failed' | 'two_factor.recovery_code_used' | 'two_factor.verified', metadata?: Record<string, unknown>) =>
  recordAudit(tx, { tenantId: p.tenantId, actor, action, targetType: p.kind === 'user' ? 'user' : 'customer_login', targetId: principalId(p), metadata: metadata ?? null });

/** A new (unconfirmed) secret; replaces an unconfirmed one. 409 when a factor is already on. */
export async function startEnrolment(deps: TwoFactorDeps, p: Principal, actor: AuditActor): Promise<{ secret: string; otpauthUri: string }> {
  const secret = newTotpSecret();
  await inScope(deps.db, p, async (tx) => {
    const existing = await factorOf(tx, p, true);
    if (existing?.confirmedAt) throw conflict('Two-factor sign-in is already on; disable it first');
    const secretSealed = boxFor(deps.env).seal(secret, associated(p));
    if (existing) await tx.update(twoFactorFactors).set({ secretSealed, lastStep: null }).where(eq(twoFactorFactors.id, existing.id));
    else
      await tx.insert(twoFactorFactors).values({
        tenantId: p.tenantId,
        customerId: p.customerId,
        ...(p.kind === 'user' ? { userId: p.userId } : { customerLoginId: p.loginId }),
        secretSealed,
      });
    await audit(tx, p, actor, 'two_factor.enrolment_started');
  });
  return { secret, otpauthUri: otpauthUri(secret, 'mPanel', p.account) };
}

async function throttled(deps: TwoFactorDeps, p: Principal, ip: string, check: () => Promise<boolean>, onFailure: () => Promise<void>): Promise<void> {
  const account = `2fa:${principalId(p)}`;
  await deps.throttle.assertAllowed(ip, account);
  if (await check()) return;
  await deps.throttle.recordFailure(ip, account);
  await onFailure();
  throw new AppError('UNAUTHENTICATED', 'The code is not valid');
}

/**
 * Checks a code for `p` in a transaction of its own (so the replay guard and a spent recovery
 * code commit even if the caller fails later). TOTP only when `allowRecovery` is false.
 */
async function acceptCode(deps: TwoFactorDeps, p: Principal, code: string, actor: AuditActor, options: { allowRecovery: boolean; confirming: boolean }): Promise<string[] | null> {
  let recovery: string[] | null = null;
  await throttled(
    deps,
    p,
    actor.ip ?? 'unknown',
    () =>
      inScope(deps.db, p, async (tx) => {
        const factor = await factorOf(tx, p, true);
        if (!factor || (options.confirming ? factor.confirmedAt !== null : factor.confirmedAt === null)) return false;
        const secret = boxFor(deps.env).openText(factor.secretSealed, associated(p));
        const step = matchTotp(secret, code.trim(), Date.now(), factor.lastStep);
        if (step !== null) {
          if (options.confirming) {
            recovery = Array.from({ length: RECOVERY_CODES }, () => randomBytes(5).toString('hex'));
            const stored: StoredRecoveryCode[] = recovery.map((c) => ({ hash: hashCode(c), usedAt: null }));
            await tx.update(twoFactorFactors).set({ lastStep: step, confirmedAt: new Date(), recoveryCodes: stored }).where(eq(twoFactorFactors.id, factor.id));
            await audit(tx, p, actor, 'two_factor.enabled');
          } else {
            await tx.update(twoFactorFactors).set({ lastStep: step }).where(eq(twoFactorFactors.id, factor.id));
            await audit(tx, p, actor, 'two_factor.verified', { method: 'totp' });
          }
          return true;
        }
        if (!options.allowRecovery) return false;
        const hash = hashCode(code);
        const index = factor.recoveryCodes.findIndex((c) => c.hash === hash && c.usedAt === null);
        if (index < 0) return false;
        const codes = factor.recoveryCodes.map((c, i) => (i === index ? { ...c, usedAt: new Date().toISOString() } : c));
        await tx.update(twoFactorFactors).set({ recoveryCodes: codes }).where(eq(twoFactorFactors.id, factor.id));
        await audit(tx, p, actor, 'two_factor.recovery_code_used', { remaining: codes.filter((c) => c.usedAt === null).length });
        return true;
      }),
    () => inScope(deps.db, p, (tx) => audit(tx, p, actor, 'two_factor.failed')),
  );
  return recovery;
}

/** Confirms the enrolment with a first code: the factor is on; the recovery codes are answered once. */
export async function confirmEnrolment(deps: TwoFactorDeps, p: Principal, code: string, actor: AuditActor): Promise<{ recoveryCodes: string[] }> {
  const codes = await acceptCode(deps, p, code, actor, { allowRecovery: false, confirming: true });
  if (!codes) throw new Error('confirmation accepted without recovery codes');
  return { recoveryCodes: codes };
}

/** Turns the factor off with a fresh TOTP code (not a recovery code). */
export async function disableFactor(deps: TwoFactorDeps, p: Principal, code: string, actor: AuditActor): Promise<void> {
  await acceptCode(deps, p, code, actor, { allowRecovery: false, confirming: false });
  await inScope(deps.db, p, async (tx) => {
    await tx.delete(twoFactorFactors).where(and(eq(twoFactorFactors.tenantId, p.tenantId), ownerFilter(p)));
    await audit(tx, p, actor, 'two_factor.disabled');
  });
}

// ---------------------------------------------------------------------------------------------
// Sign-in challenges

const challengeAudience = (env: Env) => `${env.JWT_AUDIENCE}:two-factor`;
const key = (env: Env) => new TextEncoder().encode(env.JWT_SECRET);

export async function issueChallenge(env: Env, p: Principal, options: { enrol?: boolean } = {}): Promise<{ challenge: string; expiresAt: Date; enrolmentRequired: boolean }> {
  const expiresAt = new Date(Date.now() + CHALLENGE_SECONDS * 1000);
  const enrol = options.enrol === true;
  const challenge = await new SignJWT({ kind: p.kind, tid: p.tenantId, cid: p.customerId, ...(enrol ? { enrol: true } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(principalId(p))
    .setIssuer(env.JWT_ISSUER)
    .setAudience(challengeAudience(env))
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .setJti(randomUUID())
    .sign(key(env));
  return { challenge, expiresAt, enrolmentRequired: enrol };
}

type AccountOf = (p: { tenantId: string; id: string; customerId: string | null }) => Promise<Principal>;

/** The challenge's claims, checked (signature, audience, expiry, kind), and the principal it names. */
async function readChallenge(env: Env, kind: Principal['kind'], challenge: string, account: AccountOf): Promise<{ principal: Principal; jti: string; enrol: boolean }> {
  let payload;
  try {
    ({ payload } = await jwtVerify(challenge, key(env), { algorithms: ['HS256'], issuer: env.JWT_ISSUER, audience: challengeAudience(env), requiredClaims: ['exp', 'sub', 'jti'] }));
  } catch (error) {
    throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid or has expired; log in again', { cause: error });
  }
  if (payload.kind !== kind || typeof payload.tid !== 'string' || typeof payload.sub !== 'string' || typeof payload.jti !== 'string') {
    throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid; log in again');
  }
  const principal = await account({ tenantId: payload.tid, id: payload.sub, customerId: typeof payload.cid === 'string' ? payload.cid : null });
  return { principal, jti: payload.jti, enrol: payload.enrol === true };
}

/**
 * The tenant requires a second factor and this account has none yet: the enrolment challenge from
 * login starts one (the secret and its otpauth URI); answering the challenge with a first code
 * then confirms it and signs in (answerChallenge).
 */
export async function startChallengeEnrolment(deps: TwoFactorDeps, kind: Principal['kind'], challenge: string, actor: AuditActor, account: AccountOf): Promise<{ secret: string; otpauthUri: string }> {
  const read = await readChallenge(deps.env, kind, challenge, account);
  if (!read.enrol) throw conflict('This account already has a second factor: answer the challenge with a code');
  return startEnrolment(deps, read.principal, { ...actor, userId: principalId(read.principal) });
}

/**
 * Challenge + code → the principal the challenge was for, once: the challenge's id is spent in
 * Redis on success, so a challenge cannot sign in twice. An enrolment challenge confirms the new
 * factor with the code, and answers its recovery codes (shown this once).
 */
export async function answerChallenge(
  deps: TwoFactorDeps,
  kind: Principal['kind'],
  challenge: string,
  code: string,
  actor: AuditActor,
  account: AccountOf,
): Promise<{ principal: Principal; recoveryCodes: string[] | null }> {
  const { principal: p, jti, enrol } = await readChallenge(deps.env, kind, challenge, account);
  const codes = await acceptCode(deps, p, code, { ...actor, userId: principalId(p) }, { allowRecovery: !enrol, confirming: enrol });
  const spent = await deps.redis.set(`${deps.env.REDIS_KEY_PREFIX}:2fa-challenge:${jti}`, '1', 'EX', CHALLENGE_SECONDS + 60, 'NX');
  if (spent !== 'OK') throw new AppError('UNAUTHENTICATED', 'This sign-in challenge was already used; log in again');
  return { principal: p, recoveryCodes: codes };
}
