import { and, eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { notificationSettings, notificationTemplates } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { validationFailed } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { AuthContext } from '../auth/auth-context.js';
import { domainEventCatalogue, domainEventTypes, type DomainEventType } from './domain-events.js';
import { checkTemplate, templateVariables, type EmailTemplate } from './email-template.js';
import { emailAudience, loadBranding, renderEmail, type RenderedEmail } from './notification-email.js';
import type { NotificationSettingsBody, NotificationSettingsView, TemplateBody, TemplateView } from './notifications.types.js';
import { fileTemplates } from './templates/index.js';

/**
 * The tenant's say over its emails: branding (sender, reply-to, logo, colours, footer, locale) and
 * its own wording of any event's template. A template is checked when saved — unknown variables
 * or stray braces are a 400 naming the part — so a saved template always renders.
 */

function view(type: DomainEventType, template: EmailTemplate, override: { updatedAt: Date } | null): TemplateView {
  return {
    event: type,
    source: override ? 'tenant' : 'file',
    audience: emailAudience[type] ?? 'none',
    variables: templateVariables(type),
    subject: template.subject,
    text: template.text,
    html: template.html,
    updatedAt: override?.updatedAt ?? null,
  };
}

async function overrides(tx: Tx, tenantId: string) {
  const rows = await tx.select().from(notificationTemplates).where(eq(notificationTemplates.tenantId, tenantId));
  return new Map(rows.map((row) => [row.eventType, row]));
}

export async function listTemplates(db: Database, auth: AuthContext): Promise<{ items: TemplateView[] }> {
  const saved = await withTenant(db, auth.tenantId, (tx) => overrides(tx, auth.tenantId));
  return { items: domainEventTypes.map((type) => view(type, saved.get(type) ?? fileTemplates[type], saved.get(type) ?? null)) };
}

export async function getTemplate(db: Database, auth: AuthContext, type: DomainEventType): Promise<TemplateView> {
  const saved = await withTenant(db, auth.tenantId, (tx) => overrides(tx, auth.tenantId));
  const override = saved.get(type) ?? null;
  return view(type, override ?? fileTemplates[type], override);
}

function assertValid(type: DomainEventType, template: EmailTemplate): void {
  const problems = checkTemplate(type, template);
  if (problems.length > 0) throw validationFailed(problems.map((problem) => ({ field: `body/${problem.part}`, message: problem.message })), 'The template is not valid');
}

export async function saveTemplate(db: Database, auth: AuthContext, type: DomainEventType, body: TemplateBody, actor: AuditActor): Promise<TemplateView> {
  assertValid(type, body);
  return withTenant(db, auth.tenantId, async (tx) => {
    const [before] = await tx
      .select()
      .from(notificationTemplates)
      .where(and(eq(notificationTemplates.tenantId, auth.tenantId), eq(notificationTemplates.eventType, type)));
    const now = new Date();
    const [row] = await tx
      .insert(notificationTemplates)
      .values({ tenantId: auth.tenantId, eventType: type, ...body })
      .onConflictDoUpdate({ target: [notificationTemplates.tenantId, notificationTemplates.eventType], set: { ...body, updatedAt: now } })
      .returning();
    if (!row) throw new Error('upsert into notification_templates returned no row');
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'notification_template.updated',
      targetType: 'notification_template',
      targetId: type,
      before: before ? { subject: before.subject, text: before.text, html: before.html } : null,
      after: body,
    });
    return view(type, row, row);
  });
}

export async function resetTemplate(db: Database, auth: AuthContext, type: DomainEventType, actor: AuditActor): Promise<TemplateView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [removed] = await tx
      .delete(notificationTemplates)
      .where(and(eq(notificationTemplates.tenantId, auth.tenantId), eq(notificationTemplates.eventType, type)))
      .returning();
    if (removed) {
      await recordAudit(tx, {
        tenantId: auth.tenantId,
        actor,
        action: 'notification_template.deleted',
        targetType: 'notification_template',
        targetId: type,
        before: { subject: removed.subject, text: removed.text, html: removed.html },
      });
    }
    return view(type, fileTemplates[type], null);
  });
}

