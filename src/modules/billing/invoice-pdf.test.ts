import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customers, notificationSettings } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildTenant, buildUser } from '../../../test/factories.js';

const run = promisify(execFile);

let t: TestApp;
let dir: string;
beforeAll(async () => {
  t = await createTestApp();
  dir = await mkdtemp(path.join(tmpdir(), 'mpanel-pdf-'));
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});
const db = () => t.container.database.db;

/** The PDF's text as poppler's pdftotext reads it (layout kept, so a row stays on one line). */
async function pdfText(pdf: Buffer): Promise<string> {
  const file = path.join(dir, `${crypto.randomUUID()}.pdf`);
  await writeFile(file, pdf);
  const { stdout } = await run('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-']);
  return stdout;
}

async function setup(role: 'BILLING' | 'READ_ONLY' = 'BILLING') {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role });
  const [customer] = await withTenant(db(), tenant.id, async (tx) => {
    await tx.insert(notificationSettings).values({ tenantId: tenant.id, brandName: 'Northwind Hosting', footerAddress: 'Northwind Hosting Ltd, 1 Harbour Road, Leeds', locale: 'en-GB', timeZone: 'Europe/London' });
    return tx.insert(customers).values({ tenantId: tenant.id, email: `c-${crypto.randomUUID()}@example.test`, name: 'Ada Lovelace', company: 'Analytical Engines Ltd' }).returning();
  });
  return { tenant, customer: customer!, headers: await authHeader(t.env, user) };
}

const send = (method: 'GET' | 'POST' | 'PATCH', url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method, url, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });

