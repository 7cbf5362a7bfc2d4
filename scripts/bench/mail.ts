import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { loadEnv } from '../../src/config/env.js';
import { mailSettings } from '../../src/container.js';
import { STANDARD_FOLDERS } from '../../src/modules/mail/steps/provision-mail.js';
import { HostDirectory } from '../../src/providers/host/host-directory.js';
import { LocalHost } from '../../src/providers/host/local-host.js';
import type { MailboxSpec, MailDomainSpec } from '../../src/providers/mailserver.port.js';
import { PostfixDovecotProvider } from '../../src/providers/postfix-dovecot/postfix-dovecot.js';
import { round, sleep, summary, type Figure } from './lib.js';

/**
 * Mail hosting against the real stack of scripts/services.sh (Dovecot IMAP, Postfix's inbound
 * port, LMTP), through mPanel's mail provider (PostfixDovecotProvider, LOCAL server):
 * - a new mailbox → its first IMAP login: the floor (the users-file line written as the provider
 *   writes it, under the same flock, then `doveadm reload`) against the provider's create as
 *   PROVISION_MAIL and the mail API call it (`applyDomain` with the domain's whole state, then the
 *   standard folders), the three alternating run by run; the third is the same line without the
 *   reload (Dovecot re-reads a passwd-file whose mtime moved, at most once a second);
 * - 100 mailboxes created at once on one domain (one `applyDomain`, folders for each), all logging in;
 * - messages through Postfix's inbound port to one hosted mailbox over a few SMTP connections:
 *   accepted per second, and SMTP accept (250 after DATA) → visible in INBOX over IMAP.
 * The section takes the machine's mail-stack turn (test/helpers/mail.ts, takeMailStackTurn): its
 * reloads would otherwise drop the logins of a mail test file running beside it, and theirs its own.
 */

const SECTION = 'mail';
const RUNS = Number(process.env.BENCH_MAIL_RUNS ?? 20);
const WARM_UP = 2;
const BULK = Number(process.env.BENCH_MAIL_BULK ?? 100);
const MESSAGES = Number(process.env.BENCH_MAIL_MESSAGES ?? 500);
const SMTP_CONNECTIONS = 4;
const SUFFIX = 'bench-mail.test';
const TARGET_LOGIN_MS = 200;
const QUOTA_MB = 100;

const env = loadEnv();
const settings = mailSettings(env);

/** Held from the section's start to its end: `flock` on the lock the mail test files take turns with. */
async function takeMailStackTurn(): Promise<() => Promise<void>> {
  const holder = spawn('flock', ['-x', '-w', '600', path.join(os.tmpdir(), 'mpanel-mail-stack-tests.lock'), '-c', 'echo turn; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(holder, 'exit');
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    void exited.then(([code]) => reject(new Error(`flock on the mail-stack turn exited (${String(code)}) before holding it`)));
    holder.stdout.once('data', () => resolve());
  });
  return async () => {
    holder.stdin.end();
    await exited;
  };
}

/**
 * Logs in over IMAP until Dovecot accepts (a refusal or a connection closed by a reload is asked
 * again at once); ms from `started`.
 */
