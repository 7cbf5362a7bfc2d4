import { z } from 'zod';
import { userRoles } from '../../db/schema/index.js';

export const loginBody = z.strictObject({
  email: z.string().trim().min(3).max(254),
  // Not the password policy: an old password must still be accepted; only absurd sizes are refused.
  password: z.string().min(1).max(1024),
});
export type LoginBody = z.infer<typeof loginBody>;

export const refreshBody = z.strictObject({ refreshToken: z.string().min(20).max(200) });

export const sessionUser = z
  .object({ id: z.uuid(), email: z.string(), name: z.string(), role: z.enum(userRoles), tenantId: z.uuid() })
  .meta({ id: 'SessionUser' });
export type SessionUser = z.infer<typeof sessionUser>;

export const tokenPair = z.object({
  token: z.string().meta({ description: 'JWT access token (Authorization: Bearer ...), 15 minutes by default' }),
  refreshToken: z.string().meta({ description: 'Opaque refresh token; single use, rotated by POST /api/auth/refresh' }),
});

export const loginResponse = tokenPair.extend({ user: sessionUser });
export type LoginResult = z.infer<typeof loginResponse>;

/** Instead of tokens, when a second factor is on (staff and customers alike). */
export const twoFactorChallenge = z
  .object({
    twoFactorRequired: z.literal(true),
    enrolmentRequired: z.boolean().meta({
      description: 'true: the tenant requires a second factor and the account has none yet; POST .../2fa/setup with the challenge, then .../2fa/verify with a first code',
    }),
    challenge: z.string().meta({ description: 'Send it with a TOTP or recovery code to POST .../2fa/verify within 5 minutes' }),
    expiresAt: z.date(),
  })
  .meta({ id: 'TwoFactorChallenge' });
export type TwoFactorChallenge = z.infer<typeof twoFactorChallenge>;
export type ChallengeIssued = Omit<TwoFactorChallenge, 'twoFactorRequired'>;

export const loginOutcome = z.union([loginResponse, twoFactorChallenge]);
export type LoginOutcome = z.infer<typeof loginOutcome>;
export type TokenPair = z.infer<typeof tokenPair>;

export const meResponse = z.object({ user: sessionUser });

/** Where a request comes from, for throttling and the audit log. */
export interface ClientMeta {
  ip: string;
  userAgent: string | null;
  requestId: string;
}
