import { execFile, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { authenticate } from 'mailauth';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadEnv } from '../src/config/env.js';
import { quoteTxt } from '../src/modules/dns/dns-records.js';
import { powerDns, randomLabel, resolverFor } from './helpers/dns.js';
import { inboundSmtp, loginRefused as imapLoginRefused, receive as receiveMail, smtpRefusal, submissionSmtp, takeMailStackTurn } from './helpers/mail.js';

// This file changes the real mail stack: it takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

// The real mail stack started by scripts/services.sh (Postfix, Dovecot, OpenDKIM, PowerDNS),
// driven only through the files and reload commands services.sh documents for mPanel's mail
// provider (section "Mail" there). Other test files may use the same files at the same time: every
// change holds the documented flock, edits lines in place, and only this file's random domains'
// lines are ever added or removed.

const run = promisify(execFile);
const env = loadEnv();
const panel = env.MAIL_PANEL_DIR;
const files = {
  users: env.DOVECOT_USERS_FILE,
  vdomains: path.join(panel, 'vdomains'),
  vmailboxes: path.join(panel, 'vmailboxes'),
  valiases: path.join(panel, 'valiases'),
  keyTable: path.join(panel, 'dkim', 'KeyTable'),
  signingTable: path.join(panel, 'dkim', 'SigningTable'),
};

const domainA = `${randomLabel('mail-a')}.test`;
const domainB = `${randomLabel('mail-b')}.test`;
const info = `info@${domainA}`;
const small = `small@${domainA}`;
const sales = `sales@${domainA}`;
const inboxB = `inbox@${domainB}`;
const password = { [info]: secret(), [small]: secret(), [inboxB]: secret() };
const selector = 's1';
const keyFile = path.join(panel, 'dkim', 'keys', `${domainA}.${selector}.key`);
const dns = powerDns(env);
const resolver = resolverFor(env);

function secret(): string {
  return `Pw-${randomBytes(9).toString('base64url')}`;
}

/** A line belongs to this file when its key is one of this file's domains or an address in one. */
function ours(line: string): boolean {
  const key = line.split(/[\s:]/, 1)[0] ?? '';
  return [domainA, domainB].some((d) => key === d || key.endsWith(`@${d}`) || key.endsWith(`._domainkey.${d}`));
}

/** Runs `work` holding `flock -x $MAIL_PANEL_DIR/.lock`, the lock every writer of the mail files takes. */
async function underMailLock<T>(work: () => Promise<T>): Promise<T> {
  const holder = spawn('flock', ['-x', '-w', '30', path.join(panel, '.lock'), '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(holder, 'exit');
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    void exited.then(([code]) => reject(new Error(`flock exited (${String(code)}) before it held the lock`)));
    holder.stdout.once('data', () => resolve());
  });
  try {
    return await work();
  } finally {
    holder.stdin.end(); // cat sees EOF, flock exits and the lock is released
    await exited;
  }
}

/**
 * Replaces `file` atomically with its lines passed through `edit`, keeping its owner and mode.
 * `increasingMtime` is the users-file rule: Dovecot only re-reads it when the mtime second or the
 * size changed, so the new mtime is always at least one second past the old one.
 */
async function rewrite(file: string, edit: (lines: string[]) => string[], options: { increasingMtime?: boolean } = {}): Promise<void> {
  const before = await fs.stat(file);
  const lines = (await fs.readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(edit(lines).map((line) => `${line}\n`).join(''));
    await handle.sync();
    await handle.chown(before.uid, before.gid);
    await handle.chmod(before.mode & 0o777);
  } finally {
    await handle.close();
  }
  if (options.increasingMtime) {
    const seconds = Math.max(Math.floor(Date.now() / 1000), Math.floor(before.mtimeMs / 1000) + 1);
    await fs.utimes(temp, seconds, seconds);
  }
  await fs.rename(temp, file);
}

const postmapAndReload = async (...maps: string[]): Promise<void> => {
  for (const map of maps) await run('postmap', ['-c', env.POSTFIX_CONFIG_DIR, `hash:${map}`]);
  await run('postfix', ['-c', env.POSTFIX_CONFIG_DIR, 'reload']);
};
const reloadDovecot = () => run('doveadm', ['-c', env.DOVECOT_CONF, 'reload']);
const reloadOpenDkim = async (): Promise<void> => {
  process.kill(Number((await fs.readFile(env.OPENDKIM_PID_FILE, 'utf8')).trim()), 'SIGUSR1');
};

