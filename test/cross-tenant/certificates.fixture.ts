import { and, eq } from 'drizzle-orm';
import { jobs, sslCertificates, websites } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder, buildServer } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

/** A hosted site of tenant A with a FAILED certificate (what an admin retries). */
async function createCertificate({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const { subscription, domain } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
  const server = await buildServer(db, tenant);
  return withTenant(db, tenant.id, async (tx) => {
    const [website] = await tx.insert(websites).values({ tenantId: tenant.id, subscriptionId: subscription.id, domainId: domain.id, serverId: server.id, docroot: `/srv/${domain.name}/public`, status: 'ACTIVE' }).returning();
    const [row] = await tx
      .insert(sslCertificates)
      .values({ tenantId: tenant.id, domainId: domain.id, websiteId: website!.id, commonName: domain.name, altNames: [domain.name, `www.${domain.name}`], status: 'FAILED', lastError: 'simulated CA outage' })
      .returning();
    return { id: row!.id, subscriptionId: subscription.id };
  });
}

/** The certificate and the ISSUE_SSL jobs of its subscription: a renew adds one. */
const snapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id, subscriptionId }) =>
  withTenant(db, tenant.id, async (tx) => ({
    certificate: await tx.select().from(sslCertificates).where(eq(sslCertificates.id, id!)),
    jobs: await tx.select({ id: jobs.id }).from(jobs).where(and(eq(jobs.subscriptionId, subscriptionId!), eq(jobs.type, 'ISSUE_SSL'))),
  }));

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/ssl-certificates/:id', create: createCertificate, snapshot },
  { route: 'POST /api/ssl-certificates/:id/renew', create: createCertificate, body: {}, snapshot },
];
