import type { Logger } from 'pino';
import type { CustomerLinkKind } from '../../db/schema/index.js';

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
 * Delivers customer links (invitation, password reset, sign-in) by email. The email itself is the
 * notifications module's; until it provides a sender, `awaitingNotifications` records that a link
 * was issued (never the link: it is a credential). Called after the link's transaction commits.
 */
export interface CustomerLinkMailer {
  send(mail: CustomerLinkMail): Promise<void>;
}

export function awaitingNotificationsMailer(logger: Logger): CustomerLinkMailer {
  return {
    send(mail) {
      logger.info(
        { kind: mail.kind, tenantId: mail.tenantId, customerId: mail.customerId, loginId: mail.loginId, expiresAt: mail.expiresAt },
        'customer link issued; no email sender is configured yet (notifications), so it was not sent',
      );
      return Promise.resolve();
    },
  };
}
