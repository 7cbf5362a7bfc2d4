import type PDFKitDocument from 'pdfkit';
import type { BillingAddress, CustomerSnapshot, SellerSnapshot } from '../../db/schema/index.js';
import { formatMoney, type Formats } from '../events/email-template.js';

/**
 * An invoice or credit note as a PDF (pdfkit, A4, the standard Helvetica fonts: no font embedded,
 * so nothing varies between runs; the tenant's logo, when it has one, is the only image). Everything printed comes from the stored document: integer
 * minor units written in the tenant's locale, the seller and customer as they were at issue. The
 * PDF's creation date is the document's date, so one document always gives the same bytes.
 */

export interface PdfBranding extends Formats {
  readonly brandName: string;
  readonly primaryColor: string;
  readonly footerAddress: string | null;
}

export interface PdfLine {
  readonly description: string;
  readonly quantity: number;
  readonly unitAmount: number;
  readonly taxName: string | null;
  readonly taxRateBps: number;
  readonly taxInclusive: boolean;
  readonly taxAmount: number;
  readonly totalAmount: number;
}

export interface PdfDocumentData {
  readonly kind: 'INVOICE' | 'CREDIT_NOTE';
  /** null for a draft (numbered at issue). */
  readonly number: string | null;
  readonly status: string;
  /** The document's date: issue date, or creation date for a draft. Also the PDF's CreationDate. */
  readonly date: Date;
  readonly dueAt: Date | null;
  readonly periodStart: Date | null;
  readonly periodEnd: Date | null;
  /** A credit note names the invoice it corrects. */
  readonly creditedInvoiceNumber: string | null;
  readonly currency: string;
  readonly seller: SellerSnapshot;
  readonly customer: CustomerSnapshot;
  readonly lines: readonly PdfLine[];
  readonly subtotal: number;
  readonly taxTotal: number;
  readonly total: number;
  readonly amountPaid: number | null;
  readonly amountDue: number | null;
  readonly note: string | null;
  readonly branding: PdfBranding;
  /** The tenant's logo (PNG or JPEG, checked at upload: billing-logo.ts), drawn in place of the brand name; null: the name. */
  readonly logo: Buffer | null;
}

const MARGIN = 50;
const PAGE_BOTTOM = 842 - MARGIN - 40;
const GREY = '#555555';
/** The box the logo is scaled to fit, top left (its aspect ratio kept). */
const LOGO_BOX: [number, number] = [200, 40];
/** Helvetica is WinAnsi: the narrow no-break space some locales put in numbers has no glyph there. */
const printable = (text: string): string => text.replace(/[\u202f\u2009]/g, '\u00a0');

const money = (amount: number, data: PdfDocumentData): string => printable(formatMoney({ amount, currency: data.currency }, data.branding));
const day = (date: Date, formats: Formats): string => printable(new Intl.DateTimeFormat(formats.locale, { dateStyle: 'medium', timeZone: formats.timeZone }).format(date));
const rate = (line: PdfLine, formats: Formats): string => {
  if (line.taxRateBps === 0 && line.taxName === null) return '-';
  const percent = new Intl.NumberFormat(formats.locale, { maximumFractionDigits: 2 }).format(line.taxRateBps / 100);
  return printable(`${line.taxName ?? 'Tax'} ${percent}%${line.taxInclusive ? ' incl.' : ''}`);
};

function addressLines(address: BillingAddress | null): string[] {
  if (!address) return [];
  return [address.line1, address.line2, [address.postalCode, address.city].filter(Boolean).join(' '), [address.region, address.country].filter(Boolean).join(', ')].filter(
    (line): line is string => typeof line === 'string' && line.length > 0,
  );
}

export function documentTitle(data: Pick<PdfDocumentData, 'kind' | 'number' | 'status'>): string {
  const what = data.kind === 'INVOICE' ? 'Invoice' : 'Credit note';
  return data.number ? `${what} ${data.number}` : `${what} (${data.status.toLowerCase()})`;
}

