import { eq } from 'drizzle-orm';
import { creditNotes, customers, invoices, taxRates, type Tenant } from '../../src/db/schema/index.js';
import type { Database } from '../../src/config/database.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { systemActor } from '../../src/modules/audit/audit.service.js';
import { createDraftInvoice, issueCreditNote, issueInvoice } from '../../src/modules/billing/invoices.service.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

async function customerOf(db: Database, tenant: Tenant) {
  const [customer] = await withTenant(db, tenant.id, (tx) =>
    tx.insert(customers).values({ tenantId: tenant.id, email: `ct-${crypto.randomUUID()}@example.test`, name: 'Cross Tenant' }).returning(),
  );
  if (!customer) throw new Error('no customer');
  return customer;
}

function invoice(issued: boolean) {
  return async ({ db, tenant }: CrossTenantContext) => {
    const customer = await customerOf(db, tenant);
    const row = await withTenant(db, tenant.id, async (tx) => {
      const draft = await createDraftInvoice(tx, tenant.id, { customerId: customer.id, currency: 'EUR', lines: [{ description: 'x', quantity: 1, unitAmount: 500 }] }, systemActor);
      return issued ? issueInvoice(tx, tenant.id, draft.id, systemActor) : draft;
    });
    return { id: row.id };
  };
}

const invoiceSnapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, async (tx) => ({
    invoice: await tx.select().from(invoices).where(eq(invoices.id, id!)),
    creditNotes: await tx.select({ id: creditNotes.id }).from(creditNotes).where(eq(creditNotes.invoiceId, id!)),
  }));

const customerSnapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { id }) =>
  withTenant(db, tenant.id, (tx) => tx.select().from(customers).where(eq(customers.id, id!)));

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/invoices/:id', create: invoice(true), snapshot: invoiceSnapshot },
  { route: 'GET /api/invoices/:id/pdf', create: invoice(true), snapshot: invoiceSnapshot },
  { route: 'DELETE /api/invoices/:id', create: invoice(false), snapshot: invoiceSnapshot },
  { route: 'POST /api/invoices/:id/issue', create: invoice(false), snapshot: invoiceSnapshot },
  { route: 'POST /api/invoices/:id/void', create: invoice(true), body: { reason: 'wrong' }, snapshot: invoiceSnapshot },
  { route: 'POST /api/invoices/:id/payments', create: invoice(true), body: { amount: 500, currency: 'EUR', reference: 'bank-ct' }, snapshot: invoiceSnapshot },
  { route: 'POST /api/invoices/:id/credit-notes', create: invoice(true), body: { amount: 100, reason: 'goodwill' }, snapshot: invoiceSnapshot },
  {
    route: 'GET /api/credit-notes/:id',
    create: async (context) => {
      const { id } = await invoice(true)(context);
      const note = await withTenant(context.db, context.tenant.id, (tx) => issueCreditNote(tx, context.tenant.id, id, { reason: 'x' }, systemActor));
      return { id: note.id };
    },
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(creditNotes).where(eq(creditNotes.id, id!))),
  },
  {
    route: 'GET /api/credit-notes/:id/pdf',
    create: async (context) => {
      const { id } = await invoice(true)(context);
      const note = await withTenant(context.db, context.tenant.id, (tx) => issueCreditNote(tx, context.tenant.id, id, { reason: 'x' }, systemActor));
      return { id: note.id };
    },
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(creditNotes).where(eq(creditNotes.id, id!))),
  },
  {
    route: 'PATCH /api/tax-rates/:id',
    create: async ({ db, tenant }) => {
      const [rate] = await withTenant(db, tenant.id, (tx) => tx.insert(taxRates).values({ tenantId: tenant.id, name: 'VAT', country: 'DE', rateBps: 1900 }).returning());
      return { id: rate!.id };
    },
    body: { active: false },
    snapshot: ({ db, tenant }, { id }) => withTenant(db, tenant.id, (tx) => tx.select().from(taxRates).where(eq(taxRates.id, id!))),
  },
  { route: 'GET /api/customers/:id/billing', create: async ({ db, tenant }) => ({ id: (await customerOf(db, tenant)).id }), snapshot: customerSnapshot },
  {
    route: 'PATCH /api/customers/:id/billing',
    create: async ({ db, tenant }) => ({ id: (await customerOf(db, tenant)).id }),
    body: { taxId: 'DE123456789', country: 'DE' },
    snapshot: customerSnapshot,
  },
];
