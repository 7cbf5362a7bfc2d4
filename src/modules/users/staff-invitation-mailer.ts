import type { UserRole } from '../../db/schema/index.js';
import { sendLinkEmail, type EmailLinkDeps } from '../customer-auth/customer-link-mailer.js';
import type { EmailTemplate } from '../events/email-template.js';

/** A staff invitation, ready to be emailed. `url` carries the secret token. */
export interface StaffInvitationMail {
  tenantId: string;
  email: string;
  name: string;
  role: UserRole;
  url: string;
  expiresAt: Date;
}

/** Delivers staff invitations. Called after the invitation's transaction commits. */
export interface StaffInvitationMailer {
  send(mail: StaffInvitationMail): Promise<void>;
}

const template: EmailTemplate = {
  subject: 'You are invited to the {{brandName}} control panel',
  text: 'Hello {{recipientName}},\n\nyou are invited to join the {{brandName}} control panel as {{role}}. Choose your password here:\n\n{{url}}\n\nThe link works once, until {{expiresAt}}. If you did not expect this, ignore this message.',
  html: '<p>Hello {{recipientName}},</p><p>you are invited to join the {{brandName}} control panel as {{role}}.</p><p><a href="{{url}}">Choose my password</a></p><p>The link works once, until {{expiresAt}}. If you did not expect this, ignore this message.</p>',
};

/**
 * Staff invitations by email, straight to the SMTP relay in the tenant's branding, like customer
 * links (customer-auth/customer-link-mailer.ts) and for the same reason: the link is a credential.
 */
export function emailStaffInvitationMailer(deps: EmailLinkDeps): StaffInvitationMailer {
  return { send: (mail) => sendLinkEmail(deps, mail, template, { role: mail.role }, 'invitation') };
}
