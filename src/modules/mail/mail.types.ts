import { z } from 'zod';
import { mailboxStatuses } from '../../db/schema/index.js';
import { isNormalizedDomain } from '../../shared/domain-name.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';

/**
 * Local parts as the mail server's files take them (providers/postfix-dovecot/mail-files.ts checks
 * them again): lower-case ASCII letters, digits and `. _ -`, no leading, trailing or double dot.
 * Checked on the raw text BEFORE lower-casing: `toLowerCase()` turns look-alikes into ASCII (the
 * Kelvin sign K becomes k), and those must be refused, not folded.
 */
const RAW_LOCAL_PART = /^[A-Za-z0-9._-]{1,64}$/;
const LOCAL_PART = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
/** Outside addresses (forwarding targets) may also carry a `+` tag. */
const RAW_TARGET_LOCAL_PART = /^[A-Za-z0-9._+-]{1,64}$/;
/** ASCII only before lower-casing, as for local parts. */
const RAW_DOMAIN = /^[A-Za-z0-9.-]{1,253}$/;
const TARGET_LOCAL_PART = /^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$/;

export const localPart = z
  .string()
  .regex(RAW_LOCAL_PART, 'must be 1 to 64 ASCII letters, digits, dots, underscores or hyphens')
  .transform((value) => value.toLowerCase())
  .refine((value) => LOCAL_PART.test(value) && !value.includes('..'), 'must start and end with a letter or digit and have no ".."')
  .meta({ description: 'The part before the @ (stored lower-case)', example: 'info' });

/** A full address a forwarder may deliver to: hosted here or elsewhere. */
export const targetAddress = z
  .string()
  .max(254)
  .refine((value) => {
    const at = value.lastIndexOf('@');
    if (at <= 0 || !RAW_TARGET_LOCAL_PART.test(value.slice(0, at)) || !RAW_DOMAIN.test(value.slice(at + 1))) return false;
    const local = value.slice(0, at).toLowerCase();
    return TARGET_LOCAL_PART.test(local) && !local.includes('..') && isNormalizedDomain(value.slice(at + 1).toLowerCase());
  }, 'must be an address: an ASCII local part (letters, digits, . _ - +) @ a fully qualified ASCII domain (punycode for IDN)')
  .transform((value) => value.toLowerCase());

const CLASSES = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/];

/**
 * A password chosen by the customer: 12 to 128 characters, no control characters, no surrounding
 * spaces, and either 20+ characters or three of lower case, upper case, digits and symbols. The
 * service also refuses one that contains the mailbox's local part or domain. Never echoed back:
 * the messages below do not quote it.
 */
export const mailboxPassword = z
  .string()
  .min(12, 'must be at least 12 characters')
  .max(128, 'must be at most 128 characters')
  .refine((value) => !/\p{Cc}/u.test(value), 'must not contain control characters')
  .refine((value) => value.trim() === value, 'must not start or end with a space')
  .refine((value) => value.length >= 20 || CLASSES.filter((pattern) => pattern.test(value)).length >= 3, 'is too weak: use 20+ characters, or three of lower case, upper case, digits and symbols')
  .meta({ description: 'Write-only: stored only as a SHA512-CRYPT hash, never returned, logged or audited', writeOnly: true });

export const mailboxStatus = z.enum(mailboxStatuses);

const mailDomainIdField = z.uuid().meta({ description: 'The mail domain (GET /api/mail-domains)' });

export const createMailboxBody = z
  .strictObject({
    mailDomainId: mailDomainIdField,
    localPart,
    quotaMb: z.int().min(1).max(10_000_000).optional().meta({ description: "MB; default and maximum: the plan's mailboxQuotaMb (else MAIL_DEFAULT_QUOTA_MB)" }),
    password: mailboxPassword.optional().meta({ description: 'Omitted: a random password is generated and returned ONCE in `generatedPassword`' }),
  })
  .meta({ id: 'CreateMailbox' });
export type CreateMailboxBody = z.output<typeof createMailboxBody>;

export const updateMailboxBody = z
  .strictObject({
    quotaMb: z.int().min(1).max(10_000_000).optional(),
    enabled: z.boolean().optional().meta({ description: 'false: logins refused (IMAP, SMTP AUTH), inbound mail still accepted and kept' }),
    password: mailboxPassword.optional(),
    resetPassword: z.literal(true).optional().meta({ description: 'A new random password, returned ONCE in `generatedPassword`' }),
  })
  .refine((body) => Object.keys(body).length > 0, { message: 'name at least one of quotaMb, enabled, password, resetPassword' })
  .refine((body) => !(body.password !== undefined && body.resetPassword), { message: 'give a password or ask for a generated one, not both', path: ['resetPassword'] })
  .meta({ id: 'UpdateMailbox' });
export type UpdateMailboxBody = z.output<typeof updateMailboxBody>;

export const listMailboxesQuery = z.strictObject({
  mailDomainId: z.uuid().optional(),
  status: mailboxStatus.optional(),
  ...paginationQuery,
});
export type ListMailboxesQuery = z.output<typeof listMailboxesQuery>;

