import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { z } from 'zod';
import type { HttpMetrics } from '../../shared/metrics/metrics.js';
import { checkReadiness } from './health.service.js';
import { livenessResponse, readinessResponse } from './health.types.js';

export interface HealthRouterDeps {
  pool: pg.Pool;
  redis: Redis;
  metrics: HttpMetrics;
}

/** Operations endpoints, outside /api: liveness, readiness and Prometheus metrics. */
export const healthRouter: FastifyPluginAsyncZod<HealthRouterDeps> = async (app, { pool, redis, metrics }) => {
  app.get(
    '/health',
    { schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: livenessResponse } }, config: { public: true } },
    async () => ({ status: 'ok' as const, uptimeSeconds: Math.round(process.uptime()) }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: PostgreSQL and Redis answer',
        response: { 200: readinessResponse, 503: readinessResponse },
      },
      config: { public: true },
    },
    async (_request, reply) => {
      const readiness = await checkReadiness(pool, redis);
      return reply.status(readiness.status === 'ready' ? 200 : 503).send(readiness);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: z.string() },
      },
      config: { public: true },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).serializer(String).send(await metrics.registry.metrics()),
  );
};
