import { eq } from 'drizzle-orm';
import { domains, type Domain } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import { PermanentStepError } from '../../jobs/runner.js';
import { isNormalizedDomain } from '../../shared/domain-name.js';

/**
 * The domain a provisioning step acts on: the row must exist and still carry the name the job was
 * planned with, and that name must be a normalised domain (it is about to reach a path, a config
 * file or a DNS server). Otherwise the step fails for good: retrying cannot fix it.
 */
export async function requireStepDomain(tx: Tx, domainId: string, name: string): Promise<Domain> {
  if (!isNormalizedDomain(name)) throw new PermanentStepError(`"${name}" is not a normalised domain name`);
  const [domain] = await tx.select().from(domains).where(eq(domains.id, domainId));
  if (!domain) throw new PermanentStepError(`domain ${domainId} does not exist`);
  if (domain.name !== name) throw new PermanentStepError(`domain ${domainId} is ${domain.name}, not ${name}`);
  return domain;
}

/** A subscription's domains become ACTIVE once it is (provisioning complete). */
export async function activateSubscriptionDomains(tx: Tx, subscriptionId: string): Promise<void> {
  await tx.update(domains).set({ status: 'ACTIVE' }).where(eq(domains.subscriptionId, subscriptionId));
}

/** A terminated subscription's domains; returns them (for the DNS retention that follows). */
export async function terminateSubscriptionDomains(tx: Tx, subscriptionId: string): Promise<Domain[]> {
  const rows = await tx.select().from(domains).where(eq(domains.subscriptionId, subscriptionId));
  for (const domain of rows) {
    if (domain.status !== 'TERMINATED') await tx.update(domains).set({ status: 'TERMINATED' }).where(eq(domains.id, domain.id));
  }
  return rows;
}