export const quotaUsage = z
  .object({
    usedBytes: z.number().int(),
    limitBytes: z.number().int().nullable(),
    messages: z.number().int(),
  })
  .meta({ id: 'MailboxUsage', description: "As Dovecot's quota counts it" });

export const mailboxResponse = z
  .object({
    id: z.uuid(),
    mailDomainId: z.uuid().nullable(),
    domainId: z.uuid(),
    subscriptionId: z.uuid().nullable(),
    address: z.string(),
    localPart: z.string(),
    quotaMb: z.number().int(),
    status: mailboxStatus.meta({ description: 'ACTIVE; SUSPENDED: disabled by staff (or the whole domain suspended: see the mail domain)' }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Mailbox' });
export type MailboxView = z.output<typeof mailboxResponse>;

export const mailboxDetail = mailboxResponse
  .extend({
    usage: quotaUsage.nullable().meta({ description: 'null when the mail server did not answer (usageError says why)' }),
    usageError: z.string().nullable(),
  })
  .meta({ id: 'MailboxDetail' });
export type MailboxDetailView = z.output<typeof mailboxDetail>;

export const mailboxWithPassword = z
  .object({
    mailbox: mailboxResponse,
    generatedPassword: z.string().nullable().meta({
      description: 'The generated password, shown this once (never stored in clear, never shown again); null when the caller chose the password or none changed',
    }),
  })
  .meta({ id: 'MailboxChange' });
export type MailboxWithPassword = z.output<typeof mailboxWithPassword>;

export const mailboxDeleted = z
  .object({
    id: z.uuid(),
    address: z.string(),
    archive: z.string().nullable().meta({ description: 'Where the maildir was archived (BACKUPS_DIR on the mail server); null when it held no maildir' }),
  })
  .meta({ id: 'MailboxDeleted' });
export type MailboxDeletedView = z.output<typeof mailboxDeleted>;

export const mailboxesPage = pageOf(mailboxResponse);

export const createAliasBody = z
  .strictObject({
    mailDomainId: mailDomainIdField,
    localPart,
    targets: z.array(targetAddress).min(1).max(50).meta({ description: 'Mailboxes hosted here, other aliases, or outside addresses (a forwarder)' }),
  })
  .meta({ id: 'CreateMailAlias' });
export type CreateAliasBody = z.output<typeof createAliasBody>;

export const listAliasesQuery = z.strictObject({ mailDomainId: z.uuid().optional(), ...paginationQuery });
export type ListAliasesQuery = z.output<typeof listAliasesQuery>;

export const aliasResponse = z
  .object({
    id: z.uuid(),
    mailDomainId: z.uuid(),
    address: z.string(),
    localPart: z.string(),
    targets: z.array(z.string()),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'MailAlias' });
export type AliasView = z.output<typeof aliasResponse>;
export const aliasesPage = pageOf(aliasResponse);

export const listMailDomainsQuery = z.strictObject({ status: mailboxStatus.optional(), ...paginationQuery });
export type ListMailDomainsQuery = z.output<typeof listMailDomainsQuery>;

export const mailDomainResponse = z
  .object({
    id: z.uuid(),
    domainId: z.uuid(),
    domain: z.string(),
    subscriptionId: z.uuid().nullable(),
    serverId: z.uuid(),
    status: mailboxStatus.meta({ description: 'PENDING while provisioning; ACTIVE; SUSPENDED (logins refused, inbound mail kept); DELETED' }),
    dkimSelector: z.string(),
    mailboxes: z.object({
      used: z.number().int().meta({ description: 'Mailboxes not deleted' }),
      limit: z.number().int().nullable().meta({ description: "The plan's `mailboxes` feature; null: no limit" }),
    }),
    aliases: z.number().int(),
    storage: z.object({
      allocatedMb: z.number().int().meta({ description: 'The sum of the mailboxes’ quotas' }),
      mailboxQuotaMaxMb: z.number().int().meta({ description: "A mailbox's quota at most (the plan's mailboxQuotaMb, else MAIL_DEFAULT_QUOTA_MB)" }),
    }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'MailDomain' });
export type MailDomainView = z.output<typeof mailDomainResponse>;

export const mailDomainDetail = mailDomainResponse
  .extend({
    storage: z.object({
      allocatedMb: z.number().int(),
      mailboxQuotaMaxMb: z.number().int(),
      usedBytes: z.number().int().nullable().meta({ description: "The mailboxes' usage as Dovecot counts it; null when the mail server did not answer" }),
    }),
    usageError: z.string().nullable(),
    dns: z
      .array(z.object({ name: z.string(), type: z.string(), purpose: z.enum(['MX', 'SPF', 'DKIM', 'DMARC']), expected: z.string(), inZone: z.boolean() }))
      .meta({ description: "The records mail needs, and whether the domain's zone holds them" }),
  })
  .meta({ id: 'MailDomainDetail' });
export type MailDomainDetailView = z.output<typeof mailDomainDetail>;

export const mailDomainsPage = pageOf(mailDomainResponse);
