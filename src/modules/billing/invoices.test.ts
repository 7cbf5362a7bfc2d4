import { asc, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customers, domainEvents, invoiceLines, invoices, auditLogs, taxRates, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { systemActor } from '../audit/audit.service.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { formatProblem, renderNumber, sequencePeriod } from './document-numbers.js';
import { createDraftInvoice, issueInvoice, issueInvoices } from './invoices.service.js';
import { invoiceTotals, lineAmounts } from './money.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});
const db = () => t.container.database.db;

async function setup(role: 'ADMIN' | 'BILLING' | 'READ_ONLY' | 'SUPPORT' = 'BILLING') {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role });
  const [customer] = await withTenant(db(), tenant.id, (tx) =>
    tx.insert(customers).values({ tenantId: tenant.id, email: `c-${crypto.randomUUID()}@example.test`, name: 'Ada Lovelace' }).returning(),
  );
  return { tenant, user, customer: customer!, headers: await authHeader(t.env, user) };
}

const send = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method, url, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });

describe('invoice arithmetic (integer minor units)', () => {
  it('exclusive tax is added per line, rounded half away from zero', () => {
    expect(lineAmounts({ quantity: 3, unitAmount: 333, rateBps: 2000, inclusive: false })).toEqual({ netAmount: 999, taxAmount: 200, totalAmount: 1199 });
    expect(lineAmounts({ quantity: 1, unitAmount: 5, rateBps: 1000, inclusive: false })).toEqual({ netAmount: 5, taxAmount: 1, totalAmount: 6 }); // 0.5 → 1
    expect(lineAmounts({ quantity: 1, unitAmount: -5, rateBps: 1000, inclusive: false })).toEqual({ netAmount: -5, taxAmount: -1, totalAmount: -6 });
  });
  it('inclusive tax is taken out of the price; the line total is the price', () => {
    expect(lineAmounts({ quantity: 1, unitAmount: 1200, rateBps: 2000, inclusive: true })).toEqual({ netAmount: 1000, taxAmount: 200, totalAmount: 1200 });
    expect(lineAmounts({ quantity: 1, unitAmount: 999, rateBps: 770, inclusive: true })).toEqual({ netAmount: 928, taxAmount: 71, totalAmount: 999 });
  });
  it('totals are the exact sums of the rounded lines, huge values stay exact or are refused', () => {
    const lines = [0, 1, 2].map(() => lineAmounts({ quantity: 1, unitAmount: 5, rateBps: 1000, inclusive: false }));
    expect(invoiceTotals(lines)).toEqual({ subtotal: 15, taxTotal: 3, total: 18 });
    expect(() => lineAmounts({ quantity: 100_000, unitAmount: 1_000_000_000, rateBps: 0, inclusive: false })).toThrow(RangeError);
  });
});

describe('document numbers', () => {
  it('formats, periods and refused formats', () => {
    const at = new Date('2026-03-05T10:00:00Z');
    expect(renderNumber('INV-{YYYY}-{000000}', at, 42)).toBe('INV-2026-000042');
    expect(renderNumber('{YY}{MM}/{0000}', at, 12345)).toBe('2603/12345');
    expect(sequencePeriod('INV-{YYYY}-{000000}', at)).toBe('2026');
    expect(sequencePeriod('INV-{000000}', at)).toBe('');
    expect(formatProblem('INV-{YYYY}')).toMatch(/exactly one counter/);
    expect(formatProblem('INV {000}')).toMatch(/may contain only/);
    expect(formatProblem('F{000}-{00}')).toMatch(/exactly one counter/);
  });
});

