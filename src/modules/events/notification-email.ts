import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { customers, notificationSettings, notificationTemplates, subscriptions, tenants, users, type DomainEventRow } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import { domainEventTypes, type DomainEventType } from './domain-events.js';
import { escapeHtml, fill, formatDate, formatValue, type EmailTemplate, type Formats } from './email-template.js';
import { fileTemplates } from './templates/index.js';

/**
 * Who hears about an event by email. Customers hear about what happens to their own service and
 * money; staff (the tenant's ADMIN and BILLING users) get the alerts someone must act on.
 * Webhook endpoints receive every type they subscribe to, whatever this says.
 */
export const emailAudience: Readonly<Record<DomainEventType, 'customer' | 'staff' | null>> = {
  'order.received': 'customer',
  'subscription.activated': 'customer',
  // The customer hears nothing yet: staff get job.failed and retry; terminated/suspended say what ends.
  'subscription.failed': null,
  'subscription.suspended': 'customer',
  'subscription.unsuspended': 'customer',
  'subscription.terminated': 'customer',
  'subscription.past_due': 'customer',
  'subscription.recovered': 'customer',
  'subscription.plan_changed': 'customer',
  'invoice.issued': 'customer',
  'invoice.paid': 'customer',
  'invoice.reminder': 'customer',
  'invoice.overdue': 'customer',
  'invoice.termination_warning': 'customer',
  'invoice.voided': 'customer',
  'payment.failed': 'customer',
  'payment.refunded': 'customer',
  'dispute.opened': 'staff',
  'dispute.closed': 'staff',
  'certificate.issued': 'customer',
  'certificate.renewed': 'customer',
  'certificate.failed': 'staff',
  'certificate.expiring': 'staff',
  'mailbox.created': 'customer',
  'job.failed': 'staff',
  'webhook_endpoint.disabled': 'staff',
};

export const STAFF_ROLES = ['ADMIN', 'BILLING'] as const;

export function isDomainEventType(value: string): value is DomainEventType {
  return (domainEventTypes as readonly string[]).includes(value);
}

export interface EmailRecipient {
  readonly address: string;
  readonly name: string;
}

function stringField(payload: Record<string, unknown>, key: string): string | null {
  const value = payload[key];
  return typeof value === 'string' ? value : null;
}

/**
 * The people each event's email goes to (none for an unknown type or a customer without an
 * address), for a batch of one tenant's events: the staff read once, the customers (and the
 * subscriptions that name them) in one query each, whatever the batch's size.
 */
export async function emailRecipients(tx: Tx, events: readonly DomainEventRow[]): Promise<Map<string, EmailRecipient[]>> {
  const recipients = new Map<string, EmailRecipient[]>();
  const audienceOf = (event: DomainEventRow) => (isDomainEventType(event.type) ? emailAudience[event.type] : null);
  const staffEvents = events.filter((event) => audienceOf(event) === 'staff');
  const customerEvents = events.filter((event) => audienceOf(event) === 'customer');
  if (staffEvents.length > 0) {
    const staff = await tx
      .select({ tenantId: users.tenantId, email: users.email, name: users.name })
      .from(users)
      .where(and(inArray(users.tenantId, [...new Set(staffEvents.map((event) => event.tenantId))]), inArray(users.role, [...STAFF_ROLES]), eq(users.isActive, true), isNull(users.deletedAt)));
    for (const event of staffEvents) {
      recipients.set(event.id, staff.filter((user) => user.tenantId === event.tenantId).map((user) => ({ address: user.email.toLowerCase(), name: user.name })));
    }
  }
  if (customerEvents.length === 0) return recipients;
  // A payload without the customer names the subscription: its customer is looked up.
  const subscriptionIds = new Set<string>();
  for (const event of customerEvents) {
    const subscriptionId = stringField(event.payload, 'subscriptionId');
    if (!stringField(event.payload, 'customerId') && subscriptionId) subscriptionIds.add(subscriptionId);
  }
  const customerOfSubscription = new Map<string, string>();
  if (subscriptionIds.size > 0) {
    const rows = await tx.select({ id: subscriptions.id, customerId: subscriptions.customerId }).from(subscriptions).where(inArray(subscriptions.id, [...subscriptionIds]));
    for (const row of rows) customerOfSubscription.set(row.id, row.customerId);
  }
  const customerIdOf = (event: DomainEventRow): string | null => {
    const subscriptionId = stringField(event.payload, 'subscriptionId');
    return stringField(event.payload, 'customerId') ?? (subscriptionId ? (customerOfSubscription.get(subscriptionId) ?? null) : null);
  };
  const customerIds = [...new Set(customerEvents.map(customerIdOf).filter((id): id is string => id !== null))];
  const found =
    customerIds.length === 0
      ? []
      : await tx
          .select({ id: customers.id, email: customers.email, name: customers.name })
          .from(customers)
          .where(and(inArray(customers.id, customerIds), isNull(customers.deletedAt)));
  const customerById = new Map(found.map((customer) => [customer.id, customer]));
  for (const event of customerEvents) {
    const customerId = customerIdOf(event);
    const customer = customerId ? customerById.get(customerId) : undefined;
    recipients.set(event.id, customer ? [{ address: customer.email.toLowerCase(), name: customer.name }] : []);
  }
  return recipients;
}

export interface Branding extends Formats {
  readonly senderName: string;
  readonly replyTo: string | null;
  readonly brandName: string;
  readonly logoUrl: string | null;
  readonly primaryColor: string;
  readonly footerAddress: string | null;
}

