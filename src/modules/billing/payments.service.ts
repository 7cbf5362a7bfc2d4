import { createHash } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { invoices, payments, subscriptions, type Invoice, type Job, type Payment, type PaymentSource } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import type { JobProducer } from '../../jobs/queue.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { AppError, conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import { findPgError } from '../../shared/errors/pg-errors.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { resolvePublicTenant } from '../tenants/tenant-resolution.js';
import { createLifecycleJob } from '../subscriptions/lifecycle.service.js';
import { transition } from '../subscriptions/subscription-state.js';
import { invoiceEvent, recordBillingEvent } from './billing-events.js';
import type { PaymentView, PaymentWebhookBody, StaffPaymentBody } from './billing.types.js';

export interface PaymentDeps {
  db: Database;
  producer: JobProducer;
  logger: Logger;
  maxAttempts: number;
}

export interface PaymentInput {
  readonly invoiceId: string;
  readonly source: PaymentSource;
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  readonly receivedAt: Date;
  readonly requestHash: string;
  readonly recordedBy?: string | null;
}

interface Applied {
  readonly created: boolean;
  readonly view: PaymentView;
  /** Lifecycle jobs to hand to the queue after commit (the unsuspension a payment brings). */
  readonly jobs: Job[];
}

const PAYMENT_UNIQUE = 'payments_tenant_source_reference_unique';

async function replayOf(tx: Tx, input: PaymentInput): Promise<PaymentView | undefined> {
  const [earlier] = await tx.select().from(payments).where(and(eq(payments.source, input.source), eq(payments.reference, input.reference)));
  if (!earlier) return undefined;
  if (earlier.requestHash !== input.requestHash) {
    throw conflict('This payment reference was already used for a different payment', [{ field: 'body/reference', message: 'is already used by another payment' }]);
  }
  return paymentView(tx, earlier);
}

async function paymentView(tx: Tx, payment: Payment): Promise<PaymentView> {
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, payment.invoiceId));
  if (!invoice) throw new Error(`payment ${payment.id} has no invoice`);
  const [subscription] = invoice.subscriptionId ? await tx.select({ paidThrough: subscriptions.paidThrough }).from(subscriptions).where(eq(subscriptions.id, invoice.subscriptionId)) : [];
  return {
    id: payment.id,
    invoiceId: payment.invoiceId,
    source: payment.source,
    reference: payment.reference,
    amount: payment.amount,
    currency: payment.currency,
    receivedAt: payment.receivedAt,
    invoiceStatus: invoice.status,
    subscriptionPaidThrough: subscription?.paidThrough ?? null,
  };
}

/**
 * Money received against an mPanel invoice, in the caller's transaction; idempotent on
 * (source, reference): a replay creates nothing and answers the same. The invoice row is locked,
 * so concurrent deliveries queue. When the invoice becomes PAID:
 * - a renewal (or first) invoice extends its subscription's paidThrough to the end of the period it
 *   bills — exactly one interval, once per invoice (`paid_through_applied_at`, which the database
 *   lets be set once), whatever the number of deliveries or who else extended it;
 * - the subscription, if nothing else is overdue, recovers: PAST_DUE → ACTIVE, and a NON_PAYMENT
 *   suspension is lifted through the UNSUSPEND_SITE job (any other suspension stays).
 */
export async function applyPayment(tx: Tx, tenantId: string, input: PaymentInput, actor: AuditActor, maxAttempts: number, now = new Date()): Promise<Applied> {
  const replay = await replayOf(tx, input);
  if (replay) return { created: false, view: replay, jobs: [] };
  const [invoice] = await tx.select().from(invoices).where(eq(invoices.id, input.invoiceId)).for('update');
  if (!invoice) throw notFound('Invoice');
  // A concurrent delivery of this payment may have committed while this one waited for the lock.
  const lateReplay = await replayOf(tx, input);
  if (lateReplay) return { created: false, view: lateReplay, jobs: [] };
  if (invoice.billingMode !== 'MPANEL') throw conflict('A Stripe invoice is paid in Stripe: its payments arrive as Stripe events');
  if (invoice.status !== 'ISSUED') throw conflict(`A ${invoice.status} invoice cannot take a payment`);
  if (input.currency !== invoice.currency) throw validationFailed([{ field: 'body/currency', message: `must be ${invoice.currency}` }]);

  const [payment] = await tx
    .insert(payments)
    .values({ tenantId, invoiceId: invoice.id, source: input.source, reference: input.reference, amount: input.amount, currency: input.currency, requestHash: input.requestHash, recordedBy: input.recordedBy ?? null, receivedAt: input.receivedAt })
    .returning();
  if (!payment) throw new Error('insert into payments returned no row');
  const amountPaid = invoice.amountPaid + input.amount;
  const paid = amountPaid >= invoice.total;
  const [updated] = await tx
    .update(invoices)
    .set({ amountPaid, ...(paid ? { status: 'PAID' as const, paidAt: input.receivedAt } : {}) })
    .where(eq(invoices.id, invoice.id))
    .returning();
  if (!updated) throw new Error(`invoice ${invoice.id} vanished`);
  await recordAudit(tx, {
    tenantId,
    actor,
    action: 'payment.recorded',
    targetType: 'invoice',
    targetId: invoice.id,
    after: { paymentId: payment.id, source: input.source, reference: input.reference, amount: input.amount, amountPaid },
  });
  const jobs: Job[] = [];
  if (paid) {
    await recordAudit(tx, { tenantId, actor, action: 'invoice.paid', targetType: 'invoice', targetId: invoice.id, before: { status: 'ISSUED' }, after: { status: 'PAID' } });
    await recordBillingEvent(tx, tenantId, invoiceEvent('invoice.paid', updated));
    if (invoice.subscriptionId) {
      await extendPaidThrough(tx, updated, now);
      jobs.push(...(await settleSubscription(tx, tenantId, invoice.subscriptionId, { actor, invoiceId: invoice.id, reason: `invoice ${invoice.number ?? invoice.id} paid` }, maxAttempts, now)));
    }
  }
  return { created: true, view: await paymentView(tx, payment), jobs };
}

