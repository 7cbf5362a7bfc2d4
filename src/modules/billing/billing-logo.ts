import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { billingLogos } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError, notFound, validationFailed } from '../../shared/errors/app-error.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { BillingLogoBody, BillingLogoView } from './billing.types.js';
import { loadPdfKit } from './invoice-pdf.js';

/**
 * The tenant's logo on invoice and credit note PDFs (invoice-pdf.ts): uploaded as bytes
 * (`PUT /api/billing/settings/logo`, base64 in JSON), stored in the database, never fetched from
 * a URL (no request from the server to anywhere a tenant names). Only PNG and JPEG, the two
 * formats pdfkit embeds; SVG and everything else are refused, by the bytes' signature, not by
 * what the client says.
 *
 * pdfkit decodes some PNGs (alpha, palette transparency, interlacing) in a zlib callback that
 * throws out of any try/catch: a corrupt one would crash the process at render time. So a PNG is
 * decoded here first, the way pdfkit will (inflate, then one filter byte per scanline), and the
 * interlaced kind, whose passes pdfkit walks differently, is refused.
 */

export const LOGO_MAX_BYTES = 262_144;
/** The logo route's body limit: room for a base64 logo a little over LOGO_MAX_BYTES, so it gets the 413 that names the field (beyond: the server's own 413). */
export const LOGO_BODY_LIMIT = Math.ceil((LOGO_MAX_BYTES * 4) / 3) * 2;
/** Per side: a logo, not a photo (an RGBA PNG of this size decodes to 32 MB at most). */
const LOGO_MAX_PIXELS_PER_SIDE = 2_048;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_SIGNATURE = Buffer.from([0xff, 0xd8, 0xff]);
const FIELD = 'body/image';

type LogoType = 'image/png' | 'image/jpeg';

/** What pdfkit's openImage answers (not in @types/pdfkit). */
interface OpenedImage {
  readonly width: number;
  readonly height: number;
  readonly image?: { readonly imgData: Uint8Array; readonly interlaceMethod: number; readonly pixelBitlength: number };
}

const invalid = (message: string) => validationFailed([{ field: FIELD, message }]);

function typeOf(bytes: Buffer): LogoType {
  if (bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return 'image/png';
  if (bytes.subarray(0, JPEG_SIGNATURE.length).equals(JPEG_SIGNATURE)) return 'image/jpeg';
  throw invalid('must be a PNG or JPEG image (SVG and other formats are not accepted)');
}

/** Every scanline of a non-interlaced PNG starts with a filter byte pdfkit knows (0 to 4). */
function pngScanlinesValid(image: NonNullable<OpenedImage['image']>, width: number, height: number): boolean {
  let data: Buffer;
  try {
    data = inflateSync(image.imgData, { maxOutputLength: 64 * 1024 * 1024 });
  } catch {
    return false;
  }
  const rowBytes = Math.ceil((image.pixelBitlength / 8) * width);
  for (let row = 0, pos = 0; row < height && pos < data.length; row += 1, pos += 1 + rowBytes) {
    if ((data[pos] ?? 0) > 4) return false;
  }
  return true;
}

/** The image's type, checked as pdfkit will read it; an AppError naming body/image otherwise. */
export async function inspectLogo(bytes: Buffer): Promise<{ contentType: LogoType; width: number; height: number }> {
  if (bytes.length > LOGO_MAX_BYTES) throw new AppError('PAYLOAD_TOO_LARGE', `The logo is larger than ${LOGO_MAX_BYTES} bytes`, { fields: [{ field: FIELD, message: `at most ${LOGO_MAX_BYTES} bytes` }] });
  if (bytes.length === 0) throw invalid('must not be empty');
  const contentType = typeOf(bytes);
  let opened: OpenedImage;
  const PDFDocument = await loadPdfKit();
  try {
    opened = (new PDFDocument({ autoFirstPage: false }) as unknown as { openImage(src: Buffer): OpenedImage }).openImage(bytes);
  } catch {
    throw invalid(`is not a readable ${contentType === 'image/png' ? 'PNG' : 'JPEG'} image`);
  }
  const { width, height } = opened;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw invalid('has no readable size');
  if (width > LOGO_MAX_PIXELS_PER_SIDE || height > LOGO_MAX_PIXELS_PER_SIDE) throw invalid(`must be at most ${LOGO_MAX_PIXELS_PER_SIDE} pixels on each side`);
  if (contentType === 'image/png') {
    if (!opened.image) throw invalid('is not a readable PNG image');
    if (opened.image.interlaceMethod !== 0) throw invalid('must not be an interlaced PNG');
    if (!pngScanlinesValid(opened.image, width, height)) throw invalid('is not a readable PNG image (corrupt image data)');
  }
  return { contentType, width, height };
}

/** The logo to draw on a PDF, or null. */
export async function logoOf(tx: Tx, tenantId: string): Promise<Buffer | null> {
  const [row] = await tx.select({ image: billingLogos.image }).from(billingLogos).where(eq(billingLogos.tenantId, tenantId));
  return row?.image ?? null;
}

type Auth = Pick<AuthContext, 'tenantId'>;

/** PUT /api/billing/settings/logo: replaces the logo; audited with the old and new image digests. */
export async function putBillingLogo(db: Database, auth: Auth, body: BillingLogoBody, actor: AuditActor): Promise<BillingLogoView> {
  const bytes = Buffer.from(body.image, 'base64');
  const { contentType, width, height } = await inspectLogo(bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return withTenant(db, auth.tenantId, async (tx) => {
    const [before] = await tx.select({ sha256: billingLogos.sha256, contentType: billingLogos.contentType }).from(billingLogos).where(eq(billingLogos.tenantId, auth.tenantId)).for('update');
    const [row] = await tx
      .insert(billingLogos)
      .values({ tenantId: auth.tenantId, contentType, image: bytes, sha256 })
      .onConflictDoUpdate({ target: billingLogos.tenantId, set: { contentType, image: bytes, sha256, updatedAt: new Date() } })
      .returning({ updatedAt: billingLogos.updatedAt });
    if (!row) throw new Error('billing logo upsert returned no row');
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'billing_settings.logo_updated',
      targetType: 'billing_settings',
      targetId: auth.tenantId,
      before: before ?? null,
      after: { sha256, contentType, bytes: bytes.length, width, height },
    });
    return { contentType, bytes: bytes.length, width, height, sha256, updatedAt: row.updatedAt };
  });
}

/** DELETE /api/billing/settings/logo: 404 when there is none. */
export async function deleteBillingLogo(db: Database, auth: Auth, actor: AuditActor): Promise<void> {
  await withTenant(db, auth.tenantId, async (tx) => {
    const [removed] = await tx.delete(billingLogos).where(eq(billingLogos.tenantId, auth.tenantId)).returning({ sha256: billingLogos.sha256, contentType: billingLogos.contentType });
    if (!removed) throw notFound('Logo');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'billing_settings.logo_removed', targetType: 'billing_settings', targetId: auth.tenantId, before: removed });
  });
}

/** GET /api/billing/settings/logo: the image as uploaded. */
export async function getBillingLogo(db: Database, auth: Auth): Promise<{ contentType: string; image: Buffer; sha256: string }> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx.select().from(billingLogos).where(eq(billingLogos.tenantId, auth.tenantId));
    if (!row) throw notFound('Logo');
    return { contentType: row.contentType, image: row.image, sha256: row.sha256 };
  });
}
