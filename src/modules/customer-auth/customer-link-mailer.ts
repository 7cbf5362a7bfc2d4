import { randomUUID } from 'node:crypto';
import type { Database } from '../../config/database.js';
import type { CustomerLinkKind } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import type { MailerPort } from '../../providers/mailer.port.js';
import { formatDate, type EmailTemplate } from '../events/email-template.js';
import { loadBranding, renderBranded } from '../events/notification-email.js';

/** A one-time link for a customer login, ready to be emailed. `url` carries the secret token. */
export interface CustomerLinkMail {
  kind: CustomerLinkKind;
  tenantId: string;
  customerId: string;
  loginId: string;
  email: string;
  name: string;
  url: string;
  expiresAt: Date;
}

/**
 * Delivers customer links (invitation, password reset, sign-in) by email. Called after the link's
 * transaction commits; a failure is the caller's to log (the link stays valid, and a resend or a
 * new request replaces it).
 */
export interface CustomerLinkMailer {
  send(mail: CustomerLinkMail): Promise<void>;
}

const templates: Readonly<Record<CustomerLinkKind, EmailTemplate>> = {
  INVITATION: {
    subject: 'Your {{brandName}} customer account',
    text: 'Hello {{recipientName}},\n\nyour order with {{brandName}} came with a customer account. Choose its password here:\n\n{{url}}\n\nThe link works once, until {{expiresAt}}.',
    html: '<p>Hello {{recipientName}},</p><p>your order with {{brandName}} came with a customer account. Choose its password here:</p><p><a href="{{url}}">Set my password</a></p><p>The link works once, until {{expiresAt}}.</p>',
  },
  PASSWORD_RESET: {
    subject: 'Reset your {{brandName}} password',
    text: 'Hello {{recipientName}},\n\nsomeone (you, we hope) asked to reset the password of your {{brandName}} account. Choose a new one here:\n\n{{url}}\n\nThe link works once, until {{expiresAt}}. If it was not you, ignore this message: your password stays as it is.',
    html: '<p>Hello {{recipientName}},</p><p>someone (you, we hope) asked to reset the password of your {{brandName}} account.</p><p><a href="{{url}}">Choose a new password</a></p><p>The link works once, until {{expiresAt}}. If it was not you, ignore this message: your password stays as it is.</p>',
  },
  SIGN_IN: {
    subject: 'Your {{brandName}} sign-in link',
    text: 'Hello {{recipientName}},\n\nsign in to {{brandName}} with this link:\n\n{{url}}\n\nIt works once, until {{expiresAt}}. If you did not ask for it, ignore this message.',
    html: '<p>Hello {{recipientName}},</p><p><a href="{{url}}">Sign in to {{brandName}}</a></p><p>The link works once, until {{expiresAt}}. If you did not ask for it, ignore this message.</p>',
  },
};

export interface EmailLinkDeps {
  readonly db: Database;
  readonly mailer: MailerPort;
  readonly from: string;
}

/**
 * Customer links by email, straight to the SMTP relay (SMTP_HOST:SMTP_PORT) in the tenant's
 * branding. Not through the notifications outbox: the link is a credential, and no table keeps it
 * in clear. A lost email is re-requested (reset, sign-in link) or resent by staff (invitation).
 */
export function emailCustomerLinkMailer(deps: EmailLinkDeps): CustomerLinkMailer {
  return { send: (mail) => sendLinkEmail(deps, mail, templates[mail.kind], {}, 'link') };
}

/**
 * One link email in the tenant's branding, straight to the relay: `recipientName`, `brandName`,
 * `url` and `expiresAt` are filled in, and `values` adds the template's own. Staff invitations
 * (users/staff-invitation-mailer.ts) are sent the same way.
 */
export async function sendLinkEmail(
  deps: EmailLinkDeps,
  mail: { readonly tenantId: string; readonly customerId?: string; readonly email: string; readonly name: string; readonly url: string; readonly expiresAt: Date },
  template: EmailTemplate,
  values: Readonly<Record<string, string>>,
  messageIdPrefix: string,
): Promise<void> {
  // A customer's links in the customer's language; staff invitations in the tenant's.
  const branding = await withTenant(deps.db, mail.tenantId, (tx) => loadBranding(tx, mail.tenantId, mail.customerId ? { customerId: mail.customerId } : undefined));
  const filled = { ...values, recipientName: mail.name, brandName: branding.brandName, url: mail.url, expiresAt: formatDate(mail.expiresAt.toISOString(), branding) };
  await deps.mailer.send({
    from: { name: branding.senderName, address: deps.from },
    to: mail.email,
    ...(branding.replyTo ? { replyTo: branding.replyTo } : {}),
    ...renderBranded(template, filled, branding),
    messageId: `<${messageIdPrefix}-${randomUUID()}@${deps.from.split('@')[1] ?? 'mpanel'}>`,
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
}
