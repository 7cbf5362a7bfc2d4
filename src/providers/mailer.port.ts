import { ProviderError } from './provider-error.js';

/** One email as mPanel sends it: both parts, a stable Message-ID (the delivery's) for dedupe downstream. */
export interface OutgoingEmail {
  readonly from: { readonly name: string; readonly address: string };
  readonly to: string;
  readonly replyTo?: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly messageId: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface MailReceipt {
  /** The server's final reply code (250) and text. */
  readonly code: number;
  readonly response: string;
}

/** A refused or failed submission; `permanent` for 5xx replies (a bounce at submission time). */
export class MailerError extends ProviderError {
  override name = 'MailerError';

  constructor(
    message: string,
    permanent: boolean,
    readonly code: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, permanent, options);
  }
}

export interface MailerPort {
  send(email: OutgoingEmail): Promise<MailReceipt>;
  close(): void;
}
