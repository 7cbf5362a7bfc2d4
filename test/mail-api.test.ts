import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, backups, domainEvents, mailAliases, mailboxes, mailDomains, type Tenant, type User } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { leadsBackTo } from '../src/modules/mail/mail.api.service.js';
import type { MailProvider } from '../src/providers/mailserver.port.js';
import { buildTenant, buildUser } from './factories.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { authHeader } from './helpers/auth.js';
import { takeMailStackTurn, buildMailDomain, inboundSmtp, listedFolders, loginRefused, receive, smtpRefusal } from './helpers/mail.js';

// This file changes the real mail stack: it takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

/**
 * The staff mail API against the real mail stack (scripts/services.sh): every change is applied
 * to Postfix/Dovecot before the answer, so each test logs in over IMAP (127.0.0.1:1143) or sends
 * through the inbound SMTP port right after the call.
 */

let t: TestApp;
let mail: MailProvider;
let tenant: Tenant;
let admin: User;
let headers: Record<string, string>;
const cleanup: { server: Parameters<MailProvider['forServer']>[0]; domain: string }[] = [];
const db = () => t.container.database.db;
const run = randomBytes(3).toString('hex');

beforeAll(async () => {
  t = await createTestApp();
  mail = t.container.providers.mail;
  tenant = await buildTenant(db());
  ({ user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' }));
  headers = await authHeader(t.env, admin);
});

afterAll(async () => {
  for (const { server, domain } of cleanup) await mail.forServer(server).removeDomain(domain, null);
  await t.close();
});

async function hostedDomain(features?: Record<string, unknown>) {
  const built = await buildMailDomain(db(), t.env, mail, tenant, features ? { features } : {});
  cleanup.push({ server: built.server, domain: built.domain });
  return built;
}

interface MailboxChange {
  mailbox: { id: string; address: string; quotaMb: number; status: string };
  generatedPassword: string | null;
}

const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, as = headers) =>
  t.app.inject({ method, url, headers: as, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

async function createMailbox(mailDomainId: string, localPart: string, extra: Record<string, unknown> = {}): Promise<MailboxChange> {
  const res = await api('POST', '/api/mailboxes', { mailDomainId, localPart, ...extra });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<MailboxChange>();
}

const auditOf = (targetId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, targetId)));
const rowsOf = (domainId: string) => withTenant(db(), tenant.id, (tx) => tx.select().from(mailboxes).where(eq(mailboxes.domainId, domainId)));

describe('mailboxes', () => {
  it('a generated password is shown once, logs in over IMAP at once, and is stored only as a hash', async () => {
    const { mailDomain, domain } = await hostedDomain();
    const created = await createMailbox(mailDomain.id, 'Info');
    const address = `info@${domain}`;
    expect(created.mailbox).toMatchObject({ address, quotaMb: 100, status: 'ACTIVE' });
    const password = created.generatedPassword!;
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(await loginRefused(t.env, address, password)).toBe(false);
    expect(await loginRefused(t.env, address, `${password}x`)).toBe(true);

    // The standard folders exist.
    expect(await listedFolders(t.env, address)).toEqual(expect.arrayContaining(['Drafts', 'Junk', 'Sent', 'Trash']));

    // Never in clear: not in the row, the audit row or the event; GET never shows it again.
    const [row] = await rowsOf(mailDomain.domainId);
    expect(row!.passwordHash).toMatch(/^\{SHA512-CRYPT\}\$6\$/);
    expect(row!.passwordHash).not.toContain(password);
    const audit = await auditOf(created.mailbox.id);
    expect(audit.map((entry) => entry.action)).toEqual(['mailbox.created']);
    expect(audit[0]!.after).toMatchObject({ address, quotaMb: 100, password: 'generated' });
    const events = await withTenant(db(), tenant.id, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.subjectId, created.mailbox.id)));
    expect(events.map((event) => [event.type, event.payload])).toEqual([['mailbox.created', { mailboxId: created.mailbox.id, subscriptionId: mailDomain.subscriptionId, address }]]);
    const shown = await api('GET', `/api/mailboxes/${created.mailbox.id}`);
    expect(shown.statusCode, shown.body).toBe(200);
    for (const text of [JSON.stringify(audit), JSON.stringify(events), shown.body]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(row!.passwordHash!.slice(20));
    }
    // Usage from Dovecot's quota.
    expect(shown.json()).toMatchObject({ address, usage: { limitBytes: 100 * 1024 * 1024, messages: 0 }, usageError: null });
  });

  it('a chosen password is checked for strength, refused with the field named, and never echoed', async () => {
    const { mailDomain, domain } = await hostedDomain();
    for (const weak of ['short1A!', 'alllowercaseletters', 'Sales-of-2026-ok', '  Padded-Pass-123  ', 'Tab\tinside-Pass1']) {
      const res = await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'sales', password: weak });
      expect(res.statusCode, `${weak}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['body/password']);
      expect(res.body).not.toContain(weak.trim());
    }
    expect(await rowsOf(mailDomain.domainId)).toEqual([]);

    const chosen = 'Correct-Horse-42!';
    const created = await createMailbox(mailDomain.id, 'sales', { password: chosen });
    expect(created.generatedPassword).toBeNull();
    expect(await loginRefused(t.env, `sales@${domain}`, chosen)).toBe(false);
    expect(JSON.stringify(await auditOf(created.mailbox.id))).not.toContain(chosen);
  });

  it("keeps within the plan: the mailbox count and the quota (default and maximum) come from the product's features", async () => {
    const { mailDomain } = await hostedDomain({ mailboxes: 2, mailboxQuotaMb: 60 });
    const tooBig = await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'big', quotaMb: 61 });
    expect(tooBig.statusCode, tooBig.body).toBe(400);
    expect(tooBig.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['body/quotaMb']);
    expect((await createMailbox(mailDomain.id, 'one', { quotaMb: 10 })).mailbox.quotaMb).toBe(10);
    expect((await createMailbox(mailDomain.id, 'two')).mailbox.quotaMb).toBe(60);
    const third = await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'three' });
    expect(third.statusCode, third.body).toBe(409);
    expect(third.json<{ detail: string }>().detail).toContain('allows 2 mailboxes');
    const dup = await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'one' });
    expect(dup.statusCode).toBe(409);

    const domains = await api('GET', '/api/mail-domains');
    expect(domains.statusCode, domains.body).toBe(200);
    const listed = domains.json<{ items: { id: string; mailboxes: unknown; storage: unknown }[] }>().items.find((item) => item.id === mailDomain.id);
    expect(listed).toMatchObject({ mailboxes: { used: 2, limit: 2 }, storage: { allocatedMb: 70, mailboxQuotaMaxMb: 60 } });
    const detail = await api('GET', `/api/mail-domains/${mailDomain.id}`);
    expect(detail.statusCode, detail.body).toBe(200);
    expect(detail.json()).toMatchObject({ mailboxes: { used: 2, limit: 2 }, storage: { allocatedMb: 70, usedBytes: 0 }, usageError: null });
    expect(detail.json<{ dns: { purpose: string }[] }>().dns.map((record) => record.purpose)).toEqual(['MX', 'SPF', 'DKIM', 'DMARC']);
  });

  it('hostile local parts are refused before any row or file: 400 naming localPart', async () => {
    const { mailDomain, domain } = await hostedDomain();
    for (const localPart of ['a:b', 'a\nb', 'a/b', '../x', 'a..b', '.a', 'ｉnfo', '\u212Aelly', 'in\u200Bfo', 'a b', '', 'x'.repeat(65), 'a@b']) {
      const res = await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart });
      expect(res.statusCode, `${JSON.stringify(localPart)}: ${res.body}`).toBe(400);
      expect(res.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['body/localPart']);
    }
    expect(await rowsOf(mailDomain.domainId)).toEqual([]);
    // The shared users file is written by other test files too: only this domain's lines matter.
    expect((await fs.readFile(t.env.DOVECOT_USERS_FILE, 'utf8')).split('\n').filter((line) => line.includes(`@${domain}:`))).toEqual([]);
    await expect(fs.readdir(path.join(t.env.MAIL_ROOT, domain))).rejects.toThrow();
  });

  it('PATCH: a reset password works at once and the old one no longer; quota and enabled reach Dovecot', async () => {
    const { mailDomain, domain } = await hostedDomain();
    const created = await createMailbox(mailDomain.id, 'team');
    const address = `team@${domain}`;
    const reset = await api('PATCH', `/api/mailboxes/${created.mailbox.id}`, { resetPassword: true });
    expect(reset.statusCode, reset.body).toBe(200);
    const fresh = reset.json<MailboxChange>().generatedPassword!;
    expect(fresh).not.toBe(created.generatedPassword);
    expect(await loginRefused(t.env, address, fresh)).toBe(false);
    expect(await loginRefused(t.env, address, created.generatedPassword!)).toBe(true);

    const quota = await api('PATCH', `/api/mailboxes/${created.mailbox.id}`, { quotaMb: 42 });
    expect(quota.statusCode, quota.body).toBe(200);
    expect(quota.json<MailboxChange>().generatedPassword).toBeNull();
    expect((await api('GET', `/api/mailboxes/${created.mailbox.id}`)).json()).toMatchObject({ quotaMb: 42, usage: { limitBytes: 42 * 1024 * 1024 } });
    expect((await api('PATCH', `/api/mailboxes/${created.mailbox.id}`, { quotaMb: 101 })).statusCode).toBe(400);

    const off = await api('PATCH', `/api/mailboxes/${created.mailbox.id}`, { enabled: false });
    expect(off.json<MailboxChange>().mailbox.status).toBe('SUSPENDED');
    expect(await loginRefused(t.env, address, fresh)).toBe(true);
    const inbound = inboundSmtp(t.env);
    const subject = `kept while disabled ${run}`;
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: address, subject, text: 'kept' });
    inbound.close();
    expect((await api('PATCH', `/api/mailboxes/${created.mailbox.id}`, { enabled: true })).statusCode).toBe(200);
    expect(await receive(t.env, address, fresh, subject)).toContain('kept');

    const audit = await auditOf(created.mailbox.id);
    expect(audit.map((entry) => entry.action)).toEqual(['mailbox.created', 'mailbox.updated', 'mailbox.updated', 'mailbox.updated', 'mailbox.updated']);
    expect(audit[1]!.after).toMatchObject({ password: 'generated' });
    expect(JSON.stringify(audit)).not.toContain(fresh);

    for (const body of [{}, { password: 'Another-Pass-77', resetPassword: true }, { quotaMb: 0 }, { enabled: 'no' }, { status: 'ACTIVE' }]) {
      const res = await api('PATCH', `/api/mailboxes/${created.mailbox.id}`, body);
      expect(res.statusCode, `${JSON.stringify(body)}: ${res.body}`).toBe(400);
    }
  });

  it('DELETE refuses mail at once, archives the maildir to the backups location, and frees the name', async () => {
    const { mailDomain, domain } = await hostedDomain();
    const created = await createMailbox(mailDomain.id, 'old');
    const address = `old@${domain}`;
    const inbound = inboundSmtp(t.env);
    const subject = `before delete ${run}`;
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: address, subject, text: 'archived' });
    await receive(t.env, address, created.generatedPassword!, subject);

    const res = await api('DELETE', `/api/mailboxes/${created.mailbox.id}`);
    expect(res.statusCode, res.body).toBe(200);
    const { archive } = res.json<{ archive: string }>();
    expect(archive.startsWith(`${t.env.BACKUPS_DIR}/${domain}-old-`)).toBe(true);
    await fs.access(archive);
    await fs.rm(archive);
    await expect(fs.access(path.join(t.env.MAIL_ROOT, domain, 'old'))).rejects.toThrow();
    expect(await loginRefused(t.env, address, created.generatedPassword!)).toBe(true);
    expect((await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: address, subject: 'x', text: 'x' }))).code).toBe(550);
    inbound.close();
    const saved = await withTenant(db(), tenant.id, (tx) => tx.select().from(backups).where(eq(backups.location, archive)));
    expect(saved.map((row) => [row.kind, row.status])).toEqual([['MAIL', 'COMPLETED']]);
    expect((await auditOf(created.mailbox.id)).map((entry) => entry.action)).toEqual(['mailbox.created', 'mailbox.deleted']);
    expect((await api('GET', `/api/mailboxes/${created.mailbox.id}`)).statusCode).toBe(404);
    expect((await api('DELETE', `/api/mailboxes/${created.mailbox.id}`)).statusCode).toBe(404);
    // The name can be used again.
    await createMailbox(mailDomain.id, 'old');
  });

  it('20 mailboxes asked for at once on one domain: all created, all log in with their handed-out passwords', async () => {
    const { mailDomain, domain } = await hostedDomain({ mailboxes: 25, mailboxQuotaMb: 10 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: `user${i}` })));
    expect(answers.map((res) => res.statusCode)).toEqual(Array.from({ length: 20 }, () => 201));
    const refused = await Promise.all(answers.map((res, i) => loginRefused(t.env, `user${i}@${domain}`, res.json<MailboxChange>().generatedPassword!)));
    expect(refused.filter(Boolean)).toEqual([]);
    // Serialised per domain (one apply each, ~0.5-1 s): generous for a loaded machine.
  }, 180_000);

  it('roles: READ_ONLY and BILLING read but cannot create; SUPPORT can', async () => {
    const { mailDomain } = await hostedDomain();
    for (const role of ['READ_ONLY', 'BILLING'] as const) {
      const { user } = await buildUser(db(), tenant, { role });
      const as = await authHeader(t.env, user);
      expect((await api('GET', '/api/mailboxes', undefined, as)).statusCode).toBe(200);
      expect((await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'x' }, as)).statusCode).toBe(403);
    }
    const { user: support } = await buildUser(db(), tenant, { role: 'SUPPORT' });
    const res = await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'helpdesk' }, await authHeader(t.env, support));
    expect(res.statusCode, res.body).toBe(201);
  });

  it("another tenant's mail domain is a 404, and its mailboxes are not listed", async () => {
    const { mailDomain } = await hostedDomain();
    const created = await createMailbox(mailDomain.id, 'private');
    const other = await buildTenant(db());
    const { user } = await buildUser(db(), other, { role: 'ADMIN' });
    const as = await authHeader(t.env, user);
    expect((await api('POST', '/api/mailboxes', { mailDomainId: mailDomain.id, localPart: 'intruder' }, as)).statusCode).toBe(404);
    expect((await api('POST', '/api/mail-aliases', { mailDomainId: mailDomain.id, localPart: 'intruder', targets: ['x@elsewhere.test'] }, as)).statusCode).toBe(404);
    expect((await api('GET', '/api/mailboxes', undefined, as)).json<{ items: unknown[] }>().items).toEqual([]);
    expect((await api('GET', `/api/mailboxes/${created.mailbox.id}`, undefined, as)).statusCode).toBe(404);
  });
});

describe('aliases', () => {
  it('mail to an alias lands in the target INBOX; loops, unknown hosted targets and name clashes are refused', async () => {
    const { mailDomain, domain } = await hostedDomain();
    const box = await createMailbox(mailDomain.id, 'owner');
    const owner = `owner@${domain}`;
    const res = await api('POST', '/api/mail-aliases', { mailDomainId: mailDomain.id, localPart: 'Contact', targets: [owner, 'Someone+tag@Elsewhere.test'] });
    expect(res.statusCode, res.body).toBe(201);
    const alias = res.json<{ id: string; address: string; targets: string[] }>();
    expect(alias).toMatchObject({ address: `contact@${domain}`, targets: [owner, 'someone+tag@elsewhere.test'] });
    const inbound = inboundSmtp(t.env);
    const subject = `via alias ${run}`;
    await inbound.sendMail({ from: 'sender@elsewhere.test', to: `contact@${domain}`, subject, text: 'through the alias' });
    expect(await receive(t.env, owner, box.generatedPassword!, subject)).toContain('through the alias');

    const refused = async (body: Record<string, unknown>, status: number, field?: string) => {
      const answer = await api('POST', '/api/mail-aliases', { mailDomainId: mailDomain.id, ...body });
      expect(answer.statusCode, `${JSON.stringify(body)}: ${answer.body}`).toBe(status);
      if (field) expect(answer.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toContain(field);
    };
    await refused({ localPart: 'self', targets: [`self@${domain}`] }, 400, 'body/targets/0');
    await refused({ localPart: 'ghost', targets: [`nobody@${domain}`] }, 400, 'body/targets/0');
    await refused({ localPart: 'owner', targets: ['x@elsewhere.test'] }, 409);
    await refused({ localPart: 'contact', targets: ['x@elsewhere.test'] }, 409);
    await refused({ localPart: 'bad', targets: ['no-at-sign'] }, 400, 'body/targets/0');
    await refused({ localPart: 'bad', targets: ['a@b@elsewhere.test'] }, 400, 'body/targets/0');
    await refused({ localPart: 'bad', targets: ['x@ｅlsewhere.test'] }, 400, 'body/targets/0');
    await refused({ localPart: 'bad', targets: [] }, 400, 'body/targets');
    await refused({ localPart: 'bad:x', targets: ['x@elsewhere.test'] }, 400, 'body/localPart');
    // Chains are fine: second → first → contact → owner.
    const first = await api('POST', '/api/mail-aliases', { mailDomainId: mailDomain.id, localPart: 'first', targets: [`contact@${domain}`] });
    expect(first.statusCode, first.body).toBe(201);
    const second = await api('POST', '/api/mail-aliases', { mailDomainId: mailDomain.id, localPart: 'second', targets: [`first@${domain}`] });
    expect(second.statusCode, second.body).toBe(201);
    const inUse = await api('DELETE', `/api/mail-aliases/${first.json<{ id: string }>().id}`);
    expect(inUse.statusCode, 'first is a target of second').toBe(409);

    // The mailbox an alias delivers to cannot be deleted from under it.
    expect((await api('DELETE', `/api/mailboxes/${box.mailbox.id}`)).statusCode).toBe(409);

    const listed = await api('GET', `/api/mail-aliases?mailDomainId=${mailDomain.id}`);
    expect(listed.json<{ items: { localPart: string }[] }>().items.map((item) => item.localPart).sort()).toEqual(['contact', 'first', 'second']);

    // Deleting aliases: second first, then first; mail to it is then refused at RCPT.
    expect((await api('DELETE', `/api/mail-aliases/${second.json<{ id: string }>().id}`)).statusCode).toBe(200);
    expect((await api('DELETE', `/api/mail-aliases/${first.json<{ id: string }>().id}`)).statusCode).toBe(200);
    expect((await smtpRefusal(inbound.sendMail({ from: 'sender@elsewhere.test', to: `first@${domain}`, subject: 'x', text: 'x' }))).code).toBe(550);
    inbound.close();
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs).where(and(eq(auditLogs.targetType, 'mail_alias'))));
    expect(audit.map((entry) => entry.action).sort()).toEqual(['mail_alias.created', 'mail_alias.created', 'mail_alias.created', 'mail_alias.deleted', 'mail_alias.deleted']);
    expect(await withTenant(db(), tenant.id, (tx) => tx.select().from(mailAliases).where(eq(mailAliases.mailDomainId, mailDomain.id)))).toHaveLength(1);
  });

  it('the loop check follows alias chains (a loop can only be built by rows an older version allowed, or across tenants of one server)', () => {
    const routes = new Map<string, 'mailbox' | readonly string[]>([
      ['base@d.test', 'mailbox'],
      ['a@d.test', ['base@d.test', 'b@d.test']],
      ['b@d.test', ['c@d.test']],
      ['c@d.test', ['x@elsewhere.test']],
    ]);
    expect(leadsBackTo('new@d.test', ['a@d.test'], routes)).toBe(false);
    expect(leadsBackTo('c@d.test', ['a@d.test'], routes)).toBe(true);
    expect(leadsBackTo('a@d.test', ['b@d.test', 'base@d.test'], new Map([...routes, ['c@d.test', ['a@d.test']]]))).toBe(true);
  });
});

describe('mail client autoconfiguration', () => {
  it("answers Thunderbird's autoconfig and Outlook's autodiscover for a hosted mail domain only", async () => {
    const { mailDomain, domain } = await hostedDomain();
    const byAddress = await t.app.inject({ method: 'GET', url: `/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=Info%40${domain}` });
    expect(byAddress.statusCode, byAddress.body).toBe(200);
    expect(byAddress.headers['content-type']).toMatch(/^application\/xml/);
    expect(byAddress.body).toContain(`<emailProvider id="${domain}">`);
    expect(byAddress.body).toContain(`<hostname>mail.${domain}</hostname>`);
    expect(byAddress.body).toMatch(/<incomingServer type="imap">[\s\S]*<port>993<\/port>[\s\S]*<socketType>SSL<\/socketType>/);
    expect(byAddress.body).toMatch(/<outgoingServer type="smtp">[\s\S]*<port>587<\/port>[\s\S]*<socketType>STARTTLS<\/socketType>/);
    const byHost = await t.app.inject({ method: 'GET', url: '/mail/config-v1.1.xml', headers: { host: `autoconfig.${domain}` } });
    expect(byHost.statusCode, byHost.body).toBe(200);
    expect(byHost.body).toBe(byAddress.body);

    const outlook = await t.app.inject({
      method: 'POST',
      url: '/autodiscover/autodiscover.xml',
      headers: { 'content-type': 'text/xml' },
      payload: `<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>info@${domain}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`,
    });
    expect(outlook.statusCode, outlook.body).toBe(200);
    expect(outlook.body).toContain(`<LoginName>info@${domain}</LoginName>`);
    expect(outlook.body).toMatch(/<Type>IMAP<\/Type>\s*<Server>mail\.[^<]+<\/Server>\s*<Port>993<\/Port>/);

    // Not hosted, hostile, or not about a hosted mail domain: refused as problems.
    const other = await buildMailDomain(db(), t.env, mail, await buildTenant(db()), { status: 'PENDING' });
    cleanup.push({ server: other.server, domain: other.domain });
    for (const [url, status] of [
      [`/mail/config-v1.1.xml?emailaddress=info%40not-hosted-${run}.example.test`, 404],
      [`/mail/config-v1.1.xml?emailaddress=info%40${other.domain}`, 404],
      ['/mail/config-v1.1.xml', 404],
      [`/mail/config-v1.1.xml?emailaddress=%3Cscript%3E%40${domain}`, 400],
      [`/mail/config-v1.1.xml?emailaddress=info%40${domain}&x=1`, 400],
    ] as const) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const hostile = await t.app.inject({ method: 'POST', url: '/autodiscover/autodiscover.xml', headers: { 'content-type': 'text/xml' }, payload: '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EMailAddress>&e;</EMailAddress>' });
    expect(hostile.statusCode, hostile.body).toBe(400);
    expect(hostile.body).not.toContain('root:');

    // A terminated mail domain is no longer configured.
    await withTenant(db(), tenant.id, (tx) => tx.update(mailDomains).set({ status: 'DELETED' }).where(eq(mailDomains.id, mailDomain.id)));
    expect((await t.app.inject({ method: 'GET', url: `/mail/config-v1.1.xml?emailaddress=info%40${domain}` })).statusCode).toBe(404);
  });
});
