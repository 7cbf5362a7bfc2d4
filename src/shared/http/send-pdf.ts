import type { FastifyReply } from 'fastify';
import { z } from 'zod';

/** A route's 200 answer when it sends a PDF (with `produces: ['application/pdf']` in its schema). */
export const pdfFile = z.custom<Buffer>((value) => Buffer.isBuffer(value)).meta({ type: 'string', format: 'binary', description: 'The PDF (application/pdf)' });

/**
 * Sends a PDF: shown in the browser (inline) and saved under the document's number. A Buffer skips
 * the route's serializer. Documents are private: no shared cache may keep them.
 */
export function sendPdf(reply: FastifyReply, document: { fileName: string; pdf: Buffer }): FastifyReply {
  return reply
    .type('application/pdf')
    .header('content-disposition', `inline; filename="${document.fileName}"`)
    .header('cache-control', 'private, no-store')
    .header('x-content-type-options', 'nosniff')
    .send(document.pdf);
}
