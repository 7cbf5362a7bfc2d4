import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { Env } from '../../config/env.js';
import { customerRoles } from '../../db/schema/index.js';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * Customer access tokens: the staff tokens' shape (HS256 pinned, iss/aud/exp/jti), but their own
 * audience (JWT_PORTAL_AUDIENCE). Staff routes verify JWT_AUDIENCE and portal routes this one,
 * so a token of one principal is refused (401) at the other's door. `cid` is the customer
 * account every portal query is scoped by.
 */
export type CustomerTokenSettings = Pick<Env, 'JWT_SECRET' | 'JWT_ISSUER' | 'JWT_PORTAL_AUDIENCE' | 'JWT_ACCESS_EXPIRES_IN'>;

const ALGORITHM = 'HS256';

const claimsSchema = z.object({
  sub: z.uuid(),
  tid: z.uuid(),
  cid: z.uuid(),
  sid: z.uuid(),
  role: z.enum(customerRoles),
  jti: z.string().min(1),
  exp: z.number(),
});
export type CustomerClaims = z.infer<typeof claimsSchema>;

const key = (secret: string): Uint8Array => new TextEncoder().encode(secret);

export async function signCustomerToken(
  settings: CustomerTokenSettings,
  claims: { loginId: string; tenantId: string; customerId: string; sessionId: string; role: CustomerClaims['role'] },
): Promise<string> {
  return new SignJWT({ tid: claims.tenantId, cid: claims.customerId, sid: claims.sessionId, role: claims.role })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(claims.loginId)
    .setIssuer(settings.JWT_ISSUER)
    .setAudience(settings.JWT_PORTAL_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + settings.JWT_ACCESS_EXPIRES_IN)
    .setJti(randomUUID())
    .sign(key(settings.JWT_SECRET));
}

export async function verifyCustomerToken(settings: CustomerTokenSettings, token: string): Promise<CustomerClaims> {
  try {
    const { payload } = await jwtVerify(token, key(settings.JWT_SECRET), {
      algorithms: [ALGORITHM],
      issuer: settings.JWT_ISSUER,
      audience: settings.JWT_PORTAL_AUDIENCE,
      requiredClaims: ['exp', 'sub', 'jti'],
    });
    return claimsSchema.parse(payload);
  } catch (error) {
    const expired = error instanceof joseErrors.JWTExpired;
    throw new AppError('UNAUTHENTICATED', expired ? 'The access token has expired' : 'The access token is not valid for the client portal', { cause: error });
  }
}
