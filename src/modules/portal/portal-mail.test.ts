import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, mailAliases, mailboxes, subscriptions, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import type { MailProvider } from '../../providers/mailserver.port.js';
import { buildTenant } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildMailDomain, loginRefused, takeMailStackTurn } from '../../../test/helpers/mail.js';
import { buildCustomerLogin, customerAuthHeader } from '../../../test/helpers/portal.js';

// This file changes the real mail stack: it takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

let t: TestApp;
let mail: MailProvider;
let tenant: Tenant;
const cleanup: { server: Parameters<MailProvider['forServer']>[0]; domain: string }[] = [];
const db = () => t.container.database.db;

beforeAll(async () => {
  t = await createTestApp();
  mail = t.container.providers.mail;
  tenant = await buildTenant(db());
});
afterAll(async () => {
  for (const { server, domain } of cleanup) await mail.forServer(server).removeDomain(domain, null);
  await t.close();
});

/** A customer with a hosted mail domain (plan: 2 mailboxes of at most 100 MB) and their logins' headers. */
async function customerWithMail(of: Pick<Tenant, 'id'> = tenant) {
  const built = await buildMailDomain(db(), t.env, mail, of, { features: { mailboxes: 2, mailboxQuotaMb: 100 } });
  cleanup.push({ server: built.server, domain: built.domain });
  const [subscription] = await withTenant(db(), of.id, (tx) => tx.select({ customerId: subscriptions.customerId }).from(subscriptions).where(eq(subscriptions.id, built.subscriptionId)));
  const customer = { id: subscription!.customerId };
  const as = async (role: 'OWNER' | 'BILLING' | 'TECHNICAL') => customerAuthHeader(t.env, db(), await buildCustomerLogin(db(), of, customer, { role }));
  return { ...built, customer, owner: await as('OWNER'), technical: await as('TECHNICAL'), billing: await as('BILLING') };
}