describe('invoice and credit-note PDFs', () => {
  it('a draft says DRAFT; the issued invoice has the seller and customer at issue, lines, tax per line and exact totals, and the same bytes every time', async () => {
    const s = await setup();
    expect((await send('PATCH', '/api/billing/settings', s.headers, { sellerName: 'Northwind Hosting Ltd', sellerTaxId: 'GB123456789', sellerAddress: { line1: '1 Harbour Road', city: 'Leeds', postalCode: 'LS1 4AB', country: 'GB' } })).statusCode).toBe(200);
    const vat = await send('POST', '/api/tax-rates', s.headers, { name: 'VAT', country: 'GB', rateBps: 2000 });
    expect(vat.statusCode).toBe(201);
    expect((await send('PATCH', `/api/customers/${s.customer.id}/billing`, s.headers, { taxId: 'GB999999973', country: 'GB', billingAddress: { line1: '12 Difference Street', city: 'London', postalCode: 'N1 9GU', country: 'GB' } })).statusCode).toBe(200);
    const created = await send('POST', '/api/invoices', s.headers, {
      customerId: s.customer.id,
      currency: 'GBP',
      lines: [
        { description: 'Web hosting Pro, 12 months', quantity: 1, unitAmount: 11988 },
        { description: 'Extra mailbox', quantity: 3, unitAmount: 333 },
        { description: 'Setup (no tax)', quantity: 1, unitAmount: 500, taxRateId: null },
      ],
      memo: 'Thank you for your business.',
    });
    expect(created.statusCode, created.body).toBe(201);
    const invoice = created.json<{ id: string; subtotal: number; taxTotal: number; total: number }>();
    // 11988 + 999 + 500 net; tax 2397.6 → 2398, 199.8 → 200, 0.
    expect(invoice).toMatchObject({ subtotal: 13487, taxTotal: 2598, total: 16085 });

    const draft = await send('GET', `/api/invoices/${invoice.id}/pdf`, s.headers);
    expect(draft.statusCode).toBe(200);
    expect(draft.headers['content-type']).toBe('application/pdf');
    expect(draft.headers['content-disposition']).toBe(`inline; filename="invoice-draft-${invoice.id}.pdf"`);
    const draftText = await pdfText(draft.rawPayload);
    expect(draftText).toContain('INVOICE - DRAFT');
    expect(draftText).toContain('DRAFT - not a valid invoice');

    const issued = await send('POST', `/api/invoices/${invoice.id}/issue`, s.headers);
    expect(issued.statusCode).toBe(200);
    const number = issued.json<{ number: string }>().number;
    // Details changed after issue do not reach the issued invoice's PDF.
    await send('PATCH', `/api/customers/${s.customer.id}/billing`, s.headers, { taxId: 'GB000000000' });

    const first = await send('GET', `/api/invoices/${invoice.id}/pdf`, s.headers);
    expect(first.statusCode).toBe(200);
    expect(first.headers['content-disposition']).toBe(`inline; filename="${number}.pdf"`);
    expect(first.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    const text = await pdfText(first.rawPayload);
    expect(text).not.toContain('DRAFT');
    for (const expected of [
      'Northwind Hosting',
      'INVOICE',
      number,
      'Northwind Hosting Ltd',
      'Tax ID: GB123456789',
      'Analytical Engines Ltd',
      'Ada Lovelace',
      '12 Difference Street',
      'Tax ID: GB999999973',
      'Thank you for your business.',
      'Northwind Hosting Ltd, 1 Harbour Road, Leeds',
    ]) {
      expect(text).toContain(expected);
    }
    expect(text).not.toContain('GB000000000');
    const lines = text.split('\n');
    const row = (start: string) => lines.find((line) => line.includes(start))?.replace(/\s+/g, ' ');
    expect(row('Web hosting Pro')).toMatch(/Web hosting Pro, 12 months 1 £119\.88 VAT 20% £23\.98 £143\.86/);
    expect(row('Extra mailbox')).toMatch(/Extra mailbox 3 £3\.33 VAT 20% £2\.00 £11\.99/);
    expect(row('Setup (no tax)')).toMatch(/Setup \(no tax\) 1 £5\.00 - £0\.00 £5\.00/);
    expect(row('Subtotal')).toMatch(/Subtotal £134\.87/);
    expect(row('Total ')).toMatch(/Total £160\.85/);
    expect(row('Amount due')).toMatch(/Amount due £160\.85/);

    const again = await send('GET', `/api/invoices/${invoice.id}/pdf`, s.headers);
    expect(again.rawPayload.equals(first.rawPayload), 'the same invoice gives the same bytes').toBe(true);

    // A credit note: its own number, the invoice it credits, the credited tax.
    const credit = await send('POST', `/api/invoices/${invoice.id}/credit-notes`, s.headers, { amount: 1199, reason: 'Refund' });
    expect(credit.statusCode, credit.body).toBe(201);
    const note = credit.json<{ id: string; number: string }>();
    const cn = await send('GET', `/api/credit-notes/${note.id}/pdf`, s.headers);
    expect(cn.statusCode).toBe(200);
    expect(cn.headers['content-disposition']).toBe(`inline; filename="${note.number}.pdf"`);
    const cnText = await pdfText(cn.rawPayload);
    for (const expected of ['CREDIT NOTE', note.number, 'Credits invoice', `Credit against ${number}: Refund`, 'Analytical Engines Ltd']) expect(cnText).toContain(expected);
    expect(cnText.replace(/\s+/g, ' ')).toMatch(/Total credited £11\.99/);
  });

  it('everyone who reads invoices gets the PDF; another tenant gets 404', async () => {
    const s = await setup();
    const created = await send('POST', '/api/invoices', s.headers, { customerId: s.customer.id, currency: 'EUR', lines: [{ description: 'Domain', quantity: 1, unitAmount: 1500 }] });
    const id = created.json<{ id: string }>().id;
    const { user: reader } = await buildUser(db(), s.tenant, { role: 'READ_ONLY' });
    expect((await send('GET', `/api/invoices/${id}/pdf`, await authHeader(t.env, reader))).statusCode).toBe(200);
    const other = await setup();
    expect((await send('GET', `/api/invoices/${id}/pdf`, other.headers)).statusCode).toBe(404);
    expect((await send('GET', `/api/credit-notes/${crypto.randomUUID()}/pdf`, s.headers)).statusCode).toBe(404);
  });
});
