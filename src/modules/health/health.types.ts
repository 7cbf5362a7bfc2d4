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
  })
  .meta({ id: 'Readiness' });
export type Readiness = z.infer<typeof readinessResponse>;

export const livenessResponse = z.object({ status: z.literal('ok'), uptimeSeconds: z.number() });
