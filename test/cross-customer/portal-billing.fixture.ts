import { eq } from 'drizzle-orm';
import { creditNotes, invoices, subscriptions } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { systemActor } from '../../src/modules/audit/audit.service.js';
import { createDraftInvoice, issueCreditNote, issueInvoice } from '../../src/modules/billing/invoices.service.js';
import { buildOrder } from '../factories.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './fixture.js';

/** An issued invoice of a new customer A (with a credit note when asked), and A's owner login. */
async function issuedInvoice({ db, tenant }: CrossCustomerContext, withCreditNote = false) {
  const { customer, subscription } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
  const made = await withTenant(db, tenant.id, async (tx) => {
    const draft = await createDraftInvoice(tx, tenant.id, { customerId: customer.id, subscriptionId: subscription.id, currency: 'EUR', lines: [{ description: 'Hosting', quantity: 1, unitAmount: 900 }] }, systemActor);
    const invoice = await issueInvoice(tx, tenant.id, draft.id, systemActor);
    const note = withCreditNote ? await issueCreditNote(tx, tenant.id, invoice.id, { amount: 100, reason: 'goodwill' }, systemActor) : null;
    return { invoice, note };
  });
  return { made, owner: await buildCustomerLogin(db, tenant, customer) };
}

const invoiceState: CrossCustomerFixture['snapshot'] = ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(invoices).where(eq(invoices.id, id!)));

export const fixtures: CrossCustomerFixture[] = [
  {
    route: 'GET /api/portal/invoices/:id',
    create: async (context) => {
      const { made, owner } = await issuedInvoice(context);
      return { params: { id: made.invoice.id }, owner };
    },
    snapshot: invoiceState,
  },
  {
    route: 'GET /api/portal/invoices/:id/pdf',
    create: async (context) => {
      const { made, owner } = await issuedInvoice(context);
      return { params: { id: made.invoice.id }, owner };
    },
    snapshot: invoiceState,
  },
  {
    route: 'GET /api/portal/credit-notes/:id/pdf',
    create: async (context) => {
      const { made, owner } = await issuedInvoice(context, true);
      return { params: { id: made.note!.id }, owner };
    },
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(creditNotes).where(eq(creditNotes.id, id!))),
  },
  {
    route: 'POST /api/portal/services/:id/cancel',
    create: async ({ db, tenant }) => {
      const { customer, subscription } = await buildOrder(db, tenant, { subscriptionStatus: 'ACTIVE' });
      return { params: { id: subscription.id }, owner: await buildCustomerLogin(db, tenant, customer) };
    },
    body: { cancelAtPeriodEnd: true },
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, id!))),
  },
];
