import { z } from 'zod';
import { jobStatuses, subscriptionStatuses } from '../../db/schema/index.js';

export const lifecycleActions = ['suspend', 'unsuspend', 'terminate'] as const;
export type LifecycleAction = (typeof lifecycleActions)[number];

export const lifecycleBody = z
  .strictObject({ reason: z.string().trim().min(1).max(500).optional() })
  .meta({ description: 'Why (kept in the audit log)' });

export const lifecycleAccepted = z
  .object({
    subscriptionId: z.uuid(),
    status: z.enum(subscriptionStatuses).meta({ description: 'The subscription status now; it changes when the job succeeds' }),
    job: z.object({ id: z.uuid(), type: z.string(), status: z.enum(jobStatuses) }).nullable().meta({
      description: 'The job doing it; null when the subscription is already in the requested state',
    }),
  })
  .meta({ id: 'LifecycleAccepted' });
export type LifecycleAccepted = z.infer<typeof lifecycleAccepted>;