const portal = (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method, url: `/api/portal${url}`, headers, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

interface MailboxChange {
  mailbox: { id: string; address: string; quotaMb: number; status: string };
  generatedPassword: string | null;
}

describe('portal mailboxes and aliases (the staff mail service, scoped by customer)', () => {
  it('create within the plan (the next one is 409 naming the limit), reset a password, aliases; each customer sees only their own', async () => {
    const a = await customerWithMail();
    const b = await customerWithMail();

    const created = await portal('POST', '/mailboxes', a.technical, { mailDomainId: a.mailDomain.id, localPart: 'Info' });
    expect(created.statusCode, created.body).toBe(201);
    const info = created.json<MailboxChange>();
    expect(info.mailbox).toMatchObject({ address: `info@${a.domain}`, quotaMb: 100, status: 'ACTIVE' });
    expect(info.generatedPassword).toBeTruthy();
    expect(await loginRefused(t.env, info.mailbox.address, info.generatedPassword!)).toBe(false);

    const chosen = await portal('POST', '/mailboxes', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'sales', password: 'Correct-Horse-Battery-9', quotaMb: 50 });
    expect(chosen.statusCode, chosen.body).toBe(201);
    expect(chosen.json<MailboxChange>().generatedPassword).toBeNull();

    const third = await portal('POST', '/mailboxes', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'third' });
    expect(third.statusCode, third.body).toBe(409);
    expect(third.json<{ detail: string }>().detail).toBe(`The plan allows 2 mailboxes on ${a.domain}, and all are in use`);

    // Another customer of the tenant cannot create on A's domain, nor see A's mail.
    const intruder = await portal('POST', '/mailboxes', b.owner, { mailDomainId: a.mailDomain.id, localPart: 'intruder' });
    expect(intruder.statusCode).toBe(404);
    const boxesOfA = await withTenant(db(), tenant.id, (tx) => tx.select().from(mailboxes).where(eq(mailboxes.domainId, a.mailDomain.domainId)));
    expect(boxesOfA.map((box) => box.localPart).sort()).toEqual(['info', 'sales']);
    const listB = await portal('GET', '/mailboxes', b.owner);
    expect(listB.json<{ items: unknown[] }>().items).toEqual([]);
    const domainsB = await portal('GET', '/mail-domains', b.owner);
    expect(domainsB.json<{ items: { id: string }[] }>().items.map((d) => d.id)).toEqual([b.mailDomain.id]);

    const domainsA = await portal('GET', '/mail-domains', a.billing);
    expect(domainsA.statusCode).toBe(200);
    const [domainA] = domainsA.json<{ items: Record<string, unknown>[] }>().items;
    expect(domainA).toMatchObject({ id: a.mailDomain.id, domain: a.domain, mailboxes: { used: 2, limit: 2 } });
    expect(domainA).not.toHaveProperty('serverId');
    const listA = await portal('GET', `/mailboxes?mailDomainId=${a.mailDomain.id}&limit=1`, a.billing);
    expect(listA.json<{ items: unknown[]; nextCursor: string | null }>()).toMatchObject({ items: [{ address: `sales@${a.domain}` }], nextCursor: expect.any(String) });

    // Reset: a new generated password logs in, the old one no longer does; a chosen one is checked.
    const reset = await portal('POST', `/mailboxes/${info.mailbox.id}/password`, a.technical, {});
    expect(reset.statusCode, reset.body).toBe(200);
    const fresh = reset.json<MailboxChange>().generatedPassword!;
    expect(fresh).toBeTruthy();
    expect(await loginRefused(t.env, info.mailbox.address, fresh)).toBe(false);
    expect(await loginRefused(t.env, info.mailbox.address, info.generatedPassword!)).toBe(true);
    const weak = await portal('POST', `/mailboxes/${info.mailbox.id}/password`, a.technical, { password: `info-${a.domain}-Aa1!` });
    expect(weak.statusCode).toBe(400);
    expect(weak.body).toContain('body/password');
    expect((await portal('POST', `/mailboxes/${info.mailbox.id}/password`, b.owner, {})).statusCode).toBe(404);
    const [audit] = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, info.mailbox.id)).orderBy(auditLogs.createdAt));
    expect(audit).toMatchObject({ actorType: 'CUSTOMER', action: 'mailbox.created' });

    // Aliases.
    const alias = await portal('POST', '/mail-aliases', a.technical, { mailDomainId: a.mailDomain.id, localPart: 'hello', targets: [`info@${a.domain}`, 'someone@elsewhere.test'] });
    expect(alias.statusCode, alias.body).toBe(201);
    const aliasId = alias.json<{ id: string }>().id;
    expect((await portal('GET', '/mail-aliases', a.billing)).json<{ items: { id: string }[] }>().items.map((x) => x.id)).toEqual([aliasId]);
    expect((await portal('GET', '/mail-aliases', b.owner)).json<{ items: unknown[] }>().items).toEqual([]);
    expect((await portal('POST', '/mail-aliases', b.owner, { mailDomainId: a.mailDomain.id, localPart: 'x', targets: ['a@elsewhere.test'] })).statusCode).toBe(404);
    expect((await portal('DELETE', `/mail-aliases/${aliasId}`, b.owner)).statusCode).toBe(404);
    expect((await portal('DELETE', `/mail-aliases/${aliasId}`, a.technical)).statusCode).toBe(200);
    expect(await withTenant(db(), tenant.id, (tx) => tx.select().from(mailAliases).where(eq(mailAliases.id, aliasId)))).toEqual([]);
  });

  it('roles: billing contacts read but do not change mail; another tenant sees nothing; bad input names the field', async () => {
    const a = await customerWithMail();
    expect((await portal('POST', '/mailboxes', a.billing, { mailDomainId: a.mailDomain.id, localPart: 'nope' })).statusCode).toBe(403);
    expect((await portal('POST', '/mail-aliases', a.billing, { mailDomainId: a.mailDomain.id, localPart: 'nope', targets: ['a@elsewhere.test'] })).statusCode).toBe(403);

    const otherTenant = await buildTenant(db());
    const c = await customerWithMail(otherTenant);
    expect((await portal('GET', '/mail-domains', c.owner)).json<{ items: { id: string }[] }>().items.map((d) => d.id)).toEqual([c.mailDomain.id]);
    expect((await portal('POST', '/mailboxes', c.owner, { mailDomainId: a.mailDomain.id, localPart: 'intruder' })).statusCode).toBe(404);

    const cases = [
      [await portal('POST', '/mailboxes', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'bad local' }), 'body/localPart'],
      [await portal('POST', '/mailboxes', a.owner, { mailDomainId: 'x', localPart: 'ok' }), 'body/mailDomainId'],
      [await portal('POST', '/mailboxes', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'ok', quotaMb: 101 }), 'body/quotaMb'],
      [await portal('POST', '/mailboxes', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'ok', password: 'short' }), 'body/password'],
      [await portal('POST', '/mailboxes', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'ok', status: 'ACTIVE' }), 'body'],
      [await portal('POST', '/mailboxes/not-a-uuid/password', a.owner, {}), 'params/id'],
      [await portal('POST', `/mailboxes/${a.mailDomain.id}/password`, a.owner, { resetPassword: true }), 'body'],
      [await portal('POST', '/mail-aliases', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'ok', targets: [] }), 'body/targets'],
      [await portal('POST', '/mail-aliases', a.owner, { mailDomainId: a.mailDomain.id, localPart: 'ok', targets: ['not an address'] }), 'body/targets/0'],
      [await portal('DELETE', '/mail-aliases/1', a.owner), 'params/id'],
      [await portal('GET', '/mailboxes?status=LOST', a.owner), 'querystring/status'],
      [await portal('GET', '/mail-aliases?cursor=zzz', a.owner), 'querystring/cursor'],
    ] as const;
    for (const [res, field] of cases) {
      expect(res.statusCode, `${field}: ${res.body}`).toBe(400);
      expect(res.body).toContain(field);
    }
    expect(await withTenant(db(), tenant.id, (tx) => tx.select().from(mailboxes).where(eq(mailboxes.domainId, a.mailDomain.domainId)))).toEqual([]);
  });
});
