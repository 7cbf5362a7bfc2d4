import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core';
import { subscriptions } from './billing.js';
import { createdAt, id, tstz, updatedAt } from './columns.js';
import { domains } from './dns.js';
import {
  backupKindEnum,
  backupStatusEnum,
  certificateStatusEnum,
  deploymentStatusEnum,
  mailboxStatusEnum,
  serverDriverEnum,
  serverRoleEnum,
  serverStatusEnum,
  websiteStatusEnum,
} from './enums.js';
import { customerIsolationPolicy, sslRenewalScanPolicy, tenantIsolationPolicy } from './rls.js';
import { tenantId } from './tenancy.js';

/** A machine a worker acts on; its jobs go to that server's queue. */
export const servers = pgTable(
  'servers',
  {
    id: id(),
    tenantId: tenantId(),
    hostname: text('hostname').notNull(),
    role: serverRoleEnum('role').notNull(),
    driver: serverDriverEnum('driver').notNull(),
    status: serverStatusEnum('status').notNull().default('ACTIVE'),
    ipv4: text('ipv4'),
    ipv6: text('ipv6'),
    httpPort: integer('http_port').notNull().default(80),
    sshHost: text('ssh_host'),
    sshPort: integer('ssh_port'),
    sshUser: text('ssh_user'),
    /** Pinned host key (OpenSSH public key line) for the SSH driver. */
    sshHostKey: text('ssh_host_key'),
    /** Maximum number of websites; NULL = unlimited. */
    capacity: integer('capacity'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('servers_http_port_check', sql`${t.httpPort} between 1 and 65535`),
    check('servers_ssh_port_check', sql`${t.sshPort} between 1 and 65535`),
    check('servers_capacity_check', sql`${t.capacity} >= 0`),
    unique('servers_tenant_hostname_role_unique').on(t.tenantId, t.hostname, t.role),
    tenantIsolationPolicy(t.tenantId),
  ],
).enableRLS();

export const websites = pgTable(
  'websites',
  {
    id: id(),
    tenantId: tenantId(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => subscriptions.id),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id),
    docroot: text('docroot').notNull(),
    status: websiteStatusEnum('status').notNull().default('PENDING'),
    suspendedAt: tstz('suspended_at'),
    terminatedAt: tstz('terminated_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('websites_tenant_domain_unique').on(t.tenantId, t.domainId),
    index('websites_server_idx').on(t.serverId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from subscriptions where subscriptions.id = ${t.subscriptionId})`),
  ],
).enableRLS();

/** VPS deployments. */
export const deployments = pgTable(
  'deployments',
  {
    id: id(),
    tenantId: tenantId(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => subscriptions.id),
    serverId: uuid('server_id').references(() => servers.id),
    hostname: text('hostname').notNull(),
    vcpus: integer('vcpus').notNull(),
    memoryMb: integer('memory_mb').notNull(),
    diskGb: integer('disk_gb').notNull(),
    osImage: text('os_image').notNull(),
    ipv4: text('ipv4'),
    status: deploymentStatusEnum('status').notNull().default('PENDING'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('deployments_resources_check', sql`${t.vcpus} > 0 and ${t.memoryMb} > 0 and ${t.diskGb} > 0`),
    index('deployments_subscription_idx').on(t.subscriptionId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from subscriptions where subscriptions.id = ${t.subscriptionId})`),
  ],
).enableRLS();

