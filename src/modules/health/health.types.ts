import { z } from 'zod';

export const dependencyCheck = z
  .object({
    ok: z.boolean(),
    latencyMs: z.number(),
    error: z.string().optional(),
  })
  .meta({ id: 'DependencyCheck' });

export const readinessResponse = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.object({ postgres: dependencyCheck, redis: dependencyCheck }),
    billingRun: z
      .object({
        ok: z.boolean().meta({ description: 'false when no billing run finished within twice BILLING_RUN_INTERVAL_MS, or the last one failed' }),
        lastFinishedAt: z.date().nullable(),
        lastStatus: z.enum(['SUCCEEDED', 'FAILED']).nullable(),
      })
      .optional()
      .meta({ description: "The billing scheduler (a worker's job): reported, not part of `status` — the API serves without it" }),
  })
  .meta({ id: 'Readiness' });
export type Readiness = z.infer<typeof readinessResponse>;

export const livenessResponse = z.object({ status: z.literal('ok'), uptimeSeconds: z.number() });