async function passwordHash(plain: string): Promise<string> {
  return (await run('doveadm', ['pw', '-s', 'SHA512-CRYPT', '-p', plain])).stdout.trim();
}

function userLine(address: string, hash: string, quota: string): string {
  return `${address}:${hash}::::::userdb_quota_rule=*:storage=${quota}`;
}

/** Edits one mailbox's users-file line (suspension, quota) and makes Dovecot and Postfix see it at once. */
async function editUser(address: string, edit: (line: string) => string): Promise<void> {
  await underMailLock(async () => {
    await rewrite(files.users, (lines) => lines.map((line) => (line.startsWith(`${address}:`) ? edit(line) : line)), { increasingMtime: true });
    await reloadDovecot();
    // Postfix's idle smtpd processes keep the old auth and quota-status connections: renew them too.
    await postmapAndReload();
  });
}

const inbound = inboundSmtp(env);
const submission = (auth?: { user: string; pass: string }) => submissionSmtp(env, auth);
const receive = (user: string, subject: string) => receiveMail(env, user, password[user]!, subject);
const loginRefused = (user: string, pass: string) => imapLoginRefused(env, user, pass);

const subject = (what: string) => `${what} ${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dkimTxt = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  // The public key published for real: mailauth asks PowerDNS, as a receiving server would ask DNS.
  await dns.createZone({
    name: domainA,
    account: 'mail-stack-test',
    nameservers: ['ns1.mpanel.test', 'ns2.mpanel.test'],
    soa: { primary: 'ns1.mpanel.test', hostmaster: 'hostmaster.mpanel.test', refresh: 10800, retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 },
    rrsets: [{ name: `${selector}._domainkey.${domainA}`, type: 'TXT', ttl: 300, records: [{ content: quoteTxt(dkimTxt), disabled: false }] }],
  });
  const opendkim = Number((await run('id', ['-u', 'opendkim'])).stdout.trim());
  const hashes = Object.fromEntries(await Promise.all(Object.entries(password).map(async ([user, pass]) => [user, await passwordHash(pass)] as const)));

  await underMailLock(async () => {
    const temp = `${keyFile}.${randomBytes(6).toString('hex')}`;
    await fs.writeFile(temp, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    await fs.chown(temp, opendkim, opendkim);
    await fs.rename(temp, keyFile);
    await rewrite(files.keyTable, (lines) => [...lines, `${selector}._domainkey.${domainA} ${domainA}:${selector}:${keyFile}`]);
    await rewrite(files.signingTable, (lines) => [...lines, `*@${domainA} ${selector}._domainkey.${domainA}`]);
    await rewrite(files.vdomains, (lines) => [...lines, `${domainA} OK`, `${domainB} OK`]);
    await rewrite(files.vmailboxes, (lines) => [...lines, ...[info, small, inboxB].map((address) => `${address} ${address}`)]);
    await rewrite(files.valiases, (lines) => [...lines, `${sales} ${info}`]);
    await rewrite(files.users, (lines) => [...lines, ...[info, small, inboxB].map((address) => userLine(address, hashes[address]!, '100M'))], {
      increasingMtime: true,
    });
    await postmapAndReload(files.vdomains, files.vmailboxes, files.valiases);
    await reloadDovecot();
    await reloadOpenDkim();
  });
});

afterAll(async () => {
  await underMailLock(async () => {
    for (const file of [files.vdomains, files.vmailboxes, files.valiases, files.keyTable, files.signingTable]) {
      await rewrite(file, (lines) => lines.filter((line) => !ours(line)));
    }
    await rewrite(files.users, (lines) => lines.filter((line) => !ours(line)), { increasingMtime: true });
    await postmapAndReload(files.vdomains, files.vmailboxes, files.valiases);
    await reloadDovecot();
    await reloadOpenDkim();
    await fs.rm(keyFile, { force: true });
  });
  for (const domain of [domainA, domainB]) await fs.rm(path.join(env.MAIL_ROOT, domain), { recursive: true, force: true });
  await dns.deleteZone(domainA);
  inbound.close();
});

it('delivers mail for an alias, sent to the inbound port, to the target INBOX, unsigned', async () => {
  const title = subject('to the alias');
  // A forged hosted sender on the inbound port: mail from outside is never signed for the domain.
  await inbound.sendMail({ from: info, to: sales, subject: title, text: 'hello through the alias' });
  const message = await receive(info, title);
  expect(message).toContain('hello through the alias');
  expect(message).toContain(`Delivered-To: ${info}\r\n`);
  expect(message).not.toMatch(/^DKIM-Signature:/im);
});

it('logs in over IMAP with the password and refuses a wrong one', async () => {
  expect(await loginRefused(info, password[info]!)).toBe(false);
  expect(await loginRefused(info, `${password[info]!}-wrong`)).toBe(true);
});

it('signs mail submitted with AUTH to another hosted domain, and mailauth verifies dkim=pass against PowerDNS', async () => {
  const title = subject('signed');
  await submission({ user: info, pass: password[info]! }).sendMail({ from: info, to: inboxB, subject: title, text: 'signed by OpenDKIM' });
  const message = await receive(inboxB, title);
  expect(message).toMatch(/^DKIM-Signature:/im);

  const result = await authenticate(Buffer.from(message), {
    resolver: (name, rrtype) => resolver.resolve(name, rrtype),
    sender: info,
    ip: '127.0.0.1',
    helo: 'client.mail-stack.test',
    mta: 'mail.mpanel.test',
    disableArc: true,
    disableBimi: true,
  });
  expect(result.dkim.results.map((r) => [r.signingDomain, r.selector, r.status.result])).toEqual([[domainA, selector, 'pass']]);
});

it('refuses at RCPT an unknown user (550) and a domain it does not host', async () => {
  const unknown = await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: `nobody@${domainA}`, subject: 'x', text: 'x' }));
  expect(unknown).toEqual({ code: 550, command: 'RCPT TO' });
  const notHosted = await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: `info@not-${domainA}`, subject: 'x', text: 'x' }));
  expect(notHosted).toEqual({ code: 554, command: 'RCPT TO' });
});

it('refuses at RCPT (552) mail for a mailbox that is already full', async () => {
  const title = subject('filler');
  await inbound.sendMail({ from: 'someone@elsewhere.test', to: small, subject: title, text: 'x'.repeat(3000) });
  await receive(small, title);
  // A plan downgrade below what the mailbox holds: it is full from now on.
  await editUser(small, (line) => line.replace(/userdb_quota_rule=\S+/, 'userdb_quota_rule=*:storage=1K'));

  const full = await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: small, subject: 'x', text: 'x' }));
  expect(full).toEqual({ code: 552, command: 'RCPT TO' });
});

it('refuses submission without AUTH, and sending as an address the login does not own', async () => {
  const anonymous = await smtpRefusal(submission().sendMail({ from: info, to: inboxB, subject: 'x', text: 'x' }));
  expect(anonymous).toEqual({ code: 554, command: 'RCPT TO' });
  const forged = await smtpRefusal(submission({ user: info, pass: password[info]! }).sendMail({ from: inboxB, to: info, subject: 'x', text: 'x' }));
  expect(forged).toEqual({ code: 553, command: 'RCPT TO' });
});

it('suspends a mailbox by removing its login: IMAP and SMTP AUTH refused, inbound mail still kept', async () => {
  await editUser(inboxB, (line) => line.replace(/^([^:]+:\{[A-Z0-9-]+\})/, '$1!'));
  expect(await loginRefused(inboxB, password[inboxB]!)).toBe(true);
  const auth = await smtpRefusal(submission({ user: inboxB, pass: password[inboxB]! }).sendMail({ from: inboxB, to: info, subject: 'x', text: 'x' }));
  expect(auth.code).toBe(535);
  const title = subject('while suspended');
  await inbound.sendMail({ from: 'someone@elsewhere.test', to: inboxB, subject: title, text: 'kept for later' });

  await editUser(inboxB, (line) => line.replace(/^([^:]+:\{[A-Z0-9-]+\})!/, '$1'));
  expect(await receive(inboxB, title)).toContain('kept for later');
});
