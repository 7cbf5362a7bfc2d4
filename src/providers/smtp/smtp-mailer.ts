import nodemailer, { type Transporter } from 'nodemailer';
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
  private readonly transport: Transporter<SMTPPool.SentMessageInfo>;

  constructor(settings: SmtpSettings) {
    this.transport = nodemailer.createTransport({
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
    });
  }

  async send(email: OutgoingEmail): Promise<MailReceipt> {
    try {
      const info = await this.transport.sendMail({
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
    this.transport.close();
  }
}