/** pdfkit, loaded at its first use, not at start-up: it and its fonts are ~29 MB of the API's RSS. */
export async function loadPdfKit(): Promise<typeof PDFKitDocument> {
  return (await import('pdfkit')).default;
}

export async function renderDocumentPdf(data: PdfDocumentData): Promise<Buffer> {
  const PDFDocument = await loadPdfKit();
  const { branding } = data;
  const draft = data.status === 'DRAFT';
  const doc = new PDFDocument({
    size: 'A4',
    margin: MARGIN,
    info: { Title: documentTitle(data), Author: branding.brandName, Creator: 'mPanel', Producer: 'mPanel (PDFKit)', CreationDate: data.date },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const width = doc.page.width - 2 * MARGIN;
  if (draft) {
    // Across the page, behind everything else: nobody can mistake a draft for a bill.
    doc.save().rotate(-35, { origin: [doc.page.width / 2, doc.page.height / 2] });
    doc.font('Helvetica-Bold').fontSize(110).fillColor('#e3e3e3').text('DRAFT', 0, doc.page.height / 2 - 55, { width: doc.page.width, align: 'center', lineBreak: false });
    doc.restore();
  }

  // Header: the brand, and what this is.
  if (data.logo) doc.image(data.logo, MARGIN, MARGIN, { fit: LOGO_BOX });
  else doc.font('Helvetica-Bold').fontSize(20).fillColor(branding.primaryColor).text(printable(branding.brandName), MARGIN, MARGIN, { width: width * 0.6 });
  const title = data.kind === 'INVOICE' ? 'INVOICE' : 'CREDIT NOTE';
  doc.font('Helvetica-Bold').fontSize(18).fillColor('#000000').text(draft ? `${title} - DRAFT` : title, MARGIN + width * 0.5, MARGIN, { width: width * 0.5, align: 'right' });
  if (draft) doc.font('Helvetica').fontSize(9).fillColor('#b00020').text('DRAFT - not a valid invoice: not numbered, not payable', MARGIN + width * 0.4, doc.y + 2, { width: width * 0.6, align: 'right' });

  // Seller (left) and the document's facts (right).
  const top = MARGIN + 45;
  doc.font('Helvetica-Bold').fontSize(10).fillColor('#000000').text(printable(data.seller.name), MARGIN, top, { width: width * 0.5 });
  doc.font('Helvetica').fontSize(9).fillColor(GREY);
  for (const line of addressLines(data.seller.address)) doc.text(printable(line), { width: width * 0.5 });
  if (data.seller.taxId) doc.text(`Tax ID: ${printable(data.seller.taxId)}`, { width: width * 0.5 });
  const leftBottom = doc.y;

  const facts: [string, string][] = [
    ['Number', data.number ?? 'DRAFT (numbered at issue)'],
    [draft ? 'Created' : 'Issue date', day(data.date, branding)],
    ...(data.dueAt && data.kind === 'INVOICE' ? [['Due date', day(data.dueAt, branding)] as [string, string]] : []),
    ...(data.periodStart && data.periodEnd ? [['Period', `${day(data.periodStart, branding)} - ${day(data.periodEnd, branding)}`] as [string, string]] : []),
    ...(data.creditedInvoiceNumber ? [['Credits invoice', data.creditedInvoiceNumber] as [string, string]] : []),
    ['Status', data.status],
  ];
  let y = top;
  for (const [label, value] of facts) {
    doc.font('Helvetica').fontSize(9).fillColor(GREY).text(label, MARGIN + width * 0.5, y, { width: width * 0.2 });
    doc.font('Helvetica-Bold').fillColor('#000000').text(printable(value), MARGIN + width * 0.7, y, { width: width * 0.3, align: 'right' });
    y = doc.y + 2;
  }

  // The customer, as at issue.
  y = Math.max(leftBottom, y) + 18;
  doc.font('Helvetica').fontSize(9).fillColor(GREY).text('Bill to', MARGIN, y);
  doc.font('Helvetica-Bold').fontSize(10).fillColor('#000000').text(printable(data.customer.company ?? data.customer.name), { width: width * 0.6 });
  doc.font('Helvetica').fontSize(9).fillColor('#000000');
  if (data.customer.company) doc.text(printable(data.customer.name), { width: width * 0.6 });
  for (const line of addressLines(data.customer.address)) doc.text(printable(line), { width: width * 0.6 });
  if (data.customer.taxId) doc.text(`Tax ID: ${printable(data.customer.taxId)}`, { width: width * 0.6 });
  doc.fillColor(GREY).text(printable(data.customer.email), { width: width * 0.6 });

  // The lines: description, quantity, unit price, tax rate, tax, amount (tax included).
  const columns = [
    { label: 'Description', x: 0, w: 0.36, align: 'left' as const },
    { label: 'Qty', x: 0.36, w: 0.07, align: 'right' as const },
    { label: 'Unit price', x: 0.43, w: 0.15, align: 'right' as const },
    { label: 'Tax rate', x: 0.58, w: 0.14, align: 'right' as const },
    { label: 'Tax', x: 0.72, w: 0.13, align: 'right' as const },
    { label: 'Amount', x: 0.85, w: 0.15, align: 'right' as const },
  ];
  const row = (cells: string[], bold: boolean) => {
    const rowTop = y;
    let bottom = rowTop;
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(9).fillColor('#000000');
    cells.forEach((cell, index) => {
      const column = columns[index]!;
      doc.text(printable(cell), MARGIN + width * column.x, rowTop, { width: width * column.w - 4, align: column.align });
      bottom = Math.max(bottom, doc.y);
    });
    y = bottom + 4;
  };
  y = doc.y + 18;
  row(
    columns.map((column) => column.label),
    true,
  );
  doc.moveTo(MARGIN, y - 2).lineTo(MARGIN + width, y - 2).strokeColor('#cccccc').stroke();
  for (const line of data.lines) {
    if (y > PAGE_BOTTOM - 120) {
      doc.addPage();
      y = MARGIN;
    }
    row([line.description, String(line.quantity), money(line.unitAmount, data), rate(line, branding), money(line.taxAmount, data), money(line.totalAmount, data)], false);
  }
  doc.moveTo(MARGIN, y).lineTo(MARGIN + width, y).strokeColor('#cccccc').stroke();

  // Totals: exact sums of the stored lines.
  y += 8;
  const totals: [string, string, boolean][] = [
    ['Subtotal', money(data.subtotal, data), false],
    ['Tax', money(data.taxTotal, data), false],
    [data.kind === 'INVOICE' ? 'Total' : 'Total credited', money(data.total, data), true],
    ...(data.amountPaid !== null && data.amountPaid > 0 ? [['Paid', money(data.amountPaid, data), false] as [string, string, boolean]] : []),
    ...(data.amountDue !== null && !draft ? [['Amount due', money(data.amountDue, data), true] as [string, string, boolean]] : []),
  ];
  for (const [label, value, bold] of totals) {
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(bold ? 11 : 9).fillColor('#000000');
    doc.text(label, MARGIN + width * 0.55, y, { width: width * 0.2 });
    doc.text(value, MARGIN + width * 0.75, y, { width: width * 0.25, align: 'right' });
    y = doc.y + 3;
  }

  if (data.note) {
    doc.font('Helvetica').fontSize(9).fillColor(GREY).text(printable(data.note), MARGIN, y + 16, { width });
  }
  if (branding.footerAddress) {
    doc.font('Helvetica').fontSize(8).fillColor(GREY).text(printable(branding.footerAddress), MARGIN, PAGE_BOTTOM + 10, { width, align: 'center', lineBreak: false });
  }
  doc.end();
  return done;
}
