import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { cancelPlanChange, previewPlanChange, requestPlanChange } from './plan-change.service.js';
import { pendingPlanChangeCancelled, planChangeBody, planChangePreview, planChangeResult } from './plan-change.types.js';

const tags = ['billing'];
const write = { permission: 'billing:write' } as const;
export const planChangeDescription =
  'An upgrade (a higher price per interval) applies now with a prorated invoice: (new − old) × remaining seconds of the paid time / seconds of one period, rounded half away from zero, tax per line. ' +
  'A downgrade applies at paidThrough; the renewal of the period that starts then is billed at it. An unpaid renewal invoice already issued for the next period is voided and issued again at the price in force for that period. ' +
  'The new plan must be of the same product type, interval and currency; a plan with fewer mailboxes than the subscription uses is refused (409 naming the count). Stripe-billed subscriptions: 409 (Stripe owns the schedule).';

/** /api/subscriptions/:id/plan-change (BILLING and ADMIN): the staff door of plan-change.service.ts. */
export const planChangeRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env, producer, logger }) => {
  app.post(
    '/subscriptions/:id/plan-change/preview',
    {
      schema: {
        tags,
        summary: 'What changing the plan would do: upgrade or downgrade, when, and the prorated invoice',
        description: `${planChangeDescription} Nothing is written.`,
        params: idParams,
        body: planChangeBody,
        response: { 200: planChangePreview, ...authProblems, ...problems(409) },
      },
      config: write,
    },
    async (request) => previewPlanChange(db, authOf(request), request.params.id, request.body),
  );

  app.post(
    '/subscriptions/:id/plan-change',
    {
      schema: {
        tags,
        summary: 'Change the plan: an upgrade now with a prorated invoice, a downgrade at the end of the paid period',
        description: `${planChangeDescription} Audited; subscription.plan_changed is written to the events outbox when the plan takes effect.`,
        params: idParams,
        body: planChangeBody,
        response: { 200: planChangeResult, ...authProblems, ...problems(409) },
      },
      config: write,
    },
    async (request) =>
      requestPlanChange({ db, producer, logger: logger.child({ reqId: request.id }), maxAttempts: env.JOB_MAX_ATTEMPTS }, authOf(request), request.params.id, request.body, actorOf(request)),
  );

  app.delete(
    '/subscriptions/:id/plan-change',
    {
      schema: {
        tags,
        summary: 'Cancel the downgrade scheduled for the end of the paid period',
        description: 'An unpaid renewal invoice billed at the scheduled plan is voided and issued again at the current price. 409 when nothing is scheduled. Audited.',
        params: idParams,
        response: { 200: pendingPlanChangeCancelled, ...authProblems, ...problems(409) },
      },
      config: write,
    },
    async (request) => cancelPlanChange(db, authOf(request), request.params.id, actorOf(request)),
  );
};
