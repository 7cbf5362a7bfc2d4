import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { auditLogs, subscriptions } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { systemActor } from '../audit/audit.service.js';
import { createDraftInvoice, issueCreditNote, issueInvoice } from '../billing/invoices.service.js';
import { buildOrder, buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildCustomerLogin, customerAuthHeader } from '../../../test/helpers/portal.js';

const run = promisify(execFile);
const t = await createTestApp();
const dir = await mkdtemp(path.join(tmpdir(), 'mpanel-portal-pdf-'));
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});
const db = t.container.database.db;
const tenant = await buildTenant(db);
const { customer, subscription } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
const owner = await buildCustomerLogin(db, tenant, customer);
const headers = await customerAuthHeader(t.env, db, owner);
const inject = (method: 'GET' | 'POST', url: string, payload?: unknown, h = headers) =>
  t.app.inject({ method, url: `/api/portal${url}`, headers: h, ...(payload === undefined ? {} : { payload: payload as object }) });

/**
 * Three invoices of the customer (two issued, one still a draft) and a credit note. Each issued
 * invoice in a transaction of its own: created_at is the transaction's now(), and "newest first"
 * needs two different instants.
 */
const make = (tx: Tx, description: string) => createDraftInvoice(tx, tenant.id, { customerId: customer.id, subscriptionId: subscription.id, currency: 'EUR', lines: [{ description, quantity: 1, unitAmount: 1200 }] }, systemActor);
const first = await withTenant(db, tenant.id, async (tx) => issueInvoice(tx, tenant.id, (await make(tx, 'First year')).id, systemActor));
await new Promise((resolve) => setTimeout(resolve, 5));
const invoices = await withTenant(db, tenant.id, async (tx) => {
  const second = await issueInvoice(tx, tenant.id, (await make(tx, 'Second year')).id, systemActor);
  const draft = await make(tx, 'Not yet');
  const note = await issueCreditNote(tx, tenant.id, first.id, { amount: 200, reason: 'Goodwill' }, systemActor);
  return { first, second, draft, note };
});

async function pdfText(pdf: Buffer): Promise<string> {
  const file = path.join(dir, `${crypto.randomUUID()}.pdf`);
  await writeFile(file, pdf);
  return (await run('pdftotext', ['-layout', file, '-'])).stdout;
}

describe('portal invoices', () => {
  it('lists the issued invoices, newest first, a page at a time; never a draft', async () => {
    const page1 = await inject('GET', '/invoices?limit=1');
    expect(page1.statusCode, page1.body).toBe(200);
    const body1 = page1.json<{ items: { id: string }[]; nextCursor: string | null }>();
    expect(body1.items.map((i) => i.id)).toEqual([invoices.second.id]);
    const page2 = await inject('GET', `/invoices?limit=1&cursor=${body1.nextCursor}`);
    const body2 = page2.json<{ items: { id: string }[]; nextCursor: string | null }>();
    expect(body2.items.map((i) => i.id)).toEqual([invoices.first.id]);
    expect(body2.nextCursor).toBeNull();
    expect((await inject('GET', '/invoices?status=PAID')).json<{ items: unknown[] }>().items).toEqual([]);
    expect((await inject('GET', `/invoices/${invoices.draft.id}`)).statusCode).toBe(404);
    expect((await inject('GET', `/invoices/${invoices.draft.id}/pdf`)).statusCode).toBe(404);
  });

  it('an invoice with its lines and credit notes, and both PDFs', async () => {
    const res = await inject('GET', `/invoices/${invoices.first.id}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: invoices.first.id, number: invoices.first.number, lines: [{ description: 'First year' }], creditNotes: [{ id: invoices.note.id, total: 200 }] });
    const pdf = await inject('GET', `/invoices/${invoices.first.id}/pdf`);
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.headers['content-disposition']).toBe(`inline; filename="${invoices.first.number}.pdf"`);
    expect(await pdfText(pdf.rawPayload)).toContain(invoices.first.number!);
    const staff = await t.app.inject({ method: 'GET', url: `/api/invoices/${invoices.first.id}/pdf`, headers: await authHeader(t.env, (await buildUser(db, tenant, { role: 'READ_ONLY' })).user) });
    expect(staff.rawPayload.equals(pdf.rawPayload), 'the portal and staff get the same PDF').toBe(true);
    const note = await inject('GET', `/credit-notes/${invoices.note.id}/pdf`);
    expect(note.statusCode).toBe(200);
    expect(await pdfText(note.rawPayload)).toContain(invoices.note.number);
  });

  it('a technical contact does not see invoices (billing only)', async () => {
    const tech = await customerAuthHeader(t.env, db, await buildCustomerLogin(db, tenant, customer, { role: 'TECHNICAL' }));
    expect((await inject('GET', '/invoices', undefined, tech)).statusCode).toBe(403);
    expect((await inject('GET', `/invoices/${invoices.first.id}/pdf`, undefined, tech)).statusCode).toBe(403);
  });

  it('bad input: 400 naming the field, nothing read', async () => {
    const problems = [
      [await inject('GET', '/invoices/not-a-uuid'), 'params/id'],
      [await inject('GET', '/invoices/not-a-uuid/pdf'), 'params/id'],
      [await inject('GET', '/credit-notes/1/pdf'), 'params/id'],
      [await inject('GET', '/invoices?status=DRAFT'), 'querystring/status'],
      [await inject('GET', '/invoices?limit=0'), 'querystring/limit'],
      [await inject('GET', '/invoices?cursor=garbage'), 'querystring/cursor'],
      [await inject('GET', '/invoices?customerId=00000000-0000-4000-8000-000000000000'), 'querystring'],
      [await inject('POST', `/services/${subscription.id}/cancel`, {}), 'body/cancelAtPeriodEnd'],
      [await inject('POST', `/services/${subscription.id}/cancel`, { cancelAtPeriodEnd: 'yes' }), 'body/cancelAtPeriodEnd'],
      [await inject('POST', `/services/${subscription.id}/cancel`, { cancelAtPeriodEnd: true, dunningOverride: null }), 'body'],
      [await inject('POST', '/services/nope/cancel', { cancelAtPeriodEnd: true }), 'params/id'],
    ] as const;
    for (const [res, field] of problems) {
      expect(res.statusCode, `${field}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body, res.body).toContain(field);
    }
    const [row] = await withTenant(db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, subscription.id)));
    expect(row?.cancelAtPeriodEnd).toBe(false);
  });
});

