import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { authenticate } from 'mailauth';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { mailSettings } from '../../container.js';
import { quoteTxt } from '../../modules/dns/dns-records.js';
import { powerDns, randomLabel, resolverFor } from '../../../test/helpers/dns.js';
import { takeMailStackTurn, inboundSmtp, loggedIn, loginRefused, receive, smtpRefusal, submissionSmtp } from '../../../test/helpers/mail.js';
import { HostDirectory } from '../host/host-directory.js';
import { recordingHost } from '../../../test/helpers/recording-host.js';
import { InvalidMailInputError, type MailboxSpec, type MailDomainSpec } from '../mailserver.port.js';
import { PostfixDovecotMail, PostfixDovecotProvider } from './postfix-dovecot.js';

// This file changes the real mail stack: it takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

// The adapter against the real mail stack of scripts/services.sh (shared with other test files:
// every domain here is random, and afterAll removes them).

const env = loadEnv();
const hosts = new HostDirectory({ sshPrivateKeyPath: null });
const provider = new PostfixDovecotProvider(hosts, mailSettings(env));
const local = { id: 'local-mail', hostname: 'mail.local', driver: 'LOCAL' as const, ipv4: '127.0.0.1', ipv6: null, sshHost: null, sshPort: null, sshUser: null, sshHostKey: null };
const mail = provider.forServer(local);
const dns = powerDns(env);
const resolver = resolverFor(env);
const archives = path.join(env.BACKUPS_DIR, `mail-test-${randomBytes(4).toString('hex')}`);

const domains: string[] = [];
const zones: string[] = [];
const newDomain = (prefix: string) => {
  const domain = `${randomLabel(prefix)}.test`;
  domains.push(domain);
  return domain;
};
const secret = () => `Pw-${randomBytes(9).toString('base64url')}`;
const box = (localPart: string, pass: string, extra: Partial<MailboxSpec> = {}): MailboxSpec => ({ localPart, passwordHash: provider.hashPassword(pass), quotaMb: 100, enabled: true, ...extra });
const subject = (what: string) => `${what} ${randomBytes(4).toString('hex')}`;
const inbound = inboundSmtp(env);

afterAll(async () => {
  for (const domain of domains) await mail.removeDomain(domain, null);
  for (const zone of zones) await dns.deleteZone(zone);
  await fs.rm(archives, { recursive: true, force: true });
  inbound.close();
  await hosts.close();
});

