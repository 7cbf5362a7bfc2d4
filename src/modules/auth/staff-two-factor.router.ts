import { eq } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { tenants, userRoles } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { conflict } from '../../shared/errors/app-error.js';
import { authProblems, problems } from '../../shared/http/schemas.js';
import { recordAudit } from '../audit/audit.service.js';
import type { RouterDeps } from '../router-deps.js';
import { confirmEnrolment, disableFactor, startEnrolment, type Principal } from '../two-factor/two-factor.service.js';
import { challengeBody, codeBody, enrolmentResponse, noContent, recoveryCodes, recoveryCodesResponse, verifyBody } from '../two-factor/two-factor.types.js';
import { loginResponse } from './auth.types.js';
import { actorOf, authOf, clientMeta } from './authenticate.js';
import { completeStaffChallenge, policyOf, setupFromChallenge, staffAuth } from './staff-auth-deps.js';

/**
 * Two-factor sign-in for staff (TOTP, the mechanics in modules/two-factor), and the tenant's
 * policy: the roles whose users must have a second factor, and whether customers must.
 */

export const twoFactorPolicy = z
  .strictObject({
    twoFactorStaffRoles: z
      .array(z.enum(userRoles))
      .max(userRoles.length)
      .refine((roles) => new Set(roles).size === roles.length, 'must not name a role twice')
      .meta({ description: 'Staff roles whose users must sign in with a second factor (they enrol at their next login)' }),
    twoFactorCustomers: z.boolean().meta({ description: 'Customers must sign in to the portal with a second factor' }),
  })
  .meta({ id: 'TwoFactorPolicy' });

/** /api/auth/2fa (a user's own factor and the second sign-in step) and /api/two-factor-policy (the tenant's rule). */
export const staffTwoFactorRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, routerDeps) => {
  const { db } = routerDeps;
  const staff = staffAuth(routerDeps);
  const { twoFactor } = staff;
  const tags = ['auth'];
  const self = (request: Parameters<typeof authOf>[0]): Principal => {
    const user = authOf(request);
    return { kind: 'user', tenantId: user.tenantId, userId: user.userId, customerId: null, account: user.email };
  };

  app.post(
    '/auth/2fa/enrol',
    { schema: { tags, summary: 'Start TOTP enrolment: a secret and its otpauth URI (for the QR code)', response: { 200: enrolmentResponse, ...authProblems, ...problems(409) } }, config: { permission: 'session:self' } },
    async (request) => startEnrolment(twoFactor, self(request), actorOf(request)),
  );

  app.post(
    '/auth/2fa/confirm',
    {
      schema: { tags, summary: 'Confirm enrolment with a code: two-factor sign-in is on; 10 recovery codes, shown this once', body: codeBody, response: { 200: recoveryCodesResponse, ...authProblems, ...problems(429) } },
      config: { permission: 'session:self' },
    },
    async (request) => confirmEnrolment(twoFactor, self(request), request.body.code, actorOf(request)),
  );

  app.post(
    '/auth/2fa/disable',
    {
      schema: {
        tags,
        summary: 'Turn two-factor sign-in off with a fresh TOTP code',
        description: "409 while the tenant's policy requires a second factor for the user's role.",
        body: codeBody,
        response: { 204: noContent, ...authProblems, ...problems(409, 429) },
      },
      config: { permission: 'session:self' },
    },
    async (request, reply) => {
      const user = authOf(request);
      if ((await policyOf(db, user.tenantId)).twoFactorStaffRoles.includes(user.role)) {
        throw conflict(`This tenant requires a second factor for ${user.role} users`);
      }
      await disableFactor(twoFactor, self(request), request.body.code, actorOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/2fa/setup',
    {
      schema: {
        tags,
        summary: 'Enrolment required by the tenant: the login challenge starts a TOTP factor (secret and otpauth URI)',
        description: 'Only for a challenge with enrolmentRequired; then POST /api/auth/2fa/verify with the challenge and a first code.',
        body: challengeBody,
        response: { 200: enrolmentResponse, ...problems(400, 401, 409) },
      },
      config: { public: true },
    },
    async (request) => setupFromChallenge(staff, request.body.challenge, clientMeta(request)),
  );

  app.post(
    '/auth/2fa/verify',
    {
      schema: {
        tags,
        summary: 'Second sign-in step: the challenge from login and a TOTP or recovery code',
        description:
          'A TOTP code is accepted once; a recovery code once ever. Failures are throttled (429). An enrolment challenge is answered with the first code of the new factor, and the answer carries its recovery codes (shown this once).',
        body: verifyBody,
        response: { 200: loginResponse.extend({ recoveryCodes: recoveryCodes.optional() }), ...problems(400, 401, 403, 429, 503) },
      },
      config: { public: true },
    },
    async (request) => completeStaffChallenge(staff, request.body.challenge, request.body.code, clientMeta(request)),
  );

  app.get(
    '/two-factor-policy',
    { schema: { tags: ['users'], summary: "The tenant's two-factor rule", response: { 200: twoFactorPolicy, ...authProblems } }, config: { permission: 'users:read' } },
    async (request) => policyOf(db, authOf(request).tenantId),
  );

  app.put(
    '/two-factor-policy',
    {
      schema: {
        tags: ['users'],
        summary: "Set the tenant's two-factor rule (audited)",
        description: 'Users of a listed role without a factor enrol at their next login; sessions already open go on.',
        body: twoFactorPolicy,
        response: { 200: twoFactorPolicy, ...authProblems },
      },
      config: { permission: 'users:write' },
    },
    async (request) => {
      const tenantId = authOf(request).tenantId;
      const before = await policyOf(db, tenantId);
      const after = { twoFactorStaffRoles: [...request.body.twoFactorStaffRoles].sort(), twoFactorCustomers: request.body.twoFactorCustomers };
      await withTenant(db, tenantId, async (tx) => {
        await tx.update(tenants).set(after).where(eq(tenants.id, tenantId));
        await recordAudit(tx, { tenantId, actor: actorOf(request), action: 'tenant.two_factor_policy_updated', targetType: 'tenant', targetId: tenantId, before, after });
      });
      return after;
    },
  );
};
