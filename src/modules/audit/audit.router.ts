import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams } from '../../shared/http/schemas.js';
import { getAuditLog, listAuditLogs } from './audit.service.js';
import { auditLogItem, auditLogPage, auditLogQuery } from './audit.types.js';

export const auditRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
  app.get(
    '/audit-logs',
    {
      schema: {
        tags: ['audit'],
        summary: "The tenant's audit log, newest first",
        description:
          'Filters combine with AND. `action` is exact, or a prefix with a trailing `*` (`user.*`). `from` is inclusive, `to` exclusive; `from` after `to` is a 400. Cursor pagination over the chain order (`seq`).',
        querystring: auditLogQuery,
        response: { 200: auditLogPage, ...authProblems },
      },
      config: { permission: 'audit:read' },
    },
    async (request) => listAuditLogs(db, authOf(request), request.query),
  );

  app.get(
    '/audit-logs/:id',
    {
      schema: {
        tags: ['audit'],
        summary: 'One audit log entry',
        params: idParams,
        response: { 200: auditLogItem, ...authProblems },
      },
      config: { permission: 'audit:read' },
    },
    async (request) => getAuditLog(db, authOf(request), request.params.id),
  );
};
