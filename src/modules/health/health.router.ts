import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { z } from 'zod';
import { sendJsonText } from '../../shared/http/serve-as-is.js';
import { checkReadiness } from './health.service.js';
import { livenessResponse, readinessResponse } from './health.types.js';

export interface HealthRouterDeps {
  pool: pg.Pool;
  redis: Redis;
  /** BILLING_RUN_INTERVAL_MS: /ready reports a billing run older than twice this. */
  billingRunIntervalMs?: number;
}

/**
 * Probes, outside /api: liveness and readiness. Prometheus metrics are not here: they are served
 * on a loopback port of their own (API_METRICS_HOST/PORT, server.ts), never on the public one.
 */
export const healthRouter: FastifyPluginAsyncZod<HealthRouterDeps> = async (app, { pool, redis, billingRunIntervalMs }) => {
  app.get(
    '/health',
    { schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: livenessResponse } }, config: { public: true } },
    // Serialised here, not by the zod serializer: the cheapest answer a load balancer can poll.
    async (_request, reply) => sendJsonText(reply, JSON.stringify({ status: 'ok', uptimeSeconds: Math.round(process.uptime()) } satisfies z.input<typeof livenessResponse>)),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: PostgreSQL and Redis answer (and whether the billing run is on time, reported only)',
        response: { 200: readinessResponse, 503: readinessResponse },
      },
      config: { public: true },
    },
    async (_request, reply) => {
      const readiness = await checkReadiness(pool, redis, billingRunIntervalMs);
      return reply.status(readiness.status === 'ready' ? 200 : 503).send(readiness);
    },
  );
};
