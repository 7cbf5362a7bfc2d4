import { and, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { billingSettings, customers, taxRates, type TaxRate } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { notFound } from '../../shared/errors/app-error.js';
import { findPgError } from '../../shared/errors/pg-errors.js';
import { conflict, validationFailed } from '../../shared/errors/app-error.js';
import { dunningProblems } from './dunning-policy.js';
import type { AuthContext } from '../auth/auth-context.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { listPage } from '../list-page.js';
import type {
  BillingSettingsBody,
  BillingSettingsView,
  CustomerBillingBody,
  CustomerBillingView,
  ListTaxRatesQuery,
  TaxRateBody,
  TaxRatePatch,
  TaxRateView,
} from './billing.types.js';
import { settingsOf } from './invoices.service.js';

type Auth = Pick<AuthContext, 'tenantId'>;

function settingsView(row: Awaited<ReturnType<typeof settingsOf>>): BillingSettingsView {
  return {
    sellerName: row.sellerName,
    sellerAddress: row.sellerAddress,
    sellerTaxId: row.sellerTaxId,
    invoiceNumberFormat: row.invoiceNumberFormat,
    creditNoteNumberFormat: row.creditNoteNumberFormat,
    renewalLeadDays: row.renewalLeadDays,
    paymentTermsDays: row.paymentTermsDays,
    reminderDays: row.reminderDays,
    overdueNoticeDays: row.overdueNoticeDays,
    suspendAfterDays: row.suspendAfterDays,
    terminationEnabled: row.terminationEnabled,
    terminateAfterDays: row.terminateAfterDays,
    terminationWarningDays: row.terminationWarningDays,
    cancellationRetentionDays: row.cancellationRetentionDays,
  };
}

export async function getBillingSettings(db: Database, auth: Auth): Promise<BillingSettingsView> {
  return withTenant(db, auth.tenantId, async (tx) => settingsView(await settingsOf(tx, auth.tenantId)));
}

/** Changes apply to documents issued from now on: issued ones keep what they were issued with. */
export async function updateBillingSettings(db: Database, auth: Auth, body: BillingSettingsBody, actor: AuditActor): Promise<BillingSettingsView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const before = settingsView(await settingsOf(tx, auth.tenantId));
    const problems = dunningProblems({ ...before, ...body }, 'body');
    if (problems.length > 0) throw validationFailed(problems);
    const [row] = await tx
      .insert(billingSettings)
      .values({ tenantId: auth.tenantId, ...body })
      .onConflictDoUpdate({ target: billingSettings.tenantId, set: { ...body, updatedAt: new Date() } })
      .returning();
    if (!row) throw new Error('billing settings upsert returned no row');
    const after = settingsView(row);
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'billing_settings.updated', targetType: 'billing_settings', targetId: auth.tenantId, before, after });
    return after;
  });
}

function taxRateView(rate: TaxRate): TaxRateView {
  return { id: rate.id, name: rate.name, country: rate.country, rateBps: rate.rateBps, inclusive: rate.inclusive, active: rate.active, createdAt: rate.createdAt, updatedAt: rate.updatedAt };
}

export async function listTaxRates(db: Database, auth: Auth, query: ListTaxRatesQuery) {
  return listPage(db, auth.tenantId, query, {
    table: taxRates,
    filters: [query.active === undefined ? undefined : eq(taxRates.active, query.active === 'true')],
    rows: (tx, q) => tx.select().from(taxRates).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: taxRateView,
  });
}

const ACTIVE_COUNTRY_UNIQUE = 'tax_rates_active_country_unique';
const countryTaken = () => conflict('An active tax rate already exists for this country: deactivate it first', [{ field: 'body/country', message: 'already has an active rate' }]);

export async function createTaxRate(db: Database, auth: Auth, body: TaxRateBody, actor: AuditActor): Promise<TaxRateView> {
  try {
    return await withTenant(db, auth.tenantId, async (tx) => {
      const [rate] = await tx.insert(taxRates).values({ tenantId: auth.tenantId, ...body }).returning();
      if (!rate) throw new Error('insert into tax_rates returned no row');
      await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'tax_rate.created', targetType: 'tax_rate', targetId: rate.id, after: { ...body } });
      return taxRateView(rate);
    });
  } catch (error) {
    if (findPgError(error)?.constraint === ACTIVE_COUNTRY_UNIQUE) throw countryTaken();
    throw error;
  }
}

/** Name or active flag only: the rate and the country of a rate that may be in use never change. */
export async function updateTaxRate(db: Database, auth: Auth, id: string, body: TaxRatePatch, actor: AuditActor): Promise<TaxRateView> {
  try {
    return await withTenant(db, auth.tenantId, async (tx) => {
      const [before] = await tx.select().from(taxRates).where(eq(taxRates.id, id)).for('update');
      if (!before) throw notFound('Tax rate');
      const [rate] = await tx.update(taxRates).set(body).where(eq(taxRates.id, id)).returning();
      if (!rate) throw notFound('Tax rate');
      await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'tax_rate.updated', targetType: 'tax_rate', targetId: id, before: { name: before.name, active: before.active }, after: { ...body } });
      return taxRateView(rate);
    });
  } catch (error) {
    if (findPgError(error)?.constraint === ACTIVE_COUNTRY_UNIQUE) throw countryTaken();
    throw error;
  }
}

/** A customer's tax id, country and billing address: copied onto each invoice at its issue. */
export async function updateCustomerBilling(db: Database, auth: Auth, customerId: string, body: CustomerBillingBody, actor: AuditActor): Promise<CustomerBillingView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [before] = await tx.select().from(customers).where(and(eq(customers.id, customerId), isNull(customers.deletedAt))).for('update');
    if (!before) throw notFound('Customer');
    const [row] = await tx.update(customers).set(body).where(eq(customers.id, customerId)).returning();
    if (!row) throw notFound('Customer');
    await recordAudit(tx, {
      tenantId: auth.tenantId,
      actor,
      action: 'customer.billing_updated',
      targetType: 'customer',
      targetId: customerId,
      before: { taxId: before.taxId, country: before.country, billingAddress: before.billingAddress },
      after: { ...body },
    });
    return { customerId, taxId: row.taxId, country: row.country, billingAddress: row.billingAddress };
  });
}

export async function getCustomerBilling(db: Database, auth: Auth, customerId: string): Promise<CustomerBillingView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const [row] = await tx.select().from(customers).where(and(eq(customers.id, customerId), isNull(customers.deletedAt)));
    if (!row) throw notFound('Customer');
    return { customerId, taxId: row.taxId, country: row.country, billingAddress: row.billingAddress };
  });
}
