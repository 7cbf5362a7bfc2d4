import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Database } from '../config/database.js';
import type { JobType } from '../db/schema/index.js';

/**
 * What a step handler receives. `services` is whatever the composition root hands the steps
 * (providers as ports, settings): the runner carries it without knowing what it holds, so this
 * folder knows no feature and no vendor (modules/step-services.ts says what it is).
 */
export interface StepContext<Services> {
  readonly logger: Logger;
  readonly db: Database;
  readonly services: Services;
  /** 1-based attempt number of this run. */
  readonly attempt: number;
  readonly job: { readonly id: string; readonly type: JobType; readonly tenantId: string; readonly subscriptionId: string | null; readonly orderId: string | null };
}

/**
 * A step's typed contract: its job type, the zod schema of its payload (the one source both the
 * code that plans the job and the handler use), and the handler. Handlers must be idempotent
 * (check, then act): a step can run again after a crash or a retry. What a handler returns is
 * stored as the job's result. A handler fails the job at once (no retry) by throwing an error
 * whose `permanent` property is true (see runner.ts); any other error is retried with backoff.
 */
export interface StepDefinition<Services, Schema extends z.ZodType = z.ZodType> {
  readonly type: JobType;
  readonly payload: Schema;
  handle(payload: z.output<Schema>, context: StepContext<Services>): Promise<Record<string, unknown> | undefined>;
}

export type StepRegistry<Services> = ReadonlyMap<JobType, StepDefinition<Services>>;

export function createRegistry<Services>(definitions: readonly StepDefinition<Services>[]): StepRegistry<Services> {
  const registry = new Map<JobType, StepDefinition<Services>>();
  for (const definition of definitions) {
    if (registry.has(definition.type)) throw new Error(`step ${definition.type} is registered twice`);
    registry.set(definition.type, definition);
  }
  return registry;
}
