import { eq } from 'drizzle-orm';
import { servers } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildServer } from '../factories.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

async function createServer({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const server = await buildServer(db, tenant);
  return { id: server.id };
}

function serverSnapshot({ db, tenant }: CrossTenantContext, { id }: Record<string, string>) {
  return withTenant(db, tenant.id, (tx) => tx.select().from(servers).where(eq(servers.id, id!)));
}

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/servers/:id', create: createServer, snapshot: serverSnapshot },
];
