import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  readonly envelopeTo: string[];
  readonly parsed: ParsedMail;
}

/** What the listener answers to a message's DATA: accept, refuse with a code, or never answer. */
export type DataAnswer = { readonly code: number; readonly message: string } | 'accept' | 'hang';

export interface SmtpListener {
  readonly port: number;
  /** Messages accepted (answered 250), in order. */
  readonly received: ReceivedMail[];
  /** Messages whose DATA began, accepted or not. */
  dataStarted: number;
  /** Decides each message's answer (default: accept). */
  answer: (to: string[]) => DataAnswer;
  close(): Promise<void>;
}

/** A real SMTP server on loopback (the smtp-server package) that keeps what it accepts. */
export async function startSmtpListener(): Promise<SmtpListener> {
  const listener: SmtpListener = {
    port: 0,
    received: [],
    dataStarted: 0,
    answer: () => 'accept',
    close: async () => undefined,
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Many connections at once for the benchmark and the concurrent tests.
    maxClients: 200,
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (error?: Error | null) => void) {
      listener.dataStarted += 1;
      const to = session.envelope.rcptTo.map((rcpt) => rcpt.address);
      const answer = listener.answer(to);
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (answer === 'hang') return;
        if (answer !== 'accept') {
          callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
          return;
        }
        simpleParser(Buffer.concat(chunks))
          .then((parsed) => {
            listener.received.push({ envelopeTo: to, parsed });
            callback();
          })
          .catch((error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address() as AddressInfo;
  Object.assign(listener, { port: address.port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return listener;
}