describe('cancel at period end', () => {
  it('the same change as staff make, audited with the customer as actor; taken back the same way', async () => {
    const res = await inject('POST', `/services/${subscription.id}/cancel`, { cancelAtPeriodEnd: true });
    expect(res.statusCode, res.body).toBe(200);
    const [row] = await withTenant(db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, subscription.id)));
    expect(res.json()).toEqual({
      serviceId: subscription.id,
      status: 'ACTIVE',
      cancelAtPeriodEnd: true,
      paidThrough: row?.paidThrough?.toISOString() ?? null,
      endsAt: row?.paidThrough?.toISOString() ?? null,
      deletedAfterDays: 30,
    });
    expect(row?.cancelRequestedAt).not.toBeNull();
    expect((await inject('GET', `/services/${subscription.id}`)).json()).toMatchObject({ cancelAtPeriodEnd: true });
    const audit = await withTenant(db, tenant.id, (tx) =>
      tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, subscription.id), eq(auditLogs.action, 'subscription.cancel_requested'))),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorType: 'CUSTOMER', after: { cancelAtPeriodEnd: true } });

    const back = await inject('POST', `/services/${subscription.id}/cancel`, { cancelAtPeriodEnd: false });
    expect(back.json()).toMatchObject({ cancelAtPeriodEnd: false, endsAt: null });
  });

  it('a billing contact may cancel; a technical contact may not', async () => {
    const billing = await customerAuthHeader(t.env, db, await buildCustomerLogin(db, tenant, customer, { role: 'BILLING' }));
    const tech = await customerAuthHeader(t.env, db, await buildCustomerLogin(db, tenant, customer, { role: 'TECHNICAL' }));
    expect((await inject('POST', `/services/${subscription.id}/cancel`, { cancelAtPeriodEnd: false }, tech)).statusCode).toBe(403);
    expect((await inject('POST', `/services/${subscription.id}/cancel`, { cancelAtPeriodEnd: false }, billing)).statusCode).toBe(200);
  });

  it('once the cancellation took effect it cannot be taken back (409)', async () => {
    const other = await buildOrder(db, tenant, { customer, subscriptionStatus: 'ACTIVE' });
    await withTenant(db, tenant.id, (tx) => tx.update(subscriptions).set({ status: 'SUSPENDED', suspensionReason: 'CANCELLED', cancelAtPeriodEnd: true }).where(eq(subscriptions.id, other.subscription.id)));
    const res = await inject('POST', `/services/${other.subscription.id}/cancel`, { cancelAtPeriodEnd: false });
    expect(res.statusCode, res.body).toBe(409);
  });
});