/** A customer who reads the email or document. */
export interface Reader {
  readonly customerId: string;
}

/** The customer's own language (customers.locale), or null for the tenant's. */
async function readerLocale(tx: Tx, tenantId: string, reader: Reader): Promise<string | null> {
  const [row] = await tx
    .select({ locale: customers.locale })
    .from(customers)
    .where(and(eq(customers.tenantId, tenantId), eq(customers.id, reader.customerId), isNull(customers.deletedAt)));
  return row?.locale ?? null;
}

/** The customers' own languages by address (lower case), for those of `addresses` who chose one. */
export async function customerLocales(tx: Tx, tenantId: string, addresses: readonly string[]): Promise<Map<string, string>> {
  const wanted = [...new Set(addresses.map((address) => address.toLowerCase()))];
  if (wanted.length === 0) return new Map();
  const rows = await tx
    .select({ email: sql<string>`lower(${customers.email})`, locale: customers.locale })
    .from(customers)
    .where(and(eq(customers.tenantId, tenantId), inArray(sql`lower(${customers.email})`, wanted), isNull(customers.deletedAt), isNotNull(customers.locale)));
  return new Map(rows.flatMap((row) => (row.locale ? [[row.email, row.locale] as const] : [])));
}

/**
 * The tenant's branding; with a reader who is a customer, dates and money in that customer's
 * locale when they chose one (the time zone stays the tenant's).
 */
export async function loadBranding(tx: Tx, tenantId: string, reader?: Reader): Promise<Branding> {
  const [tenant] = await tx.select({ name: tenants.name }).from(tenants).where(eq(tenants.id, tenantId));
  const [settings] = await tx.select().from(notificationSettings).where(eq(notificationSettings.tenantId, tenantId));
  const ownLocale = reader ? await readerLocale(tx, tenantId, reader) : null;
  const brandName = settings?.brandName ?? tenant?.name ?? 'mPanel';
  return {
    senderName: settings?.senderName ?? brandName,
    replyTo: settings?.replyTo ?? null,
    brandName,
    logoUrl: settings?.logoUrl ?? null,
    primaryColor: settings?.primaryColor ?? '#1f6feb',
    footerAddress: settings?.footerAddress ?? null,
    locale: ownLocale ?? settings?.locale ?? 'en-US',
    timeZone: settings?.timeZone ?? 'UTC',
  };
}

/** The tenant's override of an event's template, or the file template. */
export async function loadTemplate(tx: Tx, tenantId: string, type: DomainEventType): Promise<EmailTemplate> {
  const [override] = await tx
    .select({ subject: notificationTemplates.subject, text: notificationTemplates.text, html: notificationTemplates.html })
    .from(notificationTemplates)
    .where(and(eq(notificationTemplates.tenantId, tenantId), eq(notificationTemplates.eventType, type)));
  return override ?? fileTemplates[type];
}

export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface EventFacts {
  readonly id: string;
  readonly type: DomainEventType;
  readonly occurredAt: Date;
  readonly payload: Record<string, unknown>;
}

/** The values a template's placeholders take for one event and recipient, formatted for the locale. */
export function templateValues(event: EventFacts, branding: Branding, recipientName: string): Record<string, string> {
  const values: Record<string, string> = {
    recipientName,
    brandName: branding.brandName,
    occurredAt: formatDate(event.occurredAt.toISOString(), branding),
    eventId: event.id,
    eventType: event.type,
  };
  for (const [key, value] of Object.entries(event.payload)) values[key] = formatValue(value, branding);
  return values;
}

/** One email: the template filled in, the HTML body inside the tenant's branded layout. */
export function renderEmail(template: EmailTemplate, event: EventFacts, branding: Branding, recipientName: string): RenderedEmail {
  return renderBranded(template, templateValues(event, branding, recipientName), branding);
}

/** A template filled with `values` (escaped in HTML), the HTML inside the tenant's branded layout (also for mail that is no event: customer links). */
export function renderBranded(template: EmailTemplate, values: Readonly<Record<string, string>>, branding: Branding): RenderedEmail {
  const subject = fill(template.subject, values, false).replace(/[\r\n]+/g, ' ').trim();
  const footerText = [branding.brandName, branding.footerAddress].filter(Boolean).join(' · ');
  const text = `${fill(template.text, values, false).trim()}\n\n--\n${footerText}\n`;
  const color = /^#[0-9a-fA-F]{6}$/.test(branding.primaryColor) ? branding.primaryColor : '#1f6feb';
  const logo = branding.logoUrl ? `<img src="${escapeHtml(branding.logoUrl)}" alt="${escapeHtml(branding.brandName)}" height="40"><br>` : '';
  const html = [
    '<!doctype html>',
    `<html lang="${escapeHtml(branding.locale)}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>`,
    '<body style="margin:0;padding:0;font-family:Arial,Helvetica,sans-serif;color:#222">',
    `<div style="max-width:600px;margin:0 auto;padding:16px;border-top:4px solid ${color}">`,
    `${logo}<div style="font-size:18px;font-weight:bold;color:${color};margin-bottom:12px">${escapeHtml(branding.brandName)}</div>`,
    fill(template.html, values, true),
    `<hr style="border:none;border-top:1px solid #ddd;margin-top:24px"><p style="font-size:12px;color:#666">${escapeHtml(footerText)}</p>`,
    '</div></body></html>',
  ].join('\n');
  return { subject, text, html };
}
