import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { listJobs, retryJob } from './jobs.service.js';
import { jobsPage, jobWithHistory, listJobsQuery } from './jobs.types.js';

const tags = ['jobs'];

export const jobsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, producer, logger }) => {
  app.get(
    '/jobs',
    {
      schema: {
        tags,
        summary: "List the tenant's provisioning jobs, newest first",
        querystring: listJobsQuery,
        response: { 200: jobsPage, ...authProblems },
      },
      config: { permission: 'jobs:read' },
    },
    async (request) => listJobs(db, authOf(request), request.query),
  );

  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        tags,
        summary: 'Retry a FAILED job',
        description:
          'Resets the job (attempts 0, the error kept in its history) and hands it to the queue once its dependencies have succeeded ' +
          '(status QUEUED; PENDING while they have not, or until the outbox sweeper enqueues it). A FAILED subscription goes back to ' +
          'PROVISIONING when none of its jobs is FAILED any more. Audited. 409 unless the job is FAILED; 503 when the queue (Redis) ' +
          'is unavailable, with nothing changed.',
        params: idParams,
        response: { 200: jobWithHistory, ...authProblems, ...problems(409, 503) },
      },
      config: { permission: 'jobs:retry' },
    },
    async (request) => retryJob({ db, producer, logger: logger.child({ reqId: request.id }) }, authOf(request), request.params.id, actorOf(request)),
  );
};
