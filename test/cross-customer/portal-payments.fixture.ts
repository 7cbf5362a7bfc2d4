import { and, eq } from 'drizzle-orm';
import { afterAll } from 'vitest';
import { auditLogs, invoices, payments } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { systemActor } from '../../src/modules/audit/audit.service.js';
import { createDraftInvoice, issueInvoice } from '../../src/modules/billing/invoices.service.js';
import { buildOrder } from '../factories.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import { startStripeStandin } from '../helpers/stripe-standin.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './fixture.js';

// The owner's control call creates a Checkout Session: Stripe is the loopback stand-in. Fixtures are
// imported before the suite builds its app, so the app's env (read from process.env) points at it.
const standin = await startStripeStandin();
process.env.STRIPE_API_BASE = standin.base;
process.env.STRIPE_API_KEY = standin.apiKey;
afterAll(() => standin.close());

/** An issued invoice of customer A: another customer asking to pay it gets 404, and no payment page is made. */
async function invoice({ db, tenant }: CrossCustomerContext) {
  const { customer } = await buildOrder(db, tenant);
  const issued = await withTenant(db, tenant.id, async (tx) => {
    const draft = await createDraftInvoice(tx, tenant.id, { customerId: customer.id, currency: 'EUR', lines: [{ description: 'Setup', quantity: 1, unitAmount: 900 }] }, systemActor);
    return issueInvoice(tx, tenant.id, draft.id, systemActor);
  });
  return { params: { id: issued.id }, owner: await buildCustomerLogin(db, tenant, customer) };
}

export const fixtures: CrossCustomerFixture[] = [
  {
    route: 'POST /api/portal/invoices/:id/checkout',
    create: invoice,
    // The invoice, its payments, and the payment pages made for it (audited; the owner's call makes one).
    snapshot: ({ db, tenant }, { id }) =>
      withTenant(db, tenant.id, async (tx) => ({
        invoice: await tx.select().from(invoices).where(eq(invoices.id, id!)),
        payments: await tx.select().from(payments).where(eq(payments.invoiceId, id!)),
        checkouts: await tx.select({ id: auditLogs.id }).from(auditLogs).where(and(eq(auditLogs.action, 'invoice.checkout_created'), eq(auditLogs.targetId, id!))),
      })),
  },
];