const SAMPLE_ID = '00000000-0000-4000-8000-000000000001';
const SAMPLE_STRINGS: Readonly<Record<string, string>> = {
  domain: 'example.com',
  address: 'info@example.com',
  number: 'INV-2026-0042',
  reason: 'Example reason',
  error: 'Example error',
  jobType: 'PROVISION_DNS',
  from: 'ACTIVE',
  to: 'SUSPENDED',
  rule: 'dunning.suspend',
  kind: 'upgrade',
  fromProductName: 'Starter',
  toProductName: 'Business',
  disputeId: 'dp_example',
  paymentEventId: 'evt_example',
  url: 'https://hooks.example.com/mpanel',
};

/** A payload for `type` with example values, valid against the catalogue (tests check every type). */
export function samplePayload(type: DomainEventType): Record<string, unknown> {
  const payload: Record<string, unknown> = {};
  for (const key of Object.keys(domainEventCatalogue[type].shape)) {
    if (key === 'amount' || key === 'total' || key.endsWith('Amount')) payload[key] = { amount: 4999, currency: 'EUR' };
    else if (key.endsWith('Id') && !(key in SAMPLE_STRINGS)) payload[key] = SAMPLE_ID;
    else if (key.endsWith('At') || key.endsWith('Since') || key === 'notAfter') payload[key] = '2026-12-31T12:00:00.000Z';
    else if (key === 'names') payload[key] = ['example.com', 'www.example.com'];
    else if (key === 'steps') payload[key] = ['PROVISION_DNS', 'PROVISION_HOSTING'];
    else if (key === 'attempts') payload[key] = 6;
    else payload[key] = SAMPLE_STRINGS[key] ?? `Example ${key}`;
  }
  return domainEventCatalogue[type].parse(payload);
}

/** POST /notification-templates/:event/preview: the saved (or given) template with sample data, as the tenant's emails look. */
export async function previewTemplate(db: Database, auth: AuthContext, type: DomainEventType, parts: Partial<EmailTemplate>): Promise<RenderedEmail> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const saved = (await overrides(tx, auth.tenantId)).get(type) ?? fileTemplates[type];
    const template = { subject: parts.subject ?? saved.subject, text: parts.text ?? saved.text, html: parts.html ?? saved.html };
    assertValid(type, template);
    const branding = await loadBranding(tx, auth.tenantId);
    return renderEmail(template, { id: SAMPLE_ID, type, occurredAt: new Date('2026-12-01T09:30:00.000Z'), payload: samplePayload(type) }, branding, 'Ada Lovelace');
  });
}

function settingsView(row: typeof notificationSettings.$inferSelect | undefined): NotificationSettingsView {
  return {
    senderName: row?.senderName ?? null,
    replyTo: row?.replyTo ?? null,
    brandName: row?.brandName ?? null,
    logoUrl: row?.logoUrl ?? null,
    primaryColor: row?.primaryColor ?? null,
    footerAddress: row?.footerAddress ?? null,
    locale: row?.locale ?? 'en-US',
    timeZone: row?.timeZone ?? 'UTC',
  };
}

export async function getNotificationSettings(db: Database, auth: AuthContext): Promise<NotificationSettingsView> {
  const [row] = await withTenant(db, auth.tenantId, (tx) => tx.select().from(notificationSettings).where(eq(notificationSettings.tenantId, auth.tenantId)));
  return settingsView(row);
}

/** PATCH semantics: absent keeps, null clears. */
export async function updateNotificationSettings(db: Database, auth: AuthContext, changes: NotificationSettingsBody, actor: AuditActor): Promise<NotificationSettingsView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [current] = await tx.select().from(notificationSettings).where(eq(notificationSettings.tenantId, auth.tenantId)).for('update');
    const before = settingsView(current);
    const after: NotificationSettingsView = { ...before };
    for (const key of Object.keys(changes) as (keyof NotificationSettingsBody)[]) {
      const value = changes[key];
      if (value === undefined) continue;
      if (key === 'locale' || key === 'timeZone') after[key] = value ?? before[key];
      else after[key] = value;
    }
    const [row] = await tx
      .insert(notificationSettings)
      .values({ tenantId: auth.tenantId, ...after })
      .onConflictDoUpdate({ target: notificationSettings.tenantId, set: { ...after, updatedAt: new Date() } })
      .returning();
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'notification_settings.updated', targetType: 'notification_settings', targetId: auth.tenantId, before, after });
    return settingsView(row);
  });
}
