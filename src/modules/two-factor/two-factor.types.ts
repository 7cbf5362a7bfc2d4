import { z } from 'zod';

export const codeBody = z.strictObject({ code: z.string().trim().min(6).max(32).meta({ description: 'A 6-digit TOTP code' }) });
const challenge = z.string().min(20).max(2000).meta({ description: 'The challenge the login answered' });
export const challengeBody = z.strictObject({ challenge });
export const verifyBody = z.strictObject({
  challenge,
  code: z.string().trim().min(6).max(32).meta({ description: 'A 6-digit TOTP code, or one of the recovery codes' }),
});
export const enrolmentResponse = z
  .object({ secret: z.string().meta({ description: 'Base32 TOTP secret, for manual entry' }), otpauthUri: z.string().meta({ description: 'otpauth://totp/... for the QR code' }) })
  .meta({ id: 'TwoFactorEnrolment' });
export const recoveryCodes = z.array(z.string()).meta({ description: 'Each works once; shown only now' });
export const recoveryCodesResponse = z.object({ recoveryCodes }).meta({ id: 'RecoveryCodes' });
export const noContent = z.null().meta({ description: 'Done' });
