import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLogs, staffInvitations, users, type Tenant, type User } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { eventually } from '../../../test/helpers/orders.js';
import { startSmtpListener } from '../../../test/helpers/smtp-listener.js';

/**
 * Staff invitations (issue 12): a tenant ADMIN learns nothing about addresses used in other
 * tenants. The invitation reaches the invited person as real email, through an SMTP listener
 * standing for the relay.
 */
const smtp = await startSmtpListener();
const t = await createTestApp({ env: { SMTP_PORT: String(smtp.port), EMAIL_FROM: 'staff@host.example.test' } });
afterAll(async () => {
  await t.close();
  await smtp.close();
});
const db = t.container.database.db;
const PASSWORD = 'the password I chose myself';

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, caller: Pick<User, 'id' | 'tenantId' | 'role'> | null, payload?: unknown) {
  const headers = caller === null ? {} : await authHeader(t.env, caller);
  return t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
}

async function tenantWithAdmin(name = 'Acme Hosting'): Promise<{ tenant: Tenant; admin: User }> {
  const tenant = await buildTenant(db, { name });
  return { tenant, admin: (await buildUser(db, tenant, { role: 'ADMIN' })).user };
}

const address = (label: string) => `${label}-${randomUUID().slice(0, 8)}@example.test`;

/** The token of the newest invitation emailed to `email`. */
async function emailedToken(email: string): Promise<string> {
  const mail = await eventually(async () => smtp.received.filter((m) => m.envelopeTo.includes(email)).at(-1) ?? null, 10_000, `the invitation to ${email}`);
  const url = /https?:\/\/\S+token=[A-Za-z0-9_-]+/.exec(mail.parsed.text ?? '')?.[0];
  if (!url) throw new Error(`no link in ${mail.parsed.text}`);
  expect(url.startsWith(`${t.env.CONSOLE_URL}/accept-invitation?token=`)).toBe(true);
  return new URL(url).searchParams.get('token') ?? '';
}

const accept = (token: string, password = PASSWORD) => call('POST', '/api/auth/accept-invitation', null, { token, password });
const login = (email: string, password = PASSWORD) => call('POST', '/api/auth/login', null, { email, password });
const usersOf = (tenant: Tenant) => withTenant(db, tenant.id, (tx) => tx.select().from(users).where(eq(users.tenantId, tenant.id)));

