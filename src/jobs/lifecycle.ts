import type { SubscriptionStatus } from '../db/schema/index.js';

/**
 * The lifecycle steps and the subscription status each one leads to when it succeeds (DESIGN.md
 * state machine: ACTIVE ⇄ SUSPENDED → TERMINATED; PAST_DUE → SUSPENDED).
 */
export const lifecycleTransitions = {
  SUSPEND_SITE: { from: ['ACTIVE', 'PAST_DUE'], to: 'SUSPENDED' },
  UNSUSPEND_SITE: { from: ['SUSPENDED'], to: 'ACTIVE' },
  TERMINATE_SITE: { from: ['ACTIVE', 'PAST_DUE', 'SUSPENDED', 'FAILED'], to: 'TERMINATED' },
} as const satisfies Record<string, { from: readonly SubscriptionStatus[]; to: SubscriptionStatus }>;

export type LifecycleStepType = keyof typeof lifecycleTransitions;

export const lifecycleStepOf = {
  suspend: 'SUSPEND_SITE',
  unsuspend: 'UNSUSPEND_SITE',
  terminate: 'TERMINATE_SITE',
} as const satisfies Record<string, LifecycleStepType>;

export function isLifecycleStep(type: string): type is LifecycleStepType {
  return Object.hasOwn(lifecycleTransitions, type);
}
