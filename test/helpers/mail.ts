import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Database } from '../../src/config/database.js';
import type { Env } from '../../src/config/env.js';
import { mailDomains, products, type Customer, type MailboxStatus, type MailDomain, type Server, type Tenant } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { dkimKeyAad, domainSpec, lockMailDomain, secretBoxOf } from '../../src/modules/mail/mail-state.js';
import type { MailProvider } from '../../src/providers/mailserver.port.js';
import { connectImap } from '../../src/providers/postfix-dovecot/imap-connect.js';
import { buildOrder, buildServer } from '../factories.js';

/**
 * The test files that change the real mail stack take turns: call this first thing in such a
 * file. Every users-file change runs `doveadm reload`, which drops the logins, lookups and LMTP
 * deliveries in flight on the whole server, so two such files at once failed each other's checks
 * at random. The turn is an flock on one file for the whole machine (any checkout), held from the
 * file's first hook to its last; the other test files go on meanwhile.
 */
export function takeMailStackTurn(): void {
  let holder: ChildProcessWithoutNullStreams | undefined;
  let exited: Promise<unknown> | undefined;
  beforeAll(async () => {
    holder = spawn('flock', ['-x', path.join(tmpdir(), 'mpanel-mail-stack-tests.lock'), '-c', 'echo turn; exec cat >/dev/null']);
    const child = holder;
    exited = once(child, 'exit');
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.stdout.once('data', () => resolve());
    });
  }, 900_000);
  afterAll(async () => {
    holder?.stdin.end();
    await exited;
  });
}

/** Clients of the real mail stack (scripts/services.sh): IMAP, inbound SMTP and submission. */

function imapClient(env: Env, user: string, pass: string): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: env.MPANEL_IMAP_PORT, secure: false, logger: false, auth: { user, pass } });
}

/**
 * The mailbox's folders as Dovecot lists them (`doveadm mailbox list`): what a mail client sees,
 * whether doveadm created them or Dovecot's config creates them at first access (`auto = subscribe`).
 */
export async function listedFolders(env: Env, address: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)('doveadm', ['-c', env.DOVECOT_CONF, 'mailbox', 'list', '-u', address]);
  return stdout.split('\n').map((line) => line.trim()).filter(Boolean).sort();
}

export function inboundSmtp(env: Env) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: env.MPANEL_SMTP_IN_PORT, secure: false, ignoreTLS: true });
}

export function submissionSmtp(env: Env, auth?: { user: string; pass: string }) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: env.MPANEL_SUBMISSION_PORT, secure: false, ignoreTLS: true, ...(auth ? { auth } : {}) });
}

/**
 * A logged-in IMAP client. A login that a Dovecot reload interrupts is tried again, as the
 * provider does (connectImap): every users-file change reloads Dovecot, and the reload returns
 * before Dovecot has restarted its login processes (README, "Pitfalls": the reload).
 */
export function loggedIn(env: Env, user: string, pass: string): Promise<ImapFlow> {
  return connectImap(() => imapClient(env, user, pass));
}

/** true when IMAP refuses the login, false when it accepts it. */
export async function loginRefused(env: Env, user: string, pass: string): Promise<boolean> {
  let client: ImapFlow;
  try {
    client = await loggedIn(env, user, pass);
  } catch (error) {
    if (error instanceof Error && 'authenticationFailed' in error && error.authenticationFailed === true) return true;
    throw error;
  }
  await client.logout();
  return false;
}

/** The raw message with this subject in the mailbox's INBOX, polled until it arrives (10 s at most). */
export async function receive(env: Env, user: string, pass: string, subject: string): Promise<string> {
  const client = await loggedIn(env, user, pass);
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

/**
 * A hosted mail domain of `tenant`, as PROVISION_MAIL leaves it but without mailboxes: an order
 * (subscription + domain) whose product has these mail `features`, a MAIL server row for the
 * loopback stack (for `customer` when given, else a new one), the mail_domains row (a new DKIM key, sealed) in `status`, and the domain
 * applied to the real Postfix/Dovecot/OpenDKIM files. Remove it with `mail.forServer(server).removeDomain`.
 */
export async function buildMailDomain(
  db: Database,
  env: Env,
  mail: MailProvider,
  tenant: Pick<Tenant, 'id'>,
  options: { features?: Record<string, unknown>; status?: MailboxStatus; customer?: Pick<Customer, 'id'> } = {},
): Promise<{ mailDomain: MailDomain; domain: string; server: Server; subscriptionId: string; productId: string }> {
  const order = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE', ...(options.customer ? { customer: options.customer } : {}) });
  const server = await buildServer(db, tenant, { hostname: `mail-${randomBytes(4).toString('hex')}.example.test`, role: 'MAIL' });
  const key = mail.generateDkimKey();
  const id = randomUUID();
  const mailDomain = await withTenant(db, tenant.id, async (tx) => {
    await tx.update(products).set({ type: 'EMAIL', features: options.features ?? { mailboxes: 5, mailboxQuotaMb: 100 } }).where(eq(products.id, order.subscription.productId));
    const [row] = await tx
      .insert(mailDomains)
      .values({
        id,
        tenantId: tenant.id,
        domainId: order.domain.id,
        subscriptionId: order.subscription.id,
        serverId: server.id,
        dkimSelector: env.MAIL_DKIM_SELECTOR,
        dkimPrivateKeyEncrypted: secretBoxOf(env).seal(key.privateKeyPem, dkimKeyAad(id)),
        dkimPublicKey: key.publicKeyBase64,
        status: options.status ?? 'ACTIVE',
      })
      .returning();
    const loaded = await lockMailDomain(tx, id);
    if (!row || !loaded) throw new Error('buildMailDomain: no row');
    await mail.forServer(server).applyDomain(await domainSpec(tx, env, loaded));
    return row;
  });
  return { mailDomain, domain: order.domain.name, server, subscriptionId: order.subscription.id, productId: order.subscription.productId };
}