async function firstLogin(user: string, pass: string, started: number, timeoutMs = 15_000): Promise<number> {
  for (;;) {
    const client = new ImapFlow({ host: '127.0.0.1', port: settings.imapPort, secure: false, logger: false, auth: { user, pass }, connectionTimeout: 10_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const ms = performance.now() - started;
      await client.logout();
      return ms;
    } catch (error) {
      if (performance.now() - started > timeoutMs) throw new Error(`${user} could not log in over IMAP within ${timeoutMs} ms: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      await sleep(2);
    }
  }
}

function spread(label: string, samples: readonly number[], target?: { ms: number }): Figure[] {
  const { p50, p95 } = summary(samples);
  return [
    { section: SECTION, name: `${label} p50 (${samples.length} runs)`, value: round(p50, 1), unit: 'ms', ...(target ? { target: `<= ${target.ms} ms`, met: p50 <= target.ms } : {}) },
    { section: SECTION, name: `${label} p95`, value: round(p95, 1), unit: 'ms', ...(target ? { target: `<= ${target.ms} ms`, met: p95 <= target.ms } : {}) },
    { section: SECTION, name: `${label} min`, value: round(Math.min(...samples), 1), unit: 'ms' },
    { section: SECTION, name: `${label} max`, value: round(Math.max(...samples), 1), unit: 'ms' },
  ];
}

/** Every domain under SUFFIX that the users file or vdomains still name (an interrupted run's). */
async function leftoverDomains(): Promise<string[]> {
  const users = await fs.readFile(settings.layout.usersFile, 'utf8').catch(() => '');
  const vdomains = await fs.readFile(path.join(settings.layout.panelDir, 'vdomains'), 'utf8').catch(() => '');
  const named = [...users.split('\n').map((line) => line.split(':', 1)[0]?.split('@')[1] ?? ''), ...vdomains.split('\n').map((line) => line.split(/\s/, 1)[0] ?? '')];
  return [...new Set(named.filter((domain) => domain.endsWith(`.${SUFFIX}`)))];
}

export async function benchMail(): Promise<Figure[]> {
  const releaseTurn = await takeMailStackTurn();
  const hosts = new HostDirectory({ sshPrivateKeyPath: null });
  const provider = new PostfixDovecotProvider(hosts, settings);
  const local = { id: 'bench-mail', hostname: 'mail.local', driver: 'LOCAL' as const, ipv4: '127.0.0.1', ipv6: null, sshHost: null, sshPort: null, sshUser: null, sshHostKey: null };
  const mail = provider.forServer(local);
  const host = new LocalHost();
  const run = randomBytes(4).toString('hex');
  const floorDomain = `f${run}.${SUFFIX}`;
  const unreloadedDomain = `n${run}.${SUFFIX}`;
  const providerDomain = `p${run}.${SUFFIX}`;
  const bulkDomain = `b${run}.${SUFFIX}`;
  const inboundDomain = `m${run}.${SUFFIX}`;
  const box = (localPart: string, pass: string): MailboxSpec => ({ localPart, passwordHash: provider.hashPassword(pass), quotaMb: QUOTA_MB, enabled: true });
  const spec = (domain: string, mailboxes: MailboxSpec[]): MailDomainSpec => ({ domain, mailboxes, aliases: [], dkim: null });

  try {
    for (const domain of await leftoverDomains()) await mail.removeDomain(domain, null);
    const figures: Figure[] = [];

    // (a) New mailbox → first IMAP login. Passwords hashed before the clock starts (both sides).
    const total = WARM_UP + RUNS;
    const pass = `Pw-${randomBytes(12).toString('base64url')}`;
    const hash = provider.hashPassword(pass);
    const dovecotGid = (await fs.stat(settings.layout.usersFile)).gid;
    // reload false: the line only; Dovecot sees the file's new mtime on its own (README, "Mail hosting").
    const floorOnce = async (domain: string, localPart: string, reload: boolean): Promise<number> => {
      const started = performance.now();
      await host.withLock(`${settings.layout.panelDir}/.lock`, async () => {
        const current = (await host.readFile(settings.layout.usersFile)) ?? '';
        const line = `${localPart}@${domain}:${hash}::::::userdb_quota_rule=*:storage=${QUOTA_MB}M\n`;
        await host.writeFileAtomic(settings.layout.usersFile, current + line, 0o640, { owner: { uid: 0, gid: dovecotGid }, increaseMtime: true });
        if (!reload) return;
        const reloaded = await host.run(['doveadm', '-c', settings.layout.dovecotConf, 'reload'], 60_000);
        if (reloaded.code !== 0) throw new Error(`doveadm reload: ${reloaded.stderr.trim()}`);
      });
      return firstLogin(`${localPart}@${domain}`, pass, started);
    };
    const created: MailboxSpec[] = [];
    const providerOnce = async (localPart: string): Promise<number> => {
      const started = performance.now();
      created.push({ localPart, passwordHash: hash, quotaMb: QUOTA_MB, enabled: true });
      await mail.applyDomain(spec(providerDomain, [...created]));
      await mail.ensureFolders(`${localPart}@${providerDomain}`, STANDARD_FOLDERS);
      return firstLogin(`${localPart}@${providerDomain}`, pass, started);
    };
    const floor: number[] = [];
    const unreloaded: number[] = [];
    const adapter: number[] = [];
    for (let i = 0; i < total; i++) {
      const floorMs = await floorOnce(floorDomain, `box${i}`, true);
      const unreloadedMs = await floorOnce(unreloadedDomain, `box${i}`, false);
      const adapterMs = await providerOnce(`box${i}`);
      if (i >= WARM_UP) {
        floor.push(floorMs);
        unreloaded.push(unreloadedMs);
        adapter.push(adapterMs);
      }
    }
    const ratio = summary(adapter).p50 / summary(floor).p50;
    figures.push(
      ...spread('floor (users line + doveadm reload) → first IMAP login', floor),
      ...spread('users line, no reload → first IMAP login', unreloaded),
      ...spread('provider (applyDomain + folders) → first IMAP login', adapter, { ms: TARGET_LOGIN_MS }),
      { section: SECTION, name: 'provider vs floor: p50', value: round(ratio), unit: 'x' },
    );

    // (b) BULK mailboxes at once on one domain: one applyDomain (as PROVISION_MAIL does for an
    // order's mailboxes), the standard folders of each, then every one logs in (10 at a time).
    const bulkPasses = Array.from({ length: BULK }, () => `Pw-${randomBytes(12).toString('base64url')}`);
    const bulkBoxes = bulkPasses.map((p, i) => box(`user${i}`, p));
    const bulkStarted = performance.now();
    await mail.applyDomain(spec(bulkDomain, bulkBoxes));
    const applied = performance.now() - bulkStarted;
    for (const b of bulkBoxes) await mail.ensureFolders(`${b.localPart}@${bulkDomain}`, STANDARD_FOLDERS);
    const foldered = performance.now() - bulkStarted;
    let loggedIn = 0;
    const queue = [...bulkBoxes.keys()];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
          await firstLogin(`user${i}@${bulkDomain}`, bulkPasses[i] ?? '', performance.now());
          loggedIn += 1;
        }
      }),
    );
    const bulkTotal = performance.now() - bulkStarted;
    figures.push(
      { section: SECTION, name: `${BULK} mailboxes at once: applyDomain`, value: round(applied / 1000, 2), unit: 's' },
      { section: SECTION, name: `${BULK} mailboxes at once: + folders of each`, value: round(foldered / 1000, 2), unit: 's' },
      { section: SECTION, name: `${BULK} mailboxes at once: + all logged in (total)`, value: round(bulkTotal / 1000, 2), unit: 's' },
      { section: SECTION, name: `${BULK} mailboxes at once: logging in`, value: loggedIn, unit: `of ${BULK}`, target: `${BULK} of ${BULK}`, met: loggedIn === BULK },
    );

    // (c) MESSAGES through Postfix's inbound port to one hosted mailbox, SMTP_CONNECTIONS at a
    // time; an IMAP session with INBOX selected polls (NOOP every 10 ms) and notes when each arrives.
    const inboxPass = `Pw-${randomBytes(12).toString('base64url')}`;
    await mail.applyDomain(spec(inboundDomain, [box('inbox', inboxPass)]));
    await firstLogin(`inbox@${inboundDomain}`, inboxPass, performance.now());
    const watcher = new ImapFlow({ host: '127.0.0.1', port: settings.imapPort, secure: false, logger: false, auth: { user: `inbox@${inboundDomain}`, pass: inboxPass } });
    await watcher.connect();
    const accepted = new Map<string, number>();
    const visible = new Map<string, number>();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: settings.smtpInPort, secure: false, ignoreTLS: true, pool: true, maxConnections: SMTP_CONNECTIONS, maxMessages: Infinity });
    let sendStarted = 0;
    let lastAccepted = 0;
    try {
      await watcher.mailboxOpen('INBOX');
      let seen = watcher.mailbox === false ? 0 : watcher.mailbox.exists;
      let watching = true;
      const watch = (async () => {
        while (watching && visible.size < MESSAGES) {
          await watcher.noop();
          const exists = watcher.mailbox === false ? 0 : watcher.mailbox.exists;
          if (exists > seen) {
            const now = performance.now();
            for await (const message of watcher.fetch(`${seen + 1}:${exists}`, { envelope: true })) {
              const subject = message.envelope?.subject ?? '';
              if (!visible.has(subject)) visible.set(subject, now);
            }
            seen = exists;
          } else await sleep(10);
        }
      })();
      sendStarted = performance.now();
      const pending = [...Array(MESSAGES).keys()];
      await Promise.all(
        Array.from({ length: SMTP_CONNECTIONS }, async () => {
          for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
            const subject = `bench ${run} ${i}`;
            await transport.sendMail({ from: 'sender@elsewhere.test', to: `inbox@${inboundDomain}`, subject, text: `message ${i}\r\n` });
            accepted.set(subject, (lastAccepted = performance.now()));
          }
        }),
      );
      const deadline = Date.now() + 60_000;
      while (visible.size < MESSAGES && Date.now() < deadline) await sleep(50);
      watching = false;
      await watch;
    } finally {
      transport.close();
      await watcher.logout().catch(() => undefined);
    }
    const latencies = [...accepted].flatMap(([subject, at]) => {
      const seenAt = visible.get(subject);
      return seenAt === undefined ? [] : [Math.max(0, seenAt - at)];
    });
    const lastVisible = Math.max(...visible.values());
    figures.push(
      { section: SECTION, name: `inbound SMTP: accepted (${MESSAGES} messages, ${SMTP_CONNECTIONS} connections)`, value: round(MESSAGES / ((lastAccepted - sendStarted) / 1000), 1), unit: 'msg/s' },
      { section: SECTION, name: 'inbound SMTP: visible over IMAP', value: round(visible.size / ((lastVisible - sendStarted) / 1000), 1), unit: 'msg/s' },
      { section: SECTION, name: 'inbound SMTP: visible in INBOX', value: visible.size, unit: `of ${MESSAGES}`, target: `${MESSAGES} of ${MESSAGES}`, met: visible.size === MESSAGES },
      ...spread('SMTP accept → visible over IMAP', latencies).map((figure) => ({ ...figure, name: figure.name.replace('runs', 'messages') })),
    );
    return figures;
  } finally {
    for (const domain of [floorDomain, unreloadedDomain, providerDomain, bulkDomain, inboundDomain]) await mail.removeDomain(domain, null);
    await hosts.close();
    await releaseTurn();
  }
}
