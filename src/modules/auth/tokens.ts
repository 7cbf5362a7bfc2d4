import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import { userRoles } from '../../db/schema/index.js';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * Access tokens: HS256 JWTs, algorithm pinned, `iss`/`aud`/`exp` checked, a `jti` each. They carry
 * who (`sub`), the home tenant (`tid`) and the session (`sid` = refresh token family, so logout can
 * revoke it). The role in the token is informational: requests read the user's current role.
 */
export type TokenSettings = Pick<Env, 'JWT_SECRET' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ACCESS_EXPIRES_IN'>;

const ALGORITHM = 'HS256';

const claimsSchema = z.object({
  sub: z.uuid(),
  tid: z.uuid(),
  sid: z.uuid(),
  role: z.enum(userRoles),
  jti: z.string().min(1),
  exp: z.number(),
});
export type AccessClaims = z.infer<typeof claimsSchema>;

const keys = new Map<string, Uint8Array>();
function keyFor(secret: string): Uint8Array {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = new TextEncoder().encode(secret)));
  return key;
}

export async function signAccessToken(
  settings: TokenSettings,
  claims: { userId: string; tenantId: string; sessionId: string; role: AccessClaims['role'] },
): Promise<string> {
  return new SignJWT({ tid: claims.tenantId, sid: claims.sessionId, role: claims.role })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(settings.JWT_ISSUER)
    .setAudience(settings.JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + settings.JWT_ACCESS_EXPIRES_IN)
    .setJti(randomUUID())
    .sign(keyFor(settings.JWT_SECRET));
}

/**
 * Tokens already verified, by their exact text, with the settings they were verified under: jose's
 * HS256 check costs 50-90 µs here (WebCrypto, a thread-pool round trip), most of an authenticated
 * request, and a client sends the same token for its whole life. A hit is used only until the
 * token's own `exp`; nothing about a token that failed is kept. Bounded: emptied when full. What
 * the token says is still checked against the session on every request (session-cache.ts).
 */
const verified = new Map<string, { claims: AccessClaims; settings: TokenSettings }>();
const MAX_VERIFIED = 10_000;

/** Verifies signature, algorithm, issuer, audience and expiry; any failure is a 401. */
export async function verifyAccessToken(settings: TokenSettings, token: string): Promise<AccessClaims> {
  const known = verified.get(token);
  if (known && known.claims.exp * 1000 > Date.now() && sameSettings(known.settings, settings)) return known.claims;
  let claims: AccessClaims;
  try {
    const { payload } = await jwtVerify(token, keyFor(settings.JWT_SECRET), {
      algorithms: [ALGORITHM],
      issuer: settings.JWT_ISSUER,
      audience: settings.JWT_AUDIENCE,
      requiredClaims: ['exp', 'sub', 'jti'],
    });
    claims = claimsSchema.parse(payload);
  } catch (error) {
    const expired = error instanceof joseErrors.JWTExpired;
    throw new AppError('UNAUTHENTICATED', expired ? 'The access token has expired' : 'The access token is not valid', { cause: error });
  }
  if (verified.size >= MAX_VERIFIED) verified.clear();
  verified.set(token, { claims, settings });
  return claims;
}

function sameSettings(a: TokenSettings, b: TokenSettings): boolean {
  return a === b || (a.JWT_SECRET === b.JWT_SECRET && a.JWT_ISSUER === b.JWT_ISSUER && a.JWT_AUDIENCE === b.JWT_AUDIENCE);
}

/** Opaque refresh token: 256 random bits; only its SHA-256 is stored. */
export function newRefreshToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashRefreshToken(token) };
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
