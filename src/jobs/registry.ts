import type { Logger } from 'pino';
import type { z } from 'zod';
import type { DatabaseHandle } from '../config/database.js';
import type { Env } from '../config/env.js';

/** What a step handler may use; each handler names what it needs from here, nothing is injected magically. */
export interface JobContext {
  readonly env: Env;
  readonly logger: Logger;
  readonly database: DatabaseHandle;
  /** 1-based attempt number of this run. */
  readonly attempt: number;
}

/**
 * A job's typed contract: its type name, the BullMQ queue it runs on, the zod schema of its
 * payload, and the handler. Handlers must be idempotent (check, then act): a job can run again
 * after a crash or a retry.
 */
export interface JobDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly queue: string;
  readonly payload: Schema;
  handle(payload: z.output<Schema>, context: JobContext): Promise<unknown>;
}

export function defineJob<Schema extends z.ZodType>(definition: JobDefinition<Schema>): JobDefinition<Schema> {
  return definition;
}

/**
 * The production registry. Provisioning steps are added here by their own modules as they land
 * (DNS, hosting, mail, SSL, verify); it never holds a fake step.
 */
export const productionJobs: readonly JobDefinition[] = [];