describe('inviting staff', () => {
  it('emails a link; accepting it creates the user with the invited role, once; every step is audited', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const email = address('new-staff');
    const invited = await call('POST', '/api/users/invitations', admin, { email: email.toUpperCase(), name: 'New <b>Staff</b>', role: 'BILLING' });
    expect(invited.statusCode, invited.body).toBe(201);
    expect(invited.json()).toMatchObject({ email, name: 'New <b>Staff</b>', role: 'BILLING', status: 'PENDING', invitedBy: admin.id, acceptedAt: null, userId: null });

    const mail = await eventually(async () => smtp.received.find((m) => m.envelopeTo.includes(email)) ?? null, 10_000, 'the invitation');
    expect(mail.parsed.subject).toBe('You are invited to the Acme Hosting control panel');
    expect(mail.parsed.html).toContain('New &lt;b&gt;Staff&lt;/b&gt;');
    const token = await emailedToken(email);

    const accepted = await accept(token);
    expect(accepted.statusCode, accepted.body).toBe(201);
    expect(accepted.json()).toMatchObject({ email, tenant: tenant.slug });
    const signedIn = await login(email);
    expect(signedIn.statusCode).toBe(200);
    expect(signedIn.json().user).toMatchObject({ email, role: 'BILLING', tenantId: tenant.id });

    // Single use.
    expect((await accept(token, 'another password entirely')).statusCode).toBe(401);
    expect((await login(email, 'another password entirely')).statusCode).toBe(401);

    const listed = await call('GET', '/api/users/invitations', admin);
    const created = (await usersOf(tenant)).find((user) => user.email === email);
    expect(listed.json().items).toEqual([expect.objectContaining({ id: invited.json().id, status: 'ACCEPTED', userId: created?.id })]);

    const audit = await withTenant(db, tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.tenantId, tenant.id)).orderBy(auditLogs.seq));
    expect(audit.map((row) => row.action)).toEqual(expect.arrayContaining(['user.invited', 'user.created', 'user.invitation_accepted']));
    expect(audit.find((row) => row.action === 'user.invitation_accepted')).toMatchObject({ actorUserId: created?.id });
    const text = JSON.stringify(audit);
    expect(text).not.toContain(token);
    expect(text).not.toContain('$2');
  });

  it('an address used in another tenant gets the same answer as a fresh one; only its owner learns it, on accepting', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const elsewhere = await tenantWithAdmin('Other Hosting');
    const { user: existing } = await buildUser(db, elsewhere.tenant, { role: 'SUPPORT', email: address('taken') });
    const fresh = address('fresh');

    const [taken, free] = [
      await call('POST', '/api/users/invitations', admin, { email: existing.email, name: 'Taken', role: 'SUPPORT' }),
      await call('POST', '/api/users/invitations', admin, { email: fresh, name: 'Fresh', role: 'SUPPORT' }),
    ];
    expect([taken.statusCode, free.statusCode]).toEqual([201, 201]);
    const shape = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).map(([key, value]) => [key, key === 'status' || key === 'role' || value === null ? value : typeof value]));
    expect(shape(taken.json())).toEqual(shape(free.json()));
    expect(Object.keys(taken.headers).sort()).toEqual(Object.keys(free.headers).sort());

    const refused = await accept(await emailedToken(existing.email));
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toMatch(/already has an mPanel account/);
    expect(refused.body).not.toContain(elsewhere.tenant.id);
    expect(refused.body).not.toContain(elsewhere.tenant.slug);
    expect((await usersOf(tenant)).map((user) => user.email)).not.toContain(existing.email);
    // The other tenant's user is as it was, and still signs in.
    const [after] = await withTenant(db, elsewhere.tenant.id, (tx) => tx.select().from(users).where(eq(users.id, existing.id)));
    expect(after).toEqual(existing);
    expect((await call('GET', '/api/users/invitations', admin)).json().items.find((i: { email: string }) => i.email === existing.email).status).toBe('PENDING');
  });

  it('409 only for a user of the same tenant; inviting again replaces the open invitation', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const { user: colleague } = await buildUser(db, tenant, { role: 'SUPPORT' });
    const own = await call('POST', '/api/users/invitations', admin, { email: colleague.email, name: 'Again', role: 'SUPPORT' });
    expect(own.statusCode).toBe(409);
    expect(own.json().errors).toEqual([{ field: 'body/email', message: 'is already a user of this tenant' }]);

    const email = address('twice');
    const first = await call('POST', '/api/users/invitations', admin, { email, name: 'Once', role: 'READ_ONLY' });
    const firstToken = await emailedToken(email);
    const second = await call('POST', '/api/users/invitations', admin, { email, name: 'Twice', role: 'SUPPORT' });
    expect(second.statusCode).toBe(201);
    const secondToken = await eventually(async () => {
      const token = await emailedToken(email);
      return token === firstToken ? null : token;
    }, 10_000, 'the second invitation');
    expect((await accept(firstToken)).statusCode).toBe(401);
    expect((await accept(secondToken)).statusCode).toBe(201);
    const statuses = (await call('GET', '/api/users/invitations', admin)).json().items.map((i: { id: string; status: string }) => [i.id, i.status]);
    expect(statuses).toEqual([
      [second.json().id, 'ACCEPTED'],
      [first.json().id, 'REVOKED'],
    ]);
    expect((await usersOf(tenant)).find((user) => user.email === email)?.role).toBe('SUPPORT');

    // Eight invitations of one address at once: each answered 201, one left open.
    const racing = address('race');
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => `Name ${i}`).map((name) => call('POST', '/api/users/invitations', admin, { email: racing, name, role: 'SUPPORT' })));
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(8).fill(201));
    const open = (await call('GET', '/api/users/invitations', admin)).json().items.filter((i: { email: string; status: string }) => i.email === racing && i.status === 'PENDING');
    expect(open).toHaveLength(1);
  });

  it('a revoked or expired link does not work; an accepted invitation cannot be revoked; another tenant sees none of it', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const other = await tenantWithAdmin('Other Hosting');

    const revokedEmail = address('revoked');
    const revoked = await call('POST', '/api/users/invitations', admin, { email: revokedEmail, name: 'Revoked', role: 'SUPPORT' });
    const revokedToken = await emailedToken(revokedEmail);
    // Another tenant's ADMIN: 404, and the invitation still works until its own tenant revokes it.
    expect((await call('DELETE', `/api/users/invitations/${revoked.json().id}`, other.admin)).statusCode).toBe(404);
    expect((await call('GET', '/api/users/invitations', other.admin)).json().items).toEqual([]);
    expect((await call('DELETE', `/api/users/invitations/${revoked.json().id}`, admin)).statusCode).toBe(204);
    expect((await accept(revokedToken)).statusCode).toBe(401);

    const expiredEmail = address('expired');
    const expired = await call('POST', '/api/users/invitations', admin, { email: expiredEmail, name: 'Late', role: 'SUPPORT' });
    const expiredToken = await emailedToken(expiredEmail);
    await withTenant(db, tenant.id, (tx) => tx.update(staffInvitations).set({ expiresAt: sql`now() - interval '1 second'` }).where(eq(staffInvitations.id, expired.json().id)));
    const late = await accept(expiredToken);
    expect(late.statusCode).toBe(401);
    expect(late.json().detail).toMatch(/not valid, has expired/);
    expect((await call('GET', '/api/users/invitations', admin)).json().items.find((i: { id: string }) => i.id === expired.json().id).status).toBe('EXPIRED');

    const acceptedEmail = address('accepted');
    const accepted = await call('POST', '/api/users/invitations', admin, { email: acceptedEmail, name: 'Here', role: 'SUPPORT' });
    expect((await accept(await emailedToken(acceptedEmail))).statusCode).toBe(201);
    expect((await call('DELETE', `/api/users/invitations/${accepted.json().id}`, admin)).statusCode).toBe(409);

    const rows = await withTenant(db, tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.id), eq(auditLogs.action, 'user.invitation_revoked'))));
    expect(rows.map((row) => row.targetId)).toEqual([revoked.json().id]);
    expect((await accept('x'.repeat(43))).statusCode).toBe(401);
  });

  it('names the offending field of a bad request and changes nothing', async () => {
    const { tenant, admin } = await tenantWithAdmin();
    const cases: [unknown, string][] = [
      [{ email: 'not-an-email', name: 'X', role: 'SUPPORT' }, 'body/email'],
      [{ email: address('x'), name: '', role: 'SUPPORT' }, 'body/name'],
      [{ email: address('x'), name: 'X', role: 'ROOT' }, 'body/role'],
      [{ email: address('x'), name: 'X', role: 'SUPPORT', password: PASSWORD }, 'body'],
    ];
    for (const [payload, field] of cases) {
      const res = await call('POST', '/api/users/invitations', admin, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toEqual([field]);
    }
    const short = await accept('y'.repeat(43), 'short');
    expect(short.json().errors.map((e: { field: string }) => e.field)).toEqual(['body/password']);
    expect((await call('GET', '/api/users/invitations', admin)).json().items).toEqual([]);
    expect((await usersOf(tenant)).map((user) => user.id)).toEqual([admin.id]);
  });
});
