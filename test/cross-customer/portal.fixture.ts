import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { afterAll } from 'vitest';
import { loadEnv } from '../../src/config/env.js';
import { customerLogins, customerRefreshTokens, dnsRecords, dnsZones, subscriptions } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder } from '../factories.js';
import { powerDns, provisionTestZone, ZoneCleanup } from '../helpers/dns.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './fixture.js';

const cleanup = new ZoneCleanup();
afterAll(() => cleanup.deleteAll(loadEnv()));

async function service({ db, tenant }: CrossCustomerContext) {
  const { customer, subscription } = await buildOrder(db, tenant);
  return { params: { id: subscription.id }, owner: await buildCustomerLogin(db, tenant, customer) };
}

async function contact({ db, tenant }: CrossCustomerContext) {
  const { customer } = await buildOrder(db, tenant);
  const owner = await buildCustomerLogin(db, tenant, customer);
  const technical = await buildCustomerLogin(db, tenant, customer, { role: 'TECHNICAL' });
  return { params: { id: technical.id }, owner };
}

async function session({ db, tenant }: CrossCustomerContext) {
  const { customer } = await buildOrder(db, tenant);
  const owner = await buildCustomerLogin(db, tenant, customer);
  const familyId = randomUUID();
  await withTenant(db, tenant.id, (tx) =>
    tx.insert(customerRefreshTokens).values({ tenantId: tenant.id, customerId: customer.id, loginId: owner.id, familyId, tokenHash: `cc-${familyId}`, expiresAt: new Date(Date.now() + 3_600_000) }),
  );
  return { params: { id: familyId }, owner };
}

async function zone({ db, env, tenant }: CrossCustomerContext) {
  const provisioned = await provisionTestZone(env, db, tenant, cleanup);
  return { params: { id: provisioned.zone.zoneId }, owner: await buildCustomerLogin(db, tenant, provisioned.order.customer) };
}

async function record({ db, env, tenant }: CrossCustomerContext) {
  const provisioned = await provisionTestZone(env, db, tenant, cleanup);
  const [www] = await withTenant(db, tenant.id, (tx) => tx.select().from(dnsRecords).where(eq(dnsRecords.name, `www.${provisioned.order.domain.name}`)));
  if (!www) throw new Error('no www record');
  return { params: { id: www.id, zoneId: provisioned.zone.zoneId }, owner: await buildCustomerLogin(db, tenant, provisioned.order.customer) };
}

async function zoneState({ db, env, tenant }: CrossCustomerContext, zoneId: string) {
  const state = await withTenant(db, tenant.id, async (tx) => ({
    zone: await tx.select().from(dnsZones).where(eq(dnsZones.id, zoneId)),
    records: await tx.select().from(dnsRecords).where(eq(dnsRecords.zoneId, zoneId)).orderBy(asc(dnsRecords.id)),
  }));
  const name = state.zone[0]?.name;
  return { ...state, powerDns: name ? await powerDns(env).getZone(name) : null };
}

export const fixtures: CrossCustomerFixture[] = [
  {
    route: 'GET /api/portal/services/:id',
    create: service,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, id!))),
  },
  {
    route: 'DELETE /api/portal/contacts/:id',
    create: contact,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(customerLogins).where(eq(customerLogins.id, id!))),
  },
  {
    route: 'DELETE /api/portal/sessions/:id',
    create: session,
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(customerRefreshTokens).where(eq(customerRefreshTokens.familyId, id!))),
  },
  { route: 'GET /api/portal/dns/zones/:id', create: zone, snapshot: (context, { id }) => zoneState(context, id!) },
  { route: 'POST /api/portal/dns/zones/:id/records', create: zone, body: { name: 'cross-customer', type: 'A', content: '192.0.2.77' }, snapshot: (context, { id }) => zoneState(context, id!) },
  { route: 'PATCH /api/portal/dns/records/:id', create: record, body: { content: '192.0.2.76' }, snapshot: (context, { zoneId }) => zoneState(context, zoneId!) },
  { route: 'DELETE /api/portal/dns/records/:id', create: record, snapshot: (context, { zoneId }) => zoneState(context, zoneId!) },
];
