import { and, eq, isNull } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { customerLogins, type CustomerLogin } from '../../db/schema/index.js';
import { withCustomer } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import { authProblems, problems } from '../../shared/http/schemas.js';
import type { Database } from '../../config/database.js';
import { startCustomerSession, type CustomerAuthDeps, type CustomerSecondFactor } from '../customer-auth/customer-auth.service.js';
import { customerSession, type CustomerSession } from '../customer-auth/customer-auth.types.js';
import type { ClientMeta } from '../auth/auth.types.js';
import { clientMeta } from '../auth/authenticate.js';
import { customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { answerChallenge, confirmEnrolment, disableFactor, hasConfirmedFactor, issueChallenge, startChallengeEnrolment, startEnrolment, type Principal, type TwoFactorDeps } from './two-factor.service.js';
import { challengeBody, codeBody, enrolmentResponse, noContent, recoveryCodes, recoveryCodesResponse, verifyBody } from './two-factor.types.js';

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
    async challengeFor(login, tenantRequires) {
      const principal = principalOfLogin(login);
      if (await hasConfirmedFactor(deps.db, principal)) return issueChallenge(deps.env, principal);
      return tenantRequires ? issueChallenge(deps.env, principal, { enrol: true }) : null;
    },
  };
}

async function customerOfChallenge(db: Database, { tenantId, id, customerId }: { tenantId: string; id: string; customerId: string | null }): Promise<Principal> {
  if (!customerId) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid; log in again');
  const [login] = await withCustomer(db, tenantId, customerId, (tx) => tx.select().from(customerLogins).where(and(eq(customerLogins.id, id), isNull(customerLogins.deletedAt))));
  if (!login?.isActive) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid; log in again');
  return principalOfLogin(login);
}

/** The second sign-in step (JSON and cookie routes alike): challenge + code → a new session (with the recovery codes of a factor enrolled just now). */
export async function completeCustomerChallenge(
  deps: { authDeps: CustomerAuthDeps; twoFactor: TwoFactorDeps },
  challenge: string,
  code: string,
  meta: ClientMeta,
): Promise<CustomerSession & { recoveryCodes?: string[] }> {
  const { db } = deps.authDeps;
  const actor = { type: 'CUSTOMER' as const, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId };
  const { principal, recoveryCodes: codes } = await answerChallenge(deps.twoFactor, 'customer', challenge, code, actor, (claims) => customerOfChallenge(db, claims));
  if (principal.kind !== 'customer') throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid');
  const [login] = await withCustomer(db, principal.tenantId, principal.customerId, (tx) => tx.select().from(customerLogins).where(eq(customerLogins.id, principal.loginId)));
  if (!login) throw new AppError('UNAUTHENTICATED', 'The sign-in challenge is not valid');
  const session = await startCustomerSession(deps.authDeps, login, meta, 'password + second factor');
  return codes ? { ...session, recoveryCodes: codes } : session;
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

  const loginOfChallenge = (claims: { tenantId: string; id: string; customerId: string | null }) => customerOfChallenge(db, claims);
  const challengeActor = (request: FastifyRequest) => {
    const meta = clientMeta(request);
    return { type: 'CUSTOMER' as const, ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId };
  };

  app.post(
    '/auth/2fa/setup',
    {
      schema: {
        tags,
        summary: 'Enrolment required by the tenant: the login challenge starts a TOTP factor (secret and otpauth URI)',
        description: 'Only for a challenge with enrolmentRequired; then POST /auth/2fa/verify with the challenge and a first code.',
        body: challengeBody,
        response: { 200: enrolmentResponse, ...problems(400, 401, 409) },
      },
      config: { public: true },
    },
    async (request) => startChallengeEnrolment(twoFactor, 'customer', request.body.challenge, challengeActor(request), loginOfChallenge),
  );

  app.post(
    '/auth/2fa/verify',
    {
      schema: {
        tags,
        summary: 'Second sign-in step: the challenge from login and a TOTP or recovery code',
        description: 'A TOTP code is accepted once; a recovery code once ever. Failures are throttled (429). An enrolment challenge is answered with the first code of the new factor, and the answer carries its recovery codes (shown this once).',
        body: verifyBody,
        response: { 200: customerSession.extend({ recoveryCodes: recoveryCodes.optional() }), ...problems(400, 401, 429, 503) },
      },
      config: { public: true },
    },
    async (request) => completeCustomerChallenge({ authDeps, twoFactor }, request.body.challenge, request.body.code, clientMeta(request)),
  );
};
