import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { planChangeDescription } from '../billing/plan-change.router.js';
import { cancelPlanChange, listPlanChangeOptions, previewPlanChange, requestPlanChange, type PlanChangeScope } from '../billing/plan-change.service.js';
import { pendingPlanChangeCancelled, planChangeBody, planChangeOptions, planChangePreview, planChangeResult } from '../billing/plan-change.types.js';
import { customerActorOf, customerOf } from '../customer-auth/customer-authenticate.js';
import type { CustomerAuthDeps } from '../customer-auth/customer-auth.service.js';
import type { RouterDeps } from '../router-deps.js';
import type { FastifyRequest } from 'fastify';

const tags = ['portal services'];
const scopeOf = (request: FastifyRequest): PlanChangeScope => {
  const auth = customerOf(request);
  return { tenantId: auth.tenantId, customerId: auth.customerId };
};

/**
 * /api/portal/services/:id/plan-change: the customer's door of the staff plan-change service
 * (modules/billing/plan-change.service.ts), scoped to the customer's own subscriptions (another
 * customer's is 404) and to the tenant's public plans; GET lists those plans and the change scheduled.
 * The owner and billing contacts may use it.
 */
export const portalPlanChangeRouter: FastifyPluginAsyncZod<RouterDeps & { authDeps: CustomerAuthDeps }> = async (app, { db, env, producer, logger }) => {
  app.get(
    '/services/:id/plan-change',
    {
      schema: {
        tags,
        summary: 'The plans a service may move to, and the change scheduled for the end of the paid period, if any',
        params: idParams,
        response: { 200: planChangeOptions, ...authProblems },
      },
      config: { portal: 'portal:billing' },
    },
    async (request) => listPlanChangeOptions(db, scopeOf(request), request.params.id),
  );

  app.post(
    '/services/:id/plan-change/preview',
    {
      schema: {
        tags,
        summary: 'Preview a plan change: the prorated amount charged now, or the date a downgrade applies',
        description: `${planChangeDescription} Nothing is written.`,
        params: idParams,
        body: planChangeBody,
        response: { 200: planChangePreview, ...authProblems, ...problems(409) },
      },
      config: { portal: 'portal:billing' },
    },
    async (request) => previewPlanChange(db, scopeOf(request), request.params.id, request.body),
  );

  app.post(
    '/services/:id/plan-change',
    {
      schema: {
        tags,
        summary: 'Change the plan of a service (confirm what the preview showed)',
        description: planChangeDescription,
        params: idParams,
        body: planChangeBody,
        response: { 200: planChangeResult, ...authProblems, ...problems(409) },
      },
      config: { portal: 'portal:billing' },
    },
    async (request) =>
      requestPlanChange({ db, producer, logger: logger.child({ reqId: request.id }), maxAttempts: env.JOB_MAX_ATTEMPTS }, scopeOf(request), request.params.id, request.body, customerActorOf(request)),
  );

  app.delete(
    '/services/:id/plan-change',
    {
      schema: {
        tags,
        summary: 'Cancel the downgrade scheduled for the end of the paid period',
        params: idParams,
        response: { 200: pendingPlanChangeCancelled, ...authProblems, ...problems(409) },
      },
      config: { portal: 'portal:billing' },
    },
    async (request) => cancelPlanChange(db, scopeOf(request), request.params.id, customerActorOf(request)),
  );
};
