import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import pino from 'pino';
import type { Database } from '../../src/config/database.js';
import type { Env } from '../../src/config/env.js';
import type { Tenant } from '../../src/db/schema/index.js';
import { provisionZone, type ProvisionDnsResult } from '../../src/modules/dns/steps/provision-dns.js';
import { dnsSettings } from '../../src/modules/dns/dns-template.js';
import { powerDnsSettings } from '../../src/container.js';
import { PowerDnsClient } from '../../src/providers/powerdns/powerdns.client.js';
import { buildOrder, buildServer, type BuiltOrder } from '../factories.js';

/**
 * DNS test helpers. Every zone a test makes in the shared PowerDNS has a random label (files run
 * in parallel against the same PowerDNS) and is deleted at the end through a ZoneCleanup.
 */

export const silentLogger = pino({ level: 'silent' });

export function randomLabel(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** The real PowerDNS, as configured for the tests. */
export function powerDns(env: Env): PowerDnsClient {
  return new PowerDnsClient(powerDnsSettings(env, silentLogger));
}

/** A resolver that asks PowerDNS itself (DNS_RESOLVER), never the system's. */
export function resolverFor(env: Env): Resolver {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([env.DNS_RESOLVER]);
  return resolver;
}

/** DNS error code of a failed query (ENOTFOUND = NXDOMAIN, ENODATA = no record of that type, EREFUSED). */
/**
 * An answer's records without the `type` field Node 24 adds to MX, SRV and CAA answers
 * (Node 20 and 22 leave it out), so one expectation holds on every supported Node.
 */
export async function answersOf<T extends object>(query: Promise<T[]>): Promise<Omit<T, 'type'>[]> {
  return (await query).map((record) => {
    const { type: _type, ...rest } = record as T & { type?: unknown };
    return rest;
  });
}

export async function dnsErrorCode(query: Promise<unknown>): Promise<string | undefined> {
  try {
    await query;
    return undefined;
  } catch (error) {
    return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : String(error);
  }
}

/** Zones to delete from PowerDNS when the test file ends. */
export class ZoneCleanup {
  private readonly names = new Set<string>();

  track(name: string): string {
    this.names.add(name);
    return name;
  }

  async deleteAll(env: Env): Promise<void> {
    const client = powerDns(env);
    for (const name of this.names) await client.deleteZone(name);
    this.names.clear();
  }
}

export interface ProvisionedZone {
  order: BuiltOrder;
  zone: ProvisionDnsResult;
}

/**
 * An order whose PROVISION_DNS step has run (the real step's work, without the queue): the zone
 * and its default records exist in the database and in PowerDNS.
 */
export async function provisionTestZone(
  env: Env,
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  cleanup: ZoneCleanup,
  options: { webServer?: { ipv4: string | null; ipv6: string | null } } = {},
): Promise<ProvisionedZone> {
  const order = await buildOrder(db, tenant);
  cleanup.track(order.domain.name);
  const server = options.webServer ? await buildServer(db, tenant, options.webServer) : undefined;
  const zone = await provisionZone(
    { db, dns: powerDns(env), settings: dnsSettings(env), logger: silentLogger },
    tenant.id,
    { subscriptionId: order.subscription.id, domainId: order.domain.id, domain: order.domain.name, serverId: server?.id ?? null },
  );
  return { order, zone };
}