describe('invoices API', () => {
  it('draft → issue: tax from the customer country, number from the format, customer details copied at issue', async () => {
    const s = await setup('BILLING');
    expect((await send('POST', '/api/tax-rates', s.headers, { name: 'VAT FR', country: 'FR', rateBps: 2000 })).statusCode).toBe(201);
    expect((await send('POST', '/api/tax-rates', s.headers, { name: 'VAT FR 2', country: 'FR', rateBps: 550 })).statusCode).toBe(409);
    const billing = await send('PATCH', `/api/customers/${s.customer.id}/billing`, s.headers, {
      taxId: 'FR40303265045',
      country: 'FR',
      billingAddress: { line1: '1 rue de la Paix', city: 'Paris', postalCode: '75002', country: 'FR' },
    });
    expect(billing.statusCode).toBe(200);
    expect((await send('PATCH', '/api/billing/settings', s.headers, { invoiceNumberFormat: 'F-{YYYY}-{0000}', sellerName: 'Hosting SA' })).statusCode).toBe(200);
    expect((await send('PATCH', '/api/billing/settings', s.headers, { invoiceNumberFormat: 'F-{YYYY}' })).statusCode).toBe(400);

    const created = await send('POST', '/api/invoices', s.headers, {
      customerId: s.customer.id,
      currency: 'EUR',
      lines: [
        { description: 'Hosting, March', unitAmount: 999 },
        { description: 'Extra mailboxes', quantity: 3, unitAmount: 333 },
        { description: 'Untaxed fee', unitAmount: 100, taxRateId: null },
      ],
    });
    expect(created.statusCode).toBe(201);
    const draft = created.json();
    expect(draft).toMatchObject({ status: 'DRAFT', number: null, subtotal: 2098, taxTotal: 400, total: 2498, customer: null });
    expect(draft.lines.map((l: { taxAmount: number }) => l.taxAmount)).toEqual([200, 200, 0]);

    const issued = await send('POST', `/api/invoices/${draft.id}/issue`, s.headers);
    expect(issued.statusCode).toBe(200);
    const year = new Date().getUTCFullYear();
    expect(issued.json()).toMatchObject({
      status: 'ISSUED',
      number: `F-${year}-0001`,
      customer: { name: 'Ada Lovelace', taxId: 'FR40303265045', address: { city: 'Paris' } },
      seller: { name: 'Hosting SA' },
      amountDue: 2498,
    });
    expect((await send('POST', `/api/invoices/${draft.id}/issue`, s.headers)).statusCode).toBe(409);
    expect((await send('DELETE', `/api/invoices/${draft.id}`, s.headers)).statusCode).toBe(409);

    // The customer moves: the issued invoice keeps the address it was issued with.
    await send('PATCH', `/api/customers/${s.customer.id}/billing`, s.headers, { billingAddress: { line1: 'Elsewhere', city: 'Lyon', country: 'FR' } });
    expect((await send('GET', `/api/invoices/${draft.id}`, s.headers)).json().customer.address.city).toBe('Paris');

    const note = await send('POST', `/api/invoices/${draft.id}/credit-notes`, s.headers, { amount: 1249, reason: 'goodwill' });
    expect(note.statusCode).toBe(201);
    expect(note.json()).toMatchObject({ number: `CN-${year}-000001`, total: 1249, taxTotal: 200, subtotal: 1049 });
    expect((await send('POST', `/api/invoices/${draft.id}/credit-notes`, s.headers, { amount: 1250, reason: 'too much' })).statusCode).toBe(400);

    const audit = await withTenant(db(), s.tenant.id, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs));
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['tax_rate.created', 'customer.billing_updated', 'invoice.created', 'invoice.issued', 'credit_note.issued']));
    const events = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.type, 'invoice.issued')));
    expect(events).toHaveLength(1);
    expect(events[0]?.payload).toMatchObject({ invoiceId: draft.id, number: `F-${year}-0001`, total: { amount: 2498, currency: 'EUR' } });
  });

  it('roles: READ_ONLY and SUPPORT read, cannot write; bad input changes nothing', async () => {
    const s = await setup('READ_ONLY');
    expect((await send('GET', '/api/invoices', s.headers)).statusCode).toBe(200);
    expect((await send('POST', '/api/invoices', s.headers, { customerId: s.customer.id, currency: 'EUR', lines: [{ description: 'x', unitAmount: 1 }] })).statusCode).toBe(403);
    const support = await buildUser(db(), s.tenant, { role: 'SUPPORT' });
    expect((await send('POST', '/api/tax-rates', await authHeader(t.env, support.user), { name: 'x', rateBps: 1 })).statusCode).toBe(403);
    const admin = await authHeader(t.env, (await buildUser(db(), s.tenant, { role: 'ADMIN' })).user);
    const bad = await send('POST', '/api/invoices', admin, { customerId: s.customer.id, currency: 'EUR', lines: [{ description: 'x', unitAmount: 1.5 }] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].field).toMatch(/lines\/0\/unitAmount/);
    const unknownKey = await send('POST', '/api/invoices', admin, { customerId: s.customer.id, currency: 'EUR', lines: [{ description: 'x', unitAmount: 1 }], total: 0 });
    expect(unknownKey.statusCode).toBe(400);
    const count = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(invoices));
    expect(count).toHaveLength(0);
  });
});

