import { pgEnum } from 'drizzle-orm/pg-core';

// Value tuples are exported `as const` so zod schemas can reuse them (`z.enum(userRoles)`);
// each pgEnum is built from its tuple, so the database and the API cannot drift apart.

export const userRoles = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'] as const;
export type UserRole = (typeof userRoles)[number];
export const userRoleEnum = pgEnum('user_role', userRoles);

export const productTypes = ['SHARED_HOSTING', 'VPS', 'EMAIL', 'DNS', 'DOMAIN'] as const;
export type ProductType = (typeof productTypes)[number];
export const productTypeEnum = pgEnum('product_type', productTypes);

export const billingIntervals = ['MONTH', 'YEAR', 'ONE_TIME'] as const;
export type BillingInterval = (typeof billingIntervals)[number];
export const billingIntervalEnum = pgEnum('billing_interval', billingIntervals);

export const orderStatuses = ['PENDING', 'PAID', 'FULFILLED', 'FAILED', 'CANCELLED', 'REFUNDED'] as const;
export type OrderStatus = (typeof orderStatuses)[number];
export const orderStatusEnum = pgEnum('order_status', orderStatuses);

export const subscriptionStatuses = [
  'PENDING',
  'PROVISIONING',
  'ACTIVE',
  'PAST_DUE',
  'SUSPENDED',
  'TERMINATED',
  'FAILED',
] as const;
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];
export const subscriptionStatusEnum = pgEnum('subscription_status', subscriptionStatuses);

export const domainStatuses = ['PENDING', 'ACTIVE', 'SUSPENDED', 'TERMINATED'] as const;
export type DomainStatus = (typeof domainStatuses)[number];
export const domainStatusEnum = pgEnum('domain_status', domainStatuses);

export const dnsZoneStatuses = ['PENDING', 'ACTIVE', 'DELETED'] as const;
export type DnsZoneStatus = (typeof dnsZoneStatuses)[number];
export const dnsZoneStatusEnum = pgEnum('dns_zone_status', dnsZoneStatuses);

export const dnsRecordTypes = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS'] as const;
export type DnsRecordType = (typeof dnsRecordTypes)[number];
export const dnsRecordTypeEnum = pgEnum('dns_record_type', dnsRecordTypes);

export const serverRoles = ['WEB', 'MAIL', 'DNS'] as const;
export type ServerRole = (typeof serverRoles)[number];
export const serverRoleEnum = pgEnum('server_role', serverRoles);

export const serverDrivers = ['LOCAL', 'SSH'] as const;
export type ServerDriver = (typeof serverDrivers)[number];
export const serverDriverEnum = pgEnum('server_driver', serverDrivers);

export const serverStatuses = ['ACTIVE', 'DRAINING', 'DISABLED'] as const;
export type ServerStatus = (typeof serverStatuses)[number];
export const serverStatusEnum = pgEnum('server_status', serverStatuses);

export const websiteStatuses = ['PENDING', 'ACTIVE', 'SUSPENDED', 'TERMINATED'] as const;
export type WebsiteStatus = (typeof websiteStatuses)[number];
export const websiteStatusEnum = pgEnum('website_status', websiteStatuses);

export const deploymentStatuses = ['PENDING', 'RUNNING', 'STOPPED', 'FAILED', 'TERMINATED'] as const;
export type DeploymentStatus = (typeof deploymentStatuses)[number];
export const deploymentStatusEnum = pgEnum('deployment_status', deploymentStatuses);

export const mailboxStatuses = ['PENDING', 'ACTIVE', 'SUSPENDED', 'DELETED'] as const;
export type MailboxStatus = (typeof mailboxStatuses)[number];
export const mailboxStatusEnum = pgEnum('mailbox_status', mailboxStatuses);

export const backupKinds = ['WEBSITE', 'MAIL', 'FULL'] as const;
export type BackupKind = (typeof backupKinds)[number];
export const backupKindEnum = pgEnum('backup_kind', backupKinds);

