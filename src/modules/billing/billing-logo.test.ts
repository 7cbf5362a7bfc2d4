import { crc32, deflateSync } from 'node:zlib';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, billingLogos, customers } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { buildTenant, buildUser } from '../../../test/factories.js';

// The tenant's logo on invoice and credit-note PDFs: upload checks, storage, tenancy, rendering.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});
const db = () => t.container.database.db;

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An RGBA PNG (8 bits, so pdfkit splits its alpha channel: the decode that could crash), each scanline with `filter`. */
function png(width: number, height: number, options: { filter?: number; interlace?: 0 | 1 } = {}): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, options.interlace ?? 0], 8);
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 4);
    row[0] = options.filter ?? 0;
    for (let x = 0; x < width; x += 1) row.set([30, 64, 175, x < width / 2 ? 255 : 128], 1 + x * 4);
    rows.push(row);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** A 1x1 greyscale baseline JPEG. */
const JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=',
  'base64',
);
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="http://169.254.169.254/latest/meta-data/"/></svg>');
const GIF = Buffer.from('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

const LOGO = '/api/billing/settings/logo';
const send = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method, url, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });
const upload = (headers: Record<string, string>, image: Buffer) => send('PUT', LOGO, headers, { image: image.toString('base64') });
/** The PDF has an image XObject (pdfkit writes object dictionaries uncompressed). */
const hasImage = (pdf: Buffer) => /\/Subtype \/Image/.test(pdf.toString('latin1'));

async function setup(role: 'BILLING' | 'ADMIN' | 'READ_ONLY' = 'BILLING') {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role });
  const [customer] = await withTenant(db(), tenant.id, (tx) => tx.insert(customers).values({ tenantId: tenant.id, email: `c-${crypto.randomUUID()}@example.test`, name: 'Ada Lovelace' }).returning());
  return { tenant, customer: customer!, headers: await authHeader(t.env, user) };
}

async function storedLogos(tenantId: string) {
  return withTenant(db(), tenantId, (tx) => tx.select({ sha256: billingLogos.sha256 }).from(billingLogos));
}

