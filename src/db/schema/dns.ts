import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, pgTable, primaryKey, text, unique, uuid, type PgColumn } from 'drizzle-orm/pg-core';
import { customers, subscriptions } from './billing.js';
import { createdAt, deletedAt, id, tstz, updatedAt } from './columns.js';
import { dnsRecordTypeEnum, dnsZoneStatusEnum, domainStatusEnum } from './enums.js';
import { customerIsolationPolicy, ownedByCustomer, tenantIsolationPolicy } from './rls.js';
import { tenantId, tenants } from './tenancy.js';

/** Backstop for the application's validation: lower-case, no trailing dot, at most 253 chars. */
const fqdnCheck = (name: string, col: PgColumn) =>
  check(name, sql`${col} = lower(${col}) and char_length(${col}) between 1 and 253 and right(${col}, 1) <> '.'`);

/** A customer's domain name: lower-case punycode FQDN without the trailing dot. */
export const domains = pgTable(
  'domains',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    subscriptionId: uuid('subscription_id').references(() => subscriptions.id),
    name: text('name').notNull(),
    status: domainStatusEnum('status').notNull().default('PENDING'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    fqdnCheck('domains_name_check', t.name),
    unique('domains_tenant_name_unique').on(t.tenantId, t.name),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

/**
 * The registry of hosted names across the install: one row per domain, whichever tenant holds it.
 * NO row-level security, and no privilege for the application role: it is written by a trigger on
 * `domains` and read through SECURITY DEFINER functions (migration 0006), so a tenant never reads
 * another tenant's names, yet a name, a name under it or a parent of it is held by one tenant only.
 */
export const hostedNames = pgTable(
  'hosted_names',
  {
    name: text('name').primaryKey(),
    /** Not `tenant_id`: the table is deliberately outside the tenant policy. */
    ownerTenantId: uuid('owner_tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'restrict' }),
    domainId: uuid('domain_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [fqdnCheck('hosted_names_name_check', t.name), index('hosted_names_reverse_idx').on(sql`(reverse(${t.name}) collate "C")`)],
);

/**
 * The host names of the platform's servers (kept from `servers` by a trigger, across tenants), for
 * the registry's check: no tenant may host them, a name under them or a parent of them. Like
 * hosted_names, outside row-level security and out of the application role's reach.
 */
export const platformServerNames = pgTable(
  'platform_server_names',
  {
    name: text('name').notNull(),
    serverId: uuid('server_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.name, t.serverId] }), index('platform_server_names_reverse_idx').on(sql`(reverse(${t.name}) collate "C")`)],
);

export const dnsZones = pgTable(
  'dns_zones',
  {
    id: id(),
    tenantId: tenantId(),
    domainId: uuid('domain_id').references(() => domains.id),
    name: text('name').notNull(),
    status: dnsZoneStatusEnum('status').notNull().default('PENDING'),
    /** SOA serial as last written to PowerDNS. */
    serial: bigint('serial', { mode: 'number' }),
    /** When a DELETED zone may be purged (retention). */
    deleteAfter: tstz('delete_after'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: deletedAt(),
  },
  (t) => [
    fqdnCheck('dns_zones_name_check', t.name),
    unique('dns_zones_tenant_name_unique').on(t.tenantId, t.name),
    index('dns_zones_status_idx').on(t.status),
    tenantIsolationPolicy(t.tenantId),
    // A zone is the customer's through its domain (domains is under the same policy).
    customerIsolationPolicy(sql`exists (select 1 from domains where domains.id = ${t.domainId})`),
  ],
).enableRLS();

export const dnsRecords = pgTable(
  'dns_records',
  {
    id: id(),
    tenantId: tenantId(),
    zoneId: uuid('zone_id')
      .notNull()
      .references(() => dnsZones.id, { onDelete: 'cascade' }),
    /** FQDN without the trailing dot. */
    name: text('name').notNull(),
    type: dnsRecordTypeEnum('type').notNull(),
    content: text('content').notNull(),
    ttl: integer('ttl').notNull().default(3600),
    priority: integer('priority'),
    /** true for records created from the default template. */
    managed: boolean('managed').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('dns_records_ttl_check', sql`${t.ttl} between 60 and 604800`),
    check('dns_records_priority_check', sql`${t.priority} between 0 and 65535`),
    index('dns_records_zone_name_type_idx').on(t.zoneId, t.name, t.type),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from dns_zones where dns_zones.id = ${t.zoneId})`),
  ],
).enableRLS();

export type Domain = typeof domains.$inferSelect;
export type NewDomain = typeof domains.$inferInsert;
export type HostedName = typeof hostedNames.$inferSelect;
export type DnsZone = typeof dnsZones.$inferSelect;
export type NewDnsZone = typeof dnsZones.$inferInsert;
export type DnsRecord = typeof dnsRecords.$inferSelect;
export type NewDnsRecord = typeof dnsRecords.$inferInsert;
