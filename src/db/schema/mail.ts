import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, unique, uuid } from 'drizzle-orm/pg-core';
import { subscriptions } from './billing.js';
import { createdAt, id, updatedAt } from './columns.js';
import { domains } from './dns.js';
import { mailboxStatusEnum } from './enums.js';
import { servers } from './hosting.js';
import { customerIsolationPolicy, tenantIsolationPolicy } from './rls.js';
import { tenantId } from './tenancy.js';

/**
 * A domain hosted on a mail server (PROVISION_MAIL): its server, its DKIM key and its state.
 * ACTIVE: provisioned and verified; SUSPENDED: logins refused, inbound mail kept; DELETED: terminated.
 */
export const mailDomains = pgTable(
  'mail_domains',
  {
    id: id(),
    tenantId: tenantId(),
    domainId: uuid('domain_id')
      .notNull()
      .references(() => domains.id),
    subscriptionId: uuid('subscription_id').references(() => subscriptions.id),
    serverId: uuid('server_id')
      .notNull()
      .references(() => servers.id),
    dkimSelector: text('dkim_selector').notNull(),
    /** Sealed with the secret box (SECRETS_ENCRYPTION_KEY), associated data `mail_domains:<id>:dkim_private_key`. */
    dkimPrivateKeyEncrypted: text('dkim_private_key_encrypted').notNull(),
    /** base64 DER SubjectPublicKeyInfo: the `p=` of the DKIM TXT record. */
    dkimPublicKey: text('dkim_public_key').notNull(),
    status: mailboxStatusEnum('status').notNull().default('PENDING'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('mail_domains_tenant_domain_unique').on(t.tenantId, t.domainId),
    index('mail_domains_server_idx').on(t.serverId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from domains where domains.id = ${t.domainId})`),
  ],
).enableRLS();

/** An alias or forwarder: `local_part@domain` delivered to each target (hosted or outside addresses). */
export const mailAliases = pgTable(
  'mail_aliases',
  {
    id: id(),
    tenantId: tenantId(),
    mailDomainId: uuid('mail_domain_id')
      .notNull()
      .references(() => mailDomains.id),
    localPart: text('local_part').notNull(),
    targets: text('targets').array().notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('mail_aliases_targets_check', sql`cardinality(${t.targets}) between 1 and 50`),
    unique('mail_aliases_domain_local_part_unique').on(t.mailDomainId, t.localPart),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(sql`exists (select 1 from mail_domains where mail_domains.id = ${t.mailDomainId})`),
  ],
).enableRLS();

export type MailDomain = typeof mailDomains.$inferSelect;
export type MailAlias = typeof mailAliases.$inferSelect;
