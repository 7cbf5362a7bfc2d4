import type { z } from 'zod';
import type { Env } from '../config/env.js';
import type { StepContext as RunnerStepContext, StepDefinition as RunnerStepDefinition } from '../jobs/registry.js';
import type { CertificateAuthorities } from '../providers/certificates.port.js';
import type { DnsPort } from '../providers/dns.port.js';
import type { HostingProvider } from '../providers/hosting.port.js';
import type { SecretBox } from '../shared/crypto/secret-box.js';
import type { MailProvider } from '../providers/mailserver.port.js';

/**
 * What the composition root hands every provisioning step: providers as ports (built once, in
 * container.ts) and the settings. A step names what it uses from here; none builds a provider.
 */
export interface StepServices {
  readonly env: Env;
  readonly dns: DnsPort;
  readonly hosting: HostingProvider;
  readonly certificates: CertificateAuthorities;
  /** Seals and opens secrets at rest (SECRETS_ENCRYPTION_KEY). */
  readonly secrets: SecretBox;
  readonly mail: MailProvider;
}

export type StepContext = RunnerStepContext<StepServices>;
export type StepDefinition<Schema extends z.ZodType = z.ZodType> = RunnerStepDefinition<StepServices, Schema>;

/** Declares a step of a feature; the composition root registers it (container.ts, productionSteps). */
export function defineStep<Schema extends z.ZodType>(definition: StepDefinition<Schema>): StepDefinition<Schema> {
  return definition;
}
