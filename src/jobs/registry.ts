import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Database } from '../config/database.js';
import type { Env } from '../config/env.js';

/** The provisioning steps an order can plan (see plan.ts), in the order they usually run. */
export const stepTypes = ['PROVISION_DNS', 'PROVISION_HOSTING', 'PROVISION_MAIL', 'ISSUE_SSL', 'VERIFY_AND_ACTIVATE'] as const;
export type StepType = (typeof stepTypes)[number];

/** What a step handler may use; each handler names what it needs from here. */
export interface StepContext {
  readonly env: Env;
  readonly logger: Logger;
  readonly db: Database;
  /** 1-based attempt number of this run. */
  readonly attempt: number;
  readonly job: { readonly id: string; readonly tenantId: string; readonly subscriptionId: string | null; readonly orderId: string | null };
}

/**
 * A step's typed contract: its job type, the zod schema of its payload, and the handler. Handlers
 * must be idempotent (check, then act): a step can run again after a crash or a retry. What a
 * handler returns is stored as the job's result.
 */
export interface StepDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly payload: Schema;
  handle(payload: z.output<Schema>, context: StepContext): Promise<Record<string, unknown> | undefined>;
}

export function defineStep<Schema extends z.ZodType>(definition: StepDefinition<Schema>): StepDefinition<Schema> {
  return definition;
}

export type StepRegistry = ReadonlyMap<string, StepDefinition>;

export function createRegistry(definitions: readonly StepDefinition[]): StepRegistry {
  const registry = new Map<string, StepDefinition>();
  for (const definition of definitions) {
    if (registry.has(definition.type)) throw new Error(`step ${definition.type} is registered twice`);
    registry.set(definition.type, definition);
  }
  return registry;
}
