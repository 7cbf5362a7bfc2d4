import { and, eq, isNull } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { customerLogins, type CustomerLogin } from '../../db/schema/index.js';
import { withCustomer } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import { authProblems, problems } from '../../shared/http/schemas.js';
import { startCustomerSession, type CustomerAuthDeps, type CustomerSecondFactor } from '../customer-auth/customer-auth.service.js';
import { customerSession } from '../customer-auth/customer-auth.types.js';
import { clientMeta, customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { answerChallenge, confirmEnrolment, disableFactor, hasConfirmedFactor, issueChallenge, startEnrolment, type Principal, type TwoFactorDeps } from './two-factor.service.js';
import { codeBody, enrolmentResponse, noContent, recoveryCodesResponse, verifyBody } from './two-factor.types.js';

const principalOfLogin = (login: Pick<CustomerLogin, 'id' | 'tenantId' | 'customerId' | 'email'>): Principal => ({
  kind: 'customer',
  tenantId: login.tenantId,
  loginId: login.id,
  customerId: login.customerId,
  account: login.email,
});

const principalOf = (request: FastifyRequest): Principal => {
  const auth = customerOf(request);
  return principalOfLogin({ id: auth.loginId, tenantId: auth.tenantId, customerId: auth.customerId, email: auth.email });
};

/** Customer logins with a confirmed factor answer a challenge instead of tokens. */
export function customerSecondFactor(deps: TwoFactorDeps): CustomerSecondFactor {
  return {
    async challengeFor(login) {
      const principal = principalOfLogin(login);
      return (await hasConfirmedFactor(deps.db, principal)) ? issueChallenge(deps.env, principal) : null;
    },
  };
}

/** /api/portal/auth/2fa: a customer login's TOTP factor, and the second sign-in step. */
export const portalTwoFactorRouter: FastifyPluginAsyncZod<RouterDeps & { authDeps: CustomerAuthDeps; twoFactor: TwoFactorDeps }> = async (app, { db, authDeps, twoFactor }) => {
  const tags = ['portal auth'];

  app.post(
    '/auth/2fa/enrol',
    { schema: { tags, summary: 'Start TOTP enrolment: a secret and its otpauth URI (for the QR code)', response: { 200: enrolmentResponse, ...authProblems, ...problems(409) } }, config: { portal: 'portal:self' } },
    async (request) => startEnrolment(twoFactor, principalOf(request), customerActorOf(request)),
  );

  app.post(
    '/auth/2fa/confirm',
    {
      schema: { tags, summary: 'Confirm enrolment with a code: two-factor sign-in is on; 10 recovery codes, shown this once', body: codeBody, response: { 200: recoveryCodesResponse, ...authProblems, ...problems(429) } },
      config: { portal: 'portal:self' },
    },
    async (request) => confirmEnrolment(twoFactor, principalOf(request), request.body.code, customerActorOf(request)),
  );

  app.post(
    '/auth/2fa/disable',
    { schema: { tags, summary: 'Turn two-factor sign-in off with a fresh TOTP code', body: codeBody, response: { 204: noContent, ...authProblems, ...problems(429) } }, config: { portal: 'portal:self' } },
    async (request, reply) => {
      await disableFactor(twoFactor, principalOf(request), request.body.code, customerActorOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/2fa/verify',
    {
      schema: {
        tags,
        summary: 'Second sign-in step: the challenge from login and a TOTP or recovery code',
        description: 'A TOTP code is accepted once; a recovery code once ever. Failures are throttled (429).',
        body: verifyBody,
        response: { 200: customerSession, ...problems(400, 401, 429, 503) },
      },
      config: { public: true },
    },
    async (request) => {
      const meta = clientMeta(request);
      const principal = await answerChallenge(twoFactor, 'customer', request.body.challenge, request.body.code, { type: 'CUSTOMER', ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId }, async ({ tenantId, id, customerId }) => {
        if (!customerId) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid; log in again');
        const [login] = await withCustomer(db, tenantId, customerId, (tx) => tx.select().from(customerLogins).where(and(eq(customerLogins.id, id), isNull(customerLogins.deletedAt))));
        if (!login?.isActive) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid; log in again');
        return principalOfLogin(login);
      });
      if (principal.kind !== 'customer') throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid');
      const [login] = await withCustomer(db, principal.tenantId, principal.customerId, (tx) => tx.select().from(customerLogins).where(eq(customerLogins.id, principal.loginId)));
      if (!login) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid');
      return startCustomerSession(authDeps, login, meta, 'password + second factor');
    },
  );
};
