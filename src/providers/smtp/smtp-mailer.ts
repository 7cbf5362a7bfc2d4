import type { Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { MailerError, type MailerPort, type MailReceipt, type OutgoingEmail } from '../mailer.port.js';

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** Pooled connections kept open to the relay. */
  readonly maxConnections: number;
  readonly timeoutMs: number;
}

function replyCode(error: unknown): number | null {
  return typeof error === 'object' && error !== null && 'responseCode' in error && typeof error.responseCode === 'number' ? error.responseCode : null;
}

/**
 * Submits mail to one SMTP relay with nodemailer's pool. A 5xx reply is a permanent refusal (the
 * address or the message will not be accepted as it is); a 4xx reply, a timeout or a cut
 * connection may pass later.
 */
export class SmtpMailer implements MailerPort {
  /**
   * Created at the first message, not at start-up: nodemailer is ~16 MB of RSS, and the API sends
   * mail only now and then (sign-in links, invitations).
   */
  private transport: Promise<Transporter<SMTPPool.SentMessageInfo>> | null = null;

  constructor(private readonly settings: SmtpSettings) {}

  private pool(): Promise<Transporter<SMTPPool.SentMessageInfo>> {
    const { settings } = this;
    this.transport ??= import('nodemailer').then(({ default: nodemailer }) =>
      nodemailer.createTransport({
        pool: true,
        host: settings.host,
        port: settings.port,
        secure: false,
        // A relay on loopback rarely offers STARTTLS; one that does gets it.
        ignoreTLS: false,
        maxConnections: settings.maxConnections,
        maxMessages: Infinity,
        connectionTimeout: settings.timeoutMs,
        greetingTimeout: settings.timeoutMs,
        socketTimeout: settings.timeoutMs,
        ...(settings.user ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
      }),
    );
    return this.transport;
  }

  async send(email: OutgoingEmail): Promise<MailReceipt> {
    try {
      const transport = await this.pool();
      const info = await transport.sendMail({
        from: { name: email.from.name, address: email.from.address },
        to: email.to,
        ...(email.replyTo ? { replyTo: email.replyTo } : {}),
        subject: email.subject,
        text: email.text,
        html: email.html,
        messageId: email.messageId,
        ...(email.headers ? { headers: { ...email.headers } } : {}),
      });
      const response = String(info.response);
      const code = Number(/^(\d{3})/.exec(response)?.[1] ?? 250);
      return { code, response };
    } catch (error) {
      const code = replyCode(error);
      const message = error instanceof Error ? error.message : String(error);
      throw new MailerError(`SMTP submission failed: ${message}`, code !== null && code >= 500, code, { cause: error });
    }
  }

  close(): void {
    // A pool that never came (nodemailer failed to load) has nothing to close.
    void this.transport?.then((transport) => transport.close(), () => undefined);
    this.transport = null;
  }
}