/** paidThrough = max(paidThrough, the invoice's period end), once per invoice. */
export async function extendPaidThrough(tx: Tx, invoice: Invoice, now: Date): Promise<void> {
  if (!invoice.subscriptionId || !invoice.periodEnd || invoice.paidThroughAppliedAt) return;
  if (invoice.kind !== 'RENEWAL' && invoice.kind !== 'INITIAL') return;
  await tx
    .update(subscriptions)
    .set({ paidThrough: sql`greatest(coalesce(${subscriptions.paidThrough}, ${invoice.periodEnd}), ${invoice.periodEnd})` })
    .where(eq(subscriptions.id, invoice.subscriptionId));
  await tx.update(invoices).set({ paidThroughAppliedAt: now }).where(eq(invoices.id, invoice.id));
}

/**
 * After a payment: when the subscription has no other overdue invoice, PAST_DUE → ACTIVE, and a
 * NON_PAYMENT suspension is lifted through the lifecycle jobs (returned, to enqueue after
 * commit). Another subscription of the customer is never touched.
 */
export async function settleSubscription(
  tx: Tx,
  tenantId: string,
  subscriptionId: string,
  cause: { actor: AuditActor; invoiceId?: string; paymentEventId?: string; reason: string },
  maxAttempts: number,
  now: Date,
): Promise<Job[]> {
  const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId)).for('update');
  if (!subscription) return [];
  const [overdue] = await tx
    .select({ id: invoices.id })
    .from(invoices)
    .where(and(eq(invoices.subscriptionId, subscriptionId), eq(invoices.status, 'ISSUED'), lt(invoices.dueAt, now)))
    .limit(1);
  if (overdue) return [];
  if (subscription.status === 'PAST_DUE') {
    await transition(tx, { tenantId, subscriptionId }, 'recovered', { ...cause, rule: 'payment.received' });
    return [];
  }
  if (subscription.status === 'SUSPENDED' && subscription.suspensionReason === 'NON_PAYMENT') {
    try {
      return (await createLifecycleJob(tx, tenantId, subscriptionId, 'unsuspend', cause.actor, cause.reason, maxAttempts)).ready;
    } catch (error) {
      // A lifecycle job already in progress (e.g. the suspension itself): the scheduler retries on its next run.
      if (error instanceof AppError && error.code === 'CONFLICT') return [];
      throw error;
    }
  }
  return [];
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

async function runPayment(deps: PaymentDeps, tenantId: string, input: PaymentInput, actor: AuditActor): Promise<{ created: boolean; view: PaymentView }> {
  let applied: Applied;
  try {
    applied = await withTenant(deps.db, tenantId, (tx) => applyPayment(tx, tenantId, input, actor, deps.maxAttempts));
  } catch (error) {
    // A concurrent delivery of the same payment committed first: answer as its replay.
    if (findPgError(error)?.constraint !== PAYMENT_UNIQUE) throw error;
    const replay = await withTenant(deps.db, tenantId, (tx) => replayOf(tx, input));
    if (!replay) throw error;
    applied = { created: false, view: replay, jobs: [] };
  }
  if (applied.jobs.length > 0) await enqueue(deps.db, deps.producer, deps.logger, applied.jobs);
  return { created: applied.created, view: applied.view };
}

/** POST /api/invoices/:id/payments: a bank transfer or cash, recorded by staff. */
export async function recordStaffPayment(deps: PaymentDeps, tenantId: string, invoiceId: string, body: StaffPaymentBody, actor: AuditActor) {
  const input: PaymentInput = {
    invoiceId,
    source: 'STAFF',
    reference: body.reference,
    amount: body.amount,
    currency: body.currency,
    receivedAt: body.receivedAt ? new Date(body.receivedAt) : new Date(),
    requestHash: hashOf({ invoiceId, amount: body.amount, currency: body.currency, reference: body.reference }),
    recordedBy: actor.userId ?? null,
  };
  return runPayment(deps, tenantId, input, actor);
}

/** POST /api/payments: a payment the payment site signed (X-Mpanel-Signature), naming the invoice. */
export async function receivePaymentWebhook(deps: PaymentDeps, body: PaymentWebhookBody, actor: AuditActor) {
  const tenant = await resolvePublicTenant(deps.db, body.tenant, 'body/tenant');
  const input: PaymentInput = {
    invoiceId: body.invoiceId,
    source: 'WEBHOOK',
    reference: body.reference,
    amount: body.amount,
    currency: body.currency,
    receivedAt: body.paidAt ? new Date(body.paidAt) : new Date(),
    requestHash: hashOf({ ...body, tenant: tenant.id }),
  };
  return runPayment(deps, tenant.id, input, actor);
}
