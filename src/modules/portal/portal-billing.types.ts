import { z } from 'zod';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { creditNoteResponse, invoiceResponse, invoiceSummary } from '../billing/billing.types.js';

/** The portal's invoices: the staff shapes (the customer's own data), without drafts. */
export const portalInvoicesQuery = z.strictObject({
  status: z.enum(['ISSUED', 'PAID', 'VOID']).optional().meta({ description: 'Drafts are never shown in the portal' }),
  ...paginationQuery,
});
export type PortalInvoicesQuery = z.output<typeof portalInvoicesQuery>;

export const portalInvoicesPage = pageOf(invoiceSummary);

export const portalInvoice = invoiceResponse
  .extend({ creditNotes: z.array(creditNoteResponse).meta({ description: 'Credit notes against this invoice (each has a PDF)' }) })
  .meta({ id: 'PortalInvoice' });
export type PortalInvoice = z.output<typeof portalInvoice>;

export const cancelServiceBody = z
  .strictObject({
    cancelAtPeriodEnd: z
      .boolean()
      .meta({ description: 'true: not renewed; the service is suspended when the paid period ends and deleted after the retention period. false: take the cancellation back (until it took effect)' }),
  })
  .meta({ id: 'PortalServiceCancel' });

export const serviceCancellation = z
  .object({
    serviceId: z.uuid(),
    status: z.string().meta({ description: 'The service status (ACTIVE, PAST_DUE, SUSPENDED...)' }),
    cancelAtPeriodEnd: z.boolean(),
    paidThrough: timestamp.nullable(),
    endsAt: timestamp.nullable().meta({ description: 'When the service stops (the end of the paid period), if cancelled' }),
    deletedAfterDays: z.number().int().meta({ description: 'Days after endsAt before the service and its data are deleted' }),
  })
  .meta({ id: 'PortalServiceCancellation' });
export type ServiceCancellation = z.output<typeof serviceCancellation>;