export const backupStatuses = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED'] as const;
export type BackupStatus = (typeof backupStatuses)[number];
export const backupStatusEnum = pgEnum('backup_status', backupStatuses);

/**
 * Every kind of job the pipeline runs, in the order an order's steps usually run (lists of an
 * order's jobs are shown in this order). A new step adds its type here (a migration adds the
 * enum value), its handler in its feature module, and one line in the composition root.
 */
export const jobTypes = [
  'PROVISION_DNS',
  'PROVISION_HOSTING',
  'PROVISION_MAIL',
  'ISSUE_SSL',
  'VERIFY_AND_ACTIVATE',
  'SUSPEND_SITE',
  'UNSUSPEND_SITE',
  'TERMINATE_SITE',
  'SUSPEND_MAIL',
  'UNSUSPEND_MAIL',
  'TERMINATE_MAIL',
] as const;
export type JobType = (typeof jobTypes)[number];
export const jobTypeEnum = pgEnum('job_type', jobTypes);

export const jobStatuses = ['PENDING', 'QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type JobStatus = (typeof jobStatuses)[number];
export const jobStatusEnum = pgEnum('job_status', jobStatuses);

export const certificateStatuses = ['PENDING', 'ISSUED', 'FAILED', 'EXPIRED', 'REVOKED'] as const;
export type CertificateStatus = (typeof certificateStatuses)[number];
export const certificateStatusEnum = pgEnum('certificate_status', certificateStatuses);

export const webhookEventStatuses = ['RECEIVED', 'PROCESSED', 'IGNORED', 'FAILED'] as const;
export type WebhookEventStatus = (typeof webhookEventStatuses)[number];
export const webhookEventStatusEnum = pgEnum('webhook_event_status', webhookEventStatuses);

export const actorTypes = ['USER', 'SYSTEM', 'WEBHOOK', 'CLI', 'CUSTOMER'] as const;
export type ActorType = (typeof actorTypes)[number];
export const actorTypeEnum = pgEnum('actor_type', actorTypes);

/** A customer account's logins (client portal): the owner invites the billing and technical contacts. */
export const customerRoles = ['OWNER', 'BILLING', 'TECHNICAL'] as const;
export type CustomerRole = (typeof customerRoles)[number];
export const customerRoleEnum = pgEnum('customer_role', customerRoles);

/** One-time links sent by email to a customer login. */
export const customerLinkKinds = ['INVITATION', 'PASSWORD_RESET', 'SIGN_IN'] as const;
export type CustomerLinkKind = (typeof customerLinkKinds)[number];
export const customerLinkKindEnum = pgEnum('customer_link_kind', customerLinkKinds);

// Billing (issue 16): who owns a subscription's schedule, invoices, payments, suspension reasons.
export const billingModes = ['MPANEL', 'STRIPE'] as const;
export type BillingMode = (typeof billingModes)[number];
export const billingModeEnum = pgEnum('billing_mode', billingModes);

export const invoiceStatuses = ['DRAFT', 'ISSUED', 'PAID', 'VOID'] as const;
export type InvoiceStatus = (typeof invoiceStatuses)[number];
export const invoiceStatusEnum = pgEnum('invoice_status', invoiceStatuses);

export const invoiceKinds = ['MANUAL', 'INITIAL', 'RENEWAL', 'PRORATION'] as const;
export type InvoiceKind = (typeof invoiceKinds)[number];
export const invoiceKindEnum = pgEnum('invoice_kind', invoiceKinds);

export const paymentSources = ['WEBHOOK', 'STRIPE', 'STAFF'] as const;
export type PaymentSource = (typeof paymentSources)[number];
export const paymentSourceEnum = pgEnum('payment_source', paymentSources);

export const suspensionReasons = ['NON_PAYMENT', 'STAFF', 'ABUSE', 'CANCELLED'] as const;
export type SuspensionReason = (typeof suspensionReasons)[number];
export const suspensionReasonEnum = pgEnum('suspension_reason', suspensionReasons);