describe('the tenant logo on invoice PDFs', () => {
  it('a PNG is stored, served back as uploaded and drawn on invoices and credit notes; removed, it is gone from them', async () => {
    const s = await setup();
    const created = await send('POST', '/api/invoices', s.headers, { customerId: s.customer.id, currency: 'EUR', lines: [{ description: 'Hosting', quantity: 1, unitAmount: 1000, taxRateId: null }] });
    expect(created.statusCode, created.body).toBe(201);
    const invoiceId = created.json<{ id: string }>().id;
    const pdf = async (url: string) => {
      const answer = await send('GET', url, s.headers);
      expect(answer.statusCode).toBe(200);
      return answer.rawPayload;
    };
    expect(hasImage(await pdf(`/api/invoices/${invoiceId}/pdf`))).toBe(false);
    expect((await send('GET', LOGO, s.headers)).statusCode).toBe(404);

    const image = png(400, 100);
    const put = await upload(s.headers, image);
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ contentType: 'image/png', bytes: image.length, width: 400, height: 100 });
    const got = await send('GET', LOGO, s.headers);
    expect(got.statusCode).toBe(200);
    expect(got.headers['content-type']).toBe('image/png');
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.rawPayload.equals(image)).toBe(true);

    expect(hasImage(await pdf(`/api/invoices/${invoiceId}/pdf`))).toBe(true);
    expect((await send('POST', `/api/invoices/${invoiceId}/issue`, s.headers)).statusCode).toBe(200);
    const credited = await send('POST', `/api/invoices/${invoiceId}/credit-notes`, s.headers, { amount: 500, reason: 'Goodwill' });
    expect(credited.statusCode, credited.body).toBe(201);
    const creditPdf = await pdf(`/api/credit-notes/${credited.json<{ id: string }>().id}/pdf`);
    expect(hasImage(creditPdf)).toBe(true);

    // A JPEG replaces it, served with its own type.
    expect((await upload(s.headers, JPEG)).json()).toMatchObject({ contentType: 'image/jpeg', width: 1, height: 1 });
    expect((await send('GET', LOGO, s.headers)).headers['content-type']).toBe('image/jpeg');
    expect(hasImage(await pdf(`/api/invoices/${invoiceId}/pdf`))).toBe(true);

    expect((await send('DELETE', LOGO, s.headers)).statusCode).toBe(204);
    expect((await send('GET', LOGO, s.headers)).statusCode).toBe(404);
    expect((await send('DELETE', LOGO, s.headers)).statusCode).toBe(404);
    expect(hasImage(await pdf(`/api/invoices/${invoiceId}/pdf`))).toBe(false);
    const audit = await withTenant(db(), s.tenant.id, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs).where(eq(auditLogs.targetType, 'billing_settings')));
    expect(audit.map((row) => row.action)).toEqual(['billing_settings.logo_updated', 'billing_settings.logo_updated', 'billing_settings.logo_removed']);
  });

  it('refuses SVG, GIF, a corrupt or interlaced PNG, non-base64 (400 on body/image) and more than 256 KB (413), storing nothing', async () => {
    const s = await setup('ADMIN');
    const corrupt = png(20, 10, { filter: 9 });
    const tooBig = Buffer.concat([png(2, 2), Buffer.alloc(262_144)]);
    const cases: [Buffer | string, number][] = [
      [SVG, 400],
      [GIF, 400],
      [Buffer.from('%PDF-1.7\n'), 400],
      [corrupt, 400],
      [png(20, 10, { interlace: 1 }), 400],
      [png(3000, 1), 400],
      [png(2, 2).subarray(0, 30), 400],
      ['not base64!', 400],
      [tooBig, 413],
    ];
    for (const [image, status] of cases) {
      const answer = await send('PUT', LOGO, s.headers, { image: typeof image === 'string' ? image : image.toString('base64') });
      expect(answer.statusCode, answer.body).toBe(status);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toContain('body/image');
    }
    // Far over the limit: the server's own 413, before the body is read.
    expect((await upload(s.headers, Buffer.alloc(1_000_000))).statusCode).toBe(413);
    expect((await send('PUT', LOGO, s.headers, { image: png(2, 2).toString('base64'), url: 'http://example.test/logo.png' })).statusCode).toBe(400);
    expect(await storedLogos(s.tenant.id)).toEqual([]);
    // The corrupt PNG was refused at upload: rendering it would have crashed the process (pdfkit
    // decodes alpha in a zlib callback). The app still answers.
    expect((await send('GET', '/api/billing/settings', s.headers)).statusCode).toBe(200);
  });

  it("another tenant neither reads nor changes a tenant's logo; READ_ONLY reads but does not write", async () => {
    const a = await setup();
    const b = await setup('ADMIN');
    const mine = await upload(a.headers, png(10, 10));
    expect(mine.statusCode).toBe(200);
    expect((await send('GET', LOGO, b.headers)).statusCode).toBe(404);
    expect((await send('DELETE', LOGO, b.headers)).statusCode).toBe(404);
    expect((await upload(b.headers, JPEG)).statusCode).toBe(200);
    expect((await send('GET', LOGO, a.headers)).headers['content-type']).toBe('image/png');
    expect(await storedLogos(a.tenant.id)).toEqual([{ sha256: mine.json<{ sha256: string }>().sha256 }]);

    const { user } = await buildUser(db(), a.tenant, { role: 'READ_ONLY' });
    const reader = await authHeader(t.env, user);
    expect((await send('GET', LOGO, reader)).statusCode).toBe(200);
    expect((await upload(reader, JPEG)).statusCode).toBe(403);
    expect((await send('DELETE', LOGO, reader)).statusCode).toBe(403);
  });
});