export const mailboxes = pgTable(
  'mailboxes',
  {
    id: id(),
    tenantId: tenantId(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id),
    subscriptionId: uuid('subscription_id').references(() => subscriptions.id),
    localPart: text('local_part').notNull(),
    /** Only ever a hash; NULL until a password is set. */
    passwordHash: text('password_hash'),
    quotaMb: integer('quota_mb').notNull().default(1024),
    status: mailboxStatusEnum('status').notNull().default('PENDING'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('mailboxes_quota_check', sql`${t.quotaMb} > 0`),
    unique('mailboxes_tenant_domain_local_part_unique').on(t.tenantId, t.domainId, t.localPart),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from domains where domains.id = ${t.domainId})`),
  ],
).enableRLS();

export const backups = pgTable(
  'backups',
  {
    id: id(),
    tenantId: tenantId(),
    subscriptionId: uuid('subscription_id').references(() => subscriptions.id),
    websiteId: uuid('website_id').references(() => websites.id),
    kind: backupKindEnum('kind').notNull(),
    status: backupStatusEnum('status').notNull().default('PENDING'),
    location: text('location'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    error: text('error'),
    startedAt: tstz('started_at'),
    completedAt: tstz('completed_at'),
    createdAt: createdAt(),
  },
  (t) => [
    check('backups_size_check', sql`${t.sizeBytes} >= 0`),
    index('backups_subscription_idx').on(t.subscriptionId),
    index('backups_website_idx').on(t.websiteId),
    tenantIsolationPolicy(t.tenantId),
    // A backup names its subscription, its website, or both; one of them must be the customer's.
    customerIsolationPolicy(
      sql`exists (select 1 from subscriptions where subscriptions.id = ${t.subscriptionId}) or exists (select 1 from websites where websites.id = ${t.websiteId})`,
    ),
  ],
).enableRLS();

export const sslCertificates = pgTable(
  'ssl_certificates',
  {
    id: id(),
    tenantId: tenantId(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id),
    websiteId: uuid('website_id').references(() => websites.id),
    commonName: text('common_name').notNull(),
    altNames: text('alt_names')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    status: certificateStatusEnum('status').notNull().default('PENDING'),
    issuer: text('issuer'),
    serialNumber: text('serial_number'),
    notBefore: tstz('not_before'),
    notAfter: tstz('not_after'),
    certificatePem: text('certificate_pem'),
    /** Encrypted at rest by the application; never the plain key. */
    privateKeyEncrypted: text('private_key_encrypted'),
    /** SHA-256 of the leaf (X509Certificate.fingerprint256): tells one issued certificate from the next. */
    fingerprintSha256: text('fingerprint_sha256'),
    /** When the renewal job takes it (2/3 of its lifetime or 30 days before expiry, whichever is sooner, spread). */
    renewAfter: tstz('renew_after'),
    /** http-01, or dns-01 for a wildcard. */
    challenge: text('challenge').notNull().default('http-01'),
    lastError: text('last_error'),
    failedAt: tstz('failed_at'),
    /** Renewals that gave up in a row since the last issuance: the scheduler's backoff (renew_after moves later each time). */
    renewalFailures: integer('renewal_failures').notNull().default(0),
    /** When certificate.expiring was raised for the current notAfter (cleared by the next issuance). */
    expiryAlertedAt: tstz('expiry_alerted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('ssl_certificates_status_not_after_idx').on(t.status, t.notAfter),
    index('ssl_certificates_renew_after_idx').on(t.renewAfter),
    // One current certificate per domain: a renewal replaces it in place.
    unique('ssl_certificates_domain_unique').on(t.domainId),
    tenantIsolationPolicy(t.tenantId),
    sslRenewalScanPolicy(t.renewAfter),
    customerIsolationPolicy(sql`exists (select 1 from domains where domains.id = ${t.domainId})`),
  ],
).enableRLS();

/**
 * The install's ACME account at each CA (not tenant data): its key generated once, sealed with
 * SECRETS_ENCRYPTION_KEY (associated data `acme_accounts:<directory url>:account_key`).
 */
export const acmeAccounts = pgTable('acme_accounts', {
  id: id(),
  directoryUrl: text('directory_url').notNull().unique(),
  accountUrl: text('account_url').notNull(),
  accountKeyEncrypted: text('account_key_encrypted').notNull(),
  createdAt: createdAt(),
});

export type Server = typeof servers.$inferSelect;
export type NewServer = typeof servers.$inferInsert;
export type Website = typeof websites.$inferSelect;
export type NewWebsite = typeof websites.$inferInsert;
export type Deployment = typeof deployments.$inferSelect;
export type NewDeployment = typeof deployments.$inferInsert;
export type Mailbox = typeof mailboxes.$inferSelect;
export type NewMailbox = typeof mailboxes.$inferInsert;
export type Backup = typeof backups.$inferSelect;
export type NewBackup = typeof backups.$inferInsert;
export type SslCertificate = typeof sslCertificates.$inferSelect;
export type NewSslCertificate = typeof sslCertificates.$inferInsert;
export type AcmeAccount = typeof acmeAccounts.$inferSelect;