async function issuedInvoice(tenant: Tenant, customerId: string) {
  return withTenant(db(), tenant.id, async (tx) => {
    const draft = await createDraftInvoice(tx, tenant.id, { customerId, currency: 'EUR', lines: [{ description: 'x', quantity: 1, unitAmount: 1000 }] }, systemActor);
    return issueInvoice(tx, tenant.id, draft.id, systemActor);
  });
}

describe('immutability, enforced by the database', () => {
  it('refuses changes to an issued invoice number, customer, totals and lines, and its deletion', async () => {
    const s = await setup();
    const invoice = await issuedInvoice(s.tenant, s.customer.id);
    const attempts = [
      sql`update invoices set total = 1, subtotal = 1 where id = ${invoice.id}`,
      sql`update invoices set number = 'INV-X' where id = ${invoice.id}`,
      sql`update invoices set customer_snapshot = '{}'::jsonb where id = ${invoice.id}`,
      sql`update invoices set status = 'DRAFT' where id = ${invoice.id}`,
      sql`update invoice_lines set unit_amount = 1 where invoice_id = ${invoice.id}`,
      sql`insert into invoice_lines (tenant_id, invoice_id, position, description, unit_amount, net_amount, tax_amount, total_amount) values (${s.tenant.id}, ${invoice.id}, 9, 'sneaky', 1, 1, 0, 1)`,
      sql`delete from invoice_lines where invoice_id = ${invoice.id}`,
      sql`delete from invoices where id = ${invoice.id}`,
    ];
    for (const statement of attempts) {
      await expect(withTenant(db(), s.tenant.id, (tx) => tx.execute(statement))).rejects.toThrow();
    }
    // What may change: the status forward, once.
    await withTenant(db(), s.tenant.id, (tx) => tx.update(invoices).set({ status: 'PAID', amountPaid: 1000, paidAt: new Date() }).where(eq(invoices.id, invoice.id)));
    await expect(withTenant(db(), s.tenant.id, (tx) => tx.execute(sql`update invoices set status = 'VOID' where id = ${invoice.id}`))).rejects.toThrow();
    const lines = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(invoiceLines).where(eq(invoiceLines.invoiceId, invoice.id)));
    expect(lines).toHaveLength(1);
  });

  it('peer failure 10: 50 concurrent issues get numbers 1..50, no gap, no reuse, even with a rollback among them', async () => {
    const s = await setup();
    const drafts = await withTenant(db(), s.tenant.id, async (tx) => {
      const made = [];
      for (let i = 0; i < 51; i++) made.push(await createDraftInvoice(tx, s.tenant.id, { customerId: s.customer.id, currency: 'EUR', lines: [{ description: `#${i}`, quantity: 1, unitAmount: 100 }] }, systemActor));
      return made;
    });
    const rolledBack = drafts[50]!;
    const results = await Promise.allSettled([
      ...drafts.slice(0, 50).map((draft) => withTenant(db(), s.tenant.id, (tx) => issueInvoice(tx, s.tenant.id, draft.id, systemActor))),
      withTenant(db(), s.tenant.id, async (tx) => {
        await issueInvoice(tx, s.tenant.id, rolledBack.id, systemActor);
        throw new Error('rolled back after taking a number');
      }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(50);
    const rows = await withTenant(db(), s.tenant.id, (tx) => tx.select({ number: invoices.number, status: invoices.status }).from(invoices));
    const numbers = rows.flatMap((r) => (r.number ? [Number(r.number.slice(-6))] : [])).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(rows.filter((r) => r.status === 'DRAFT')).toHaveLength(1);
  });

  it("issueInvoices (the billing run's batch): one block of the same gap-free sequence, each invoice taxed, copied and audited as one issue would; a wrong one writes nothing", async () => {
    const s = await setup();
    const [french] = await withTenant(db(), s.tenant.id, async (tx) => {
      await tx.insert(taxRates).values({ tenantId: s.tenant.id, name: 'VAT FR', country: 'FR', rateBps: 2000 });
      return tx.insert(customers).values({ tenantId: s.tenant.id, email: `fr-${crypto.randomUUID()}@example.test`, name: 'Marie Curie', country: 'FR', taxId: 'FR1' }).returning();
    });
    const line = (description: string) => ({ currency: 'EUR', lines: [{ description, quantity: 1, unitAmount: 1000 }] });
    const now = new Date('2031-03-01T00:00:00Z');
    const single = () =>
      withTenant(db(), s.tenant.id, async (tx) => issueInvoice(tx, s.tenant.id, (await createDraftInvoice(tx, s.tenant.id, { customerId: s.customer.id, ...line('one') }, systemActor)).id, systemActor, now));
    const first = await single();
    const batch = await withTenant(db(), s.tenant.id, (tx) =>
      issueInvoices(tx, s.tenant.id, [{ customerId: french!.id, ...line('a') }, { customerId: s.customer.id, dueAt: new Date('2031-04-01T00:00:00Z'), ...line('b') }, { customerId: french!.id, ...line('c') }], systemActor, now),
    );
    // A batch that takes numbers, then rolls back: they come back.
    await expect(
      withTenant(db(), s.tenant.id, async (tx) => {
        await issueInvoices(tx, s.tenant.id, [{ customerId: s.customer.id, ...line('gone') }], systemActor, now);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    // One customer that is not (any more) the tenant's: nothing of the batch is written, no number taken.
    await withTenant(db(), s.tenant.id, (tx) => tx.update(customers).set({ deletedAt: new Date() }).where(eq(customers.id, french!.id)));
    await expect(withTenant(db(), s.tenant.id, (tx) => issueInvoices(tx, s.tenant.id, [{ customerId: s.customer.id, ...line('x') }, { customerId: french!.id, ...line('y') }], systemActor, now))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const last = await single();

    expect(first.number).toBe('INV-2031-000001');
    expect(batch.map((invoice) => invoice.number)).toEqual(['INV-2031-000002', 'INV-2031-000003', 'INV-2031-000004']);
    expect(last.number).toBe('INV-2031-000005');
    expect(batch.map((invoice) => [invoice.status, invoice.total, invoice.taxTotal, invoice.customerSnapshot?.taxId ?? null])).toEqual([
      ['ISSUED', 1200, 200, 'FR1'],
      ['ISSUED', 1000, 0, null],
      ['ISSUED', 1200, 200, 'FR1'],
    ]);
    expect(batch[0]).toMatchObject({ issuedAt: now, dueAt: new Date(now.getTime() + 14 * 86_400_000), sellerSnapshot: { name: s.tenant.name } });
    expect(batch[1]?.dueAt).toEqual(new Date('2031-04-01T00:00:00Z'));
    const ids = batch.map((invoice) => invoice.id);
    const { lines, audit, events, all } = await withTenant(db(), s.tenant.id, async (tx) => ({
      lines: await tx.select().from(invoiceLines).where(inArray(invoiceLines.invoiceId, ids)),
      audit: await tx.select({ action: auditLogs.action, targetId: auditLogs.targetId }).from(auditLogs).where(inArray(auditLogs.targetId, ids)).orderBy(asc(auditLogs.seq)),
      events: await tx.select({ subjectId: domainEvents.subjectId, payload: domainEvents.payload }).from(domainEvents).where(eq(domainEvents.type, 'invoice.issued')).orderBy(asc(domainEvents.seq)),
      all: await tx.select({ id: invoices.id }).from(invoices),
    }));
    expect(all).toHaveLength(5);
    expect(lines.map((row) => [row.invoiceId, row.taxName, row.taxAmount]).sort()).toEqual([[ids[0], 'VAT FR', 200], [ids[1], null, 0], [ids[2], 'VAT FR', 200]].sort());
    expect(audit).toEqual(ids.flatMap((id) => [{ action: 'invoice.created', targetId: id }, { action: 'invoice.issued', targetId: id }]));
    expect(events.map((event) => event.subjectId)).toEqual([first.id, ...ids, last.id]);
    expect(events[1]?.payload).toMatchObject({ number: 'INV-2031-000002', total: { amount: 1200, currency: 'EUR' } });
    // Issued like any other: the database refuses a new line.
    await expect(
      withTenant(db(), s.tenant.id, (tx) =>
        tx.execute(sql`insert into invoice_lines (tenant_id, invoice_id, position, description, unit_amount, net_amount, tax_amount, total_amount) values (${s.tenant.id}, ${ids[0]}, 9, 'sneaky', 1, 1, 0, 1)`),
      ),
    ).rejects.toThrow();
  });
});