describe('applyDomain', () => {
  const domain = newDomain('pd-a');
  const other = newDomain('pd-b');
  const pass = { info: secret(), inbox: secret() };
  const key = provider.generateDkimKey();
  let spec: MailDomainSpec = {
    domain,
    mailboxes: [box('info', pass.info)],
    aliases: [{ localPart: 'sales', targets: [`info@${domain}`] }],
    dkim: { selector: 'mp1', privateKeyPem: key.privateKeyPem },
  };

  it('creates the mailbox, alias and DKIM key; a repeat writes nothing', async () => {
    const first = await mail.applyDomain(spec);
    expect(first.reloaded).toEqual(['dovecot', 'postfix', 'opendkim']);
    await mail.applyDomain({ domain: other, mailboxes: [box('inbox', pass.inbox)], aliases: [], dkim: null });
    const again = await mail.applyDomain(spec);
    expect(again).toEqual({ changed: [], reloaded: [] });

    const keyFile = path.join(env.MAIL_PANEL_DIR, 'dkim', 'keys', `${domain}.mp1.key`);
    const stat = await fs.stat(keyFile);
    expect(stat.mode & 0o777).toBe(0o600);
    const users = await fs.stat(env.DOVECOT_USERS_FILE);
    expect(users.mode & 0o777).toBe(0o640);
    expect(await fs.readFile(env.DOVECOT_USERS_FILE, 'utf8')).not.toContain(pass.info);
  });

  it('logs in with the password, refuses a wrong one; a password change counts at once', async () => {
    expect(await loginRefused(env, `info@${domain}`, pass.info)).toBe(false);
    expect(await loginRefused(env, `info@${domain}`, `${pass.info}x`)).toBe(true);
    const changed = secret();
    await mail.applyDomain({ ...spec, mailboxes: [box('info', changed)] });
    expect(await loginRefused(env, `info@${domain}`, changed)).toBe(false);
    expect(await loginRefused(env, `info@${domain}`, pass.info)).toBe(true);
    pass.info = changed;
    spec = { ...spec, mailboxes: [box('info', changed)] };
  });

  it('delivers mail for the alias to the target INBOX', async () => {
    const title = subject('alias');
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: `sales@${domain}`, subject: title, text: 'through the alias' });
    expect(await receive(env, `info@${domain}`, pass.info, title)).toContain('through the alias');
  });

  it('signs mail submitted with AUTH to another hosted domain; mailauth verifies dkim=pass against PowerDNS', async () => {
    zones.push(domain);
    await dns.createZone({
      name: domain,
      account: 'mail-adapter-test',
      nameservers: ['ns1.mpanel.test', 'ns2.mpanel.test'],
      soa: { primary: 'ns1.mpanel.test', hostmaster: 'hostmaster.mpanel.test', refresh: 10800, retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 },
      rrsets: [{ name: `mp1._domainkey.${domain}`, type: 'TXT', ttl: 300, records: [{ content: quoteTxt(`v=DKIM1; k=rsa; p=${key.publicKeyBase64}`), disabled: false }] }],
    });
    const title = subject('signed');
    await submissionSmtp(env, { user: `info@${domain}`, pass: pass.info }).sendMail({ from: `info@${domain}`, to: `inbox@${other}`, subject: title, text: 'signed' });
    const message = await receive(env, `inbox@${other}`, pass.inbox, title);
    const result = await authenticate(Buffer.from(message), {
      resolver: (name, rrtype) => resolver.resolve(name, rrtype),
      sender: `info@${domain}`,
      ip: '127.0.0.1',
      helo: 'client.test',
      mta: 'mail.mpanel.test',
      disableArc: true,
      disableBimi: true,
    });
    expect(result.dkim.results.map((r) => [r.signingDomain, r.selector, r.status.result])).toEqual([[domain, 'mp1', 'pass']]);
  });

  it('refuses an unknown user with 550 and a full mailbox with 552, at RCPT', async () => {
    const unknown = await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: `nobody@${domain}`, subject: 'x', text: 'x' }));
    expect(unknown).toEqual({ code: 550, command: 'RCPT TO' });

    const title = subject('filler');
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: `inbox@${other}`, subject: title, text: 'x'.repeat(3000) });
    await receive(env, `inbox@${other}`, pass.inbox, title);
    // Quotas are whole MiB here: fill past 1 MiB, then the mailbox is full.
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: `inbox@${other}`, subject: subject('big'), text: 'y'.repeat(1_100_000) });
    await mail.applyDomain({ domain: other, mailboxes: [box('inbox', pass.inbox, { quotaMb: 1 })], aliases: [], dkim: null });
    for (const deadline = Date.now() + 10_000; (await mail.quota(`inbox@${other}`)).usedBytes < 1_048_576 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    const full = await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: `inbox@${other}`, subject: 'x', text: 'x' }));
    expect(full).toEqual({ code: 552, command: 'RCPT TO' });
    const usage = await mail.quota(`inbox@${other}`);
    expect(usage.limitBytes).toBe(1024 * 1024);
    expect(usage.messages).toBe(3);
  });

  it('creates the standard folders', async () => {
    await mail.ensureFolders(`info@${domain}`, ['Drafts', 'Sent', 'Trash', 'Junk']);
    await mail.ensureFolders(`info@${domain}`, ['Drafts', 'Sent', 'Trash', 'Junk']);
    const client = await loggedIn(env, `info@${domain}`, pass.info);
    const names = (await client.list()).map((entry) => entry.path).sort();
    await client.logout();
    expect(names).toEqual(['Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
  });

  it('a disabled mailbox refuses login and SMTP AUTH but keeps receiving', async () => {
    await mail.applyDomain({ ...spec, mailboxes: [{ ...spec.mailboxes[0]!, enabled: false }] });
    expect(await loginRefused(env, `info@${domain}`, pass.info)).toBe(true);
    const auth = await smtpRefusal(submissionSmtp(env, { user: `info@${domain}`, pass: pass.info }).sendMail({ from: `info@${domain}`, to: `inbox@${other}`, subject: 'x', text: 'x' }));
    expect(auth.code).toBe(535);
    const title = subject('kept');
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: `info@${domain}`, subject: title, text: 'kept while suspended' });
    await mail.applyDomain(spec);
    expect(await receive(env, `info@${domain}`, pass.info, title)).toContain('kept while suspended');
  });

  it('removeDomain archives the maildirs and removes every line and the key', async () => {
    const { archive } = await mail.removeDomain(domain, archives);
    expect(archive).toMatch(new RegExp(`^${archives}/${domain}-mail-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
    await fs.access(archive!);
    for (const file of [env.DOVECOT_USERS_FILE, ...['vdomains', 'vmailboxes', 'valiases', 'dkim/KeyTable', 'dkim/SigningTable'].map((f) => path.join(env.MAIL_PANEL_DIR, f))]) {
      expect(await fs.readFile(file, 'utf8')).not.toContain(`${domain}`);
    }
    await expect(fs.access(path.join(env.MAIL_PANEL_DIR, 'dkim', 'keys', `${domain}.mp1.key`))).rejects.toThrow();
    await expect(fs.access(path.join(env.MAIL_ROOT, domain))).rejects.toThrow();
    expect(await mail.removeDomain(domain, archives)).toEqual({ archive: null });
  });
});

it('20 mailboxes created at once, from two adapters (two processes), all log in', async () => {
  // A second provider with its own HostDirectory stands for another worker process: only the
  // host's flock serialises it with the first.
  const otherHosts = new HostDirectory({ sshPrivateKeyPath: null });
  const second = new PostfixDovecotProvider(otherHosts, mailSettings(env)).forServer(local);
  const boxes = Array.from({ length: 20 }, (_, i) => ({ domain: newDomain(`pd-c${i}`), pass: secret() }));
  await Promise.all(boxes.map((b, i) => (i % 2 ? second : mail).applyDomain({ domain: b.domain, mailboxes: [box('user', b.pass)], aliases: [], dkim: null })));
  const refused = await Promise.all(boxes.map((b) => loginRefused(env, `user@${b.domain}`, b.pass)));
  expect(refused.filter(Boolean)).toHaveLength(0);
  await otherHosts.close();
});

describe('standard folders', () => {
  // A host whose doveconf prints `namespace`; every other command is recorded and exits 0.
  const adapterWith = (namespace: string, calls: string[]) =>
    new PostfixDovecotMail(
      { ...recordingHost(calls), run: async (argv) => (calls.push(argv.join(' ')), { code: 0, stdout: argv.at(-1) === 'namespace' ? namespace : '', stderr: '' }) },
      mailSettings(env).layout,
      (work) => work(),
      { host: '127.0.0.1', imapPort: 1, smtpInPort: 1 },
    );
  const auto = (names: string[]) => `namespace inbox {\n  inbox = yes\n${names.map((name) => `  mailbox ${name} {\n    auto = subscribe\n  }\n`).join('')}  prefix = \n}\n`;
  const doveadmRuns = (calls: string[]) => calls.filter((call) => call.startsWith('doveadm'));

  it('runs no doveadm when Dovecot auto-subscribes them, and reads its config once for many mailboxes', async () => {
    const calls: string[] = [];
    const adapter = adapterWith(auto(['Drafts', 'Sent', 'Trash', 'Junk']), calls);
    for (const localPart of ['a', 'b', 'c']) await adapter.ensureFolders(`${localPart}@example.test`, ['Drafts', 'Sent', 'Trash', 'Junk']);
    expect(calls).toEqual([`doveconf -c ${env.DOVECOT_CONF} namespace`]);
  });

  it('creates them with doveadm when Dovecot does not (no namespace, or one folder missing)', async () => {
    for (const namespace of ['', auto(['Drafts', 'Sent', 'Trash'])]) {
      const calls: string[] = [];
      await adapterWith(namespace, calls).ensureFolders('a@example.test', ['Drafts', 'Sent', 'Trash', 'Junk']);
      expect(doveadmRuns(calls)).toEqual([
        `doveadm -c ${env.DOVECOT_CONF} mailbox list -u a@example.test`,
        `doveadm -c ${env.DOVECOT_CONF} mailbox create -s -u a@example.test Drafts Sent Trash Junk`,
      ]);
    }
  });
});

describe('hostile input', () => {
  const calls: string[] = [];
  const recording = recordingHost(calls);
  const guarded = new PostfixDovecotMail(recording, mailSettings(env).layout, (work) => work(), { host: '127.0.0.1', imapPort: 1, smtpInPort: 1 });
  const hash = provider.hashPassword('a-password-123');
  const good = 'example.test';
  const hostileLocalParts = ['a:b', 'a\nb', 'a/b', '../x', 'a..b', '.a', 'A', 'іnfo' /* Cyrillic і */, 'info\u200b', 'a b', 'a,b', 'a@b', '', 'x'.repeat(65), 'ｉｎｆｏ'];
  const hostileDomains = ['ex:ample.test', 'ex\nample.test', 'ex/ample.test', '..', 'a..test', 'exаmple.test' /* Cyrillic а */, 'EXAMPLE.test', 'example.test.', '-a.test', 'ex ample.test'];

  it.each(hostileLocalParts)('refuses the local part %j before any file', async (localPart) => {
    await expect(guarded.applyDomain({ domain: good, mailboxes: [{ localPart, passwordHash: hash, quotaMb: 1, enabled: true }], aliases: [], dkim: null })).rejects.toThrow(InvalidMailInputError);
    await expect(guarded.applyDomain({ domain: good, mailboxes: [], aliases: [{ localPart, targets: [`x@${good}`] }], dkim: null })).rejects.toThrow(InvalidMailInputError);
    await expect(guarded.applyDomain({ domain: good, mailboxes: [], aliases: [{ localPart: 'fwd', targets: [`${localPart}@elsewhere.test`] }], dkim: null })).rejects.toThrow(InvalidMailInputError);
    await expect(guarded.archiveMailbox(`${localPart}@${good}`, '/tmp')).rejects.toThrow(InvalidMailInputError);
    expect(calls).toEqual([]);
  });

  it.each(hostileDomains)('refuses the domain %j before any file', async (domain) => {
    await expect(guarded.applyDomain({ domain, mailboxes: [], aliases: [], dkim: null })).rejects.toThrow(InvalidMailInputError);
    await expect(guarded.removeDomain(domain, '/tmp')).rejects.toThrow(InvalidMailInputError);
    await expect(guarded.quota(`info@${domain}`)).rejects.toThrow(InvalidMailInputError);
    expect(calls).toEqual([]);
  });

  it('refuses a password field, selector or key that could break a line', async () => {
    for (const passwordHash of ['{SHA512-CRYPT}a:b', '{SHA512-CRYPT}a\nb', 'plain', '{X}a b']) {
      await expect(guarded.applyDomain({ domain: good, mailboxes: [{ localPart: 'a', passwordHash, quotaMb: 1, enabled: true }], aliases: [], dkim: null })).rejects.toThrow(InvalidMailInputError);
    }
    for (const selector of ['a.b', 'a b', '../k', 'A']) {
      await expect(guarded.applyDomain({ domain: good, mailboxes: [], aliases: [], dkim: { selector, privateKeyPem: provider.generateDkimKey().privateKeyPem } })).rejects.toThrow(InvalidMailInputError);
    }
    await expect(guarded.applyDomain({ domain: good, mailboxes: [], aliases: [], dkim: { selector: 's1', privateKeyPem: 'x\ny' } })).rejects.toThrow(InvalidMailInputError);
    expect(calls).toEqual([]);
  });
});
