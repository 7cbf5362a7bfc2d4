import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { getCertificate, listCertificates, requestRenewal } from './certificates.api.service.js';
import { certificateResponse, certificatesPage, listCertificatesQuery, renewAccepted } from './certificates.types.js';

const tags = ['ssl-certificates'];

/** The sites' certificates: names, status, expiry, issuer, last error; an admin's renew (or retry). */
export const certificatesRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { env, db, producer, logger }) => {
  app.get(
    '/ssl-certificates',
    {
      schema: { tags, summary: "List the tenant's site certificates", description: 'Newest first, cursor-paginated; filter by status (FAILED: the alerts).', querystring: listCertificatesQuery, response: { 200: certificatesPage, ...authProblems } },
      config: { permission: 'certificates:read' },
    },
    async (request) => listCertificates(db, authOf(request), request.query),
  );

  app.get(
    '/ssl-certificates/:id',
    {
      schema: { tags, summary: 'A site certificate (never its key)', params: idParams, response: { 200: certificateResponse, ...authProblems } },
      config: { permission: 'certificates:read' },
    },
    async (request) => getCertificate(db, authOf(request), request.params.id),
  );

  app.post(
    '/ssl-certificates/:id/renew',
    {
      schema: {
        tags,
        summary: 'Renew now (or retry a FAILED certificate)',
        description: 'Answers 202 with the ISSUE_SSL job, which issues a new certificate and puts it on the web server. 409 while one runs.',
        params: idParams,
        response: { 202: renewAccepted, ...authProblems, ...problems(409) },
      },
      config: { permission: 'certificates:renew' },
    },
    async (request, reply) => {
      const deps = { db, producer, logger: logger.child({ reqId: request.id }), maxAttempts: env.JOB_MAX_ATTEMPTS };
      return reply.status(202).send(await requestRenewal(deps, authOf(request), request.params.id, actorOf(request)));
    },
  );
};
