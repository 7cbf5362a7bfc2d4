import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import type { Permission } from '../auth/permissions.js';
import { requestLifecycle } from './lifecycle.service.js';
import { lifecycleAccepted, lifecycleBody, type LifecycleAction } from './lifecycle.types.js';

const routes: readonly { action: LifecycleAction; permission: Permission; summary: string }[] = [
  { action: 'suspend', permission: 'subscriptions:suspend', summary: 'Suspend: the site answers a "suspended" page; its files and mail are kept' },
  { action: 'unsuspend', permission: 'subscriptions:suspend', summary: 'Unsuspend: the site answers again' },
  {
    action: 'terminate',
    permission: 'subscriptions:terminate',
    summary: 'Terminate: vhost removed, site archived then removed, DNS zone deleted after the retention period',
  },
];

/** POST /api/subscriptions/:id/{suspend,unsuspend,terminate}: each a job through the provisioning pipeline. */
export const lifecycleRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, producer, logger }) => {
  for (const { action, permission, summary } of routes) {
    app.post(
      `/subscriptions/:id/${action}`,
      {
        schema: {
          tags: ['subscriptions'],
          summary,
          description: 'Answers 202 with the job; the subscription status changes when the job succeeds. Already in that state: 200, no job.',
          params: idParams,
          // No body at all arrives as null: the reason is optional.
          body: lifecycleBody.nullish(),
          response: { 202: lifecycleAccepted, 200: lifecycleAccepted, ...authProblems, ...problems(409) },
        },
        config: { permission },
      },
      async (request, reply) => {
        const auth = authOf(request);
        const deps = { db, producer, logger: logger.child({ reqId: request.id }), maxAttempts: env.JOB_MAX_ATTEMPTS };
        const result = await requestLifecycle(deps, auth.tenantId, request.params.id, action, actorOf(request), request.body?.reason);
        return reply.status(result.created ? 202 : 200).send(result.body);
      },
    );
  }
};
