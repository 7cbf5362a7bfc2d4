import type { StepDefinition } from './registry.js';
import { provisionDns } from './steps/provision-dns.js';
import { provisionHosting } from './steps/provision-hosting.js';
import { suspendSite, terminateSite, unsuspendSite } from './steps/site-lifecycle.js';
import { verifyAndActivate } from './steps/verify-and-activate.js';

/**
 * The production registry. Provisioning steps are added by their own modules as they land
 * (DNS, hosting, mail, SSL, verify); it never holds a fake step. A job whose type has no handler
 * here fails with a clear error and stays retryable by an admin once the handler ships.
 *
 * Its own file rather than registry.ts: each step imports `defineStep` from registry.ts, so the
 * list of steps there would be an import cycle (registry ← step ← registry).
 */
export const productionSteps: readonly StepDefinition[] = [provisionDns, provisionHosting, verifyAndActivate, suspendSite, unsuspendSite, terminateSite];
