import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import type { Env } from '../../src/config/env.js';

/** Clients of the real mail stack (scripts/services.sh): IMAP, inbound SMTP and submission. */

export function imapClient(env: Env, user: string, pass: string): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: env.MPANEL_IMAP_PORT, secure: false, logger: false, auth: { user, pass } });
}

export function inboundSmtp(env: Env) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: env.MPANEL_SMTP_IN_PORT, secure: false, ignoreTLS: true });
}

export function submissionSmtp(env: Env, auth?: { user: string; pass: string }) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: env.MPANEL_SUBMISSION_PORT, secure: false, ignoreTLS: true, ...(auth ? { auth } : {}) });
}

/** true when IMAP refuses the login, false when it accepts it. */
export async function loginRefused(env: Env, user: string, pass: string): Promise<boolean> {
  const client = imapClient(env, user, pass);
  try {
    await client.connect();
  } catch (error) {
    if (error instanceof Error && 'authenticationFailed' in error && error.authenticationFailed === true) return true;
    throw error;
  }
  await client.logout();
  return false;
}

/** The raw message with this subject in the mailbox's INBOX, polled until it arrives (10 s at most). */
export async function receive(env: Env, user: string, pass: string, subject: string): Promise<string> {
  const client = imapClient(env, user, pass);
  await client.connect();
  try {
    const lock = await client.getMailboxLock('INBOX');
    try {
      for (const deadline = Date.now() + 10_000; ; await sleep(25)) {
        await client.noop();
        const uids = await client.search({ subject }, { uid: true });
        const uid = uids ? uids[0] : undefined;
        if (uid !== undefined) {
          const message = await client.fetchOne(String(uid), { source: true }, { uid: true });
          if (message && message.source) return message.source.toString('utf8');
        }
        if (Date.now() > deadline) throw new Error(`"${subject}" did not reach ${user}'s INBOX within 10 s`);
      }
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
}

/** The SMTP reply code and command of a refused send (fails when the send succeeds). */
export async function smtpRefusal(send: Promise<unknown>): Promise<{ code: number | undefined; command: string | undefined }> {
  try {
    await send;
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    const code = 'responseCode' in error && typeof error.responseCode === 'number' ? error.responseCode : undefined;
    const command = 'command' in error && typeof error.command === 'string' ? error.command : undefined;
    return { code, command };
  }
  throw new Error('the SMTP server accepted a message it should have refused');
}
