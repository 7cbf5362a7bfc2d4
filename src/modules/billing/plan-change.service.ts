import { and, asc, count, eq, isNull, ne } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { billingActions, customers, mailboxes, prices, products, subscriptions, type Invoice, type Job, type Product, type Subscription } from '../../db/schema/index.js';
import { withCustomer, withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import { AppError, conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import type { AuditActor } from '../audit/audit.service.js';
import { mailFeatures } from '../mail/steps/provision-mail.js';
import { changePlan } from '../subscriptions/subscription-state.js';
import { openRenewalInvoice } from './billing-run.js';
import { createDraftInvoice, issueInvoice, taxRateFor, voidInvoice } from './invoices.service.js';
import { invoiceTotals, lineAmounts } from './money.js';
import type { PendingPlanChangeCancelled, PlanChangeBody, PlanChangeOptions, PlanChangePreview, PlanChangeResult } from './plan-change.types.js';
import { periodEnd } from '../orders/order-intake.service.js';
import { prorationOf } from './proration.js';
import { facts, kindOf, planDependentJobs, planOf, type Plan, type PlanChangeDeps } from './plan-change-schedule.js';

export type { PlanChangeDeps };

/**
 * Plan changes (README "Billing" → "Plan changes"): one service, two doors — staff
 * (`/api/subscriptions/:id/plan-change`) and the customer (`/api/portal/services/:id/plan-change`)
 * call the same functions; the portal's scope adds the customer, so another customer's
 * subscription is 404 like another tenant's.
 *
 * - An upgrade (a higher price per interval) applies now: the proration invoice for the paid time
 *   left is issued (proration.ts), the new plan written through the state machine's
 *   `changePlan` (audited, `subscription.plan_changed` in the events outbox, same transaction)
 *   and the plan-dependent steps re-run through the jobs outbox.
 * - A downgrade, and any change of interval (monthly ↔ yearly, compared per year), is scheduled
 *   for paidThrough; the billing run applies it then
 *   (`applyDuePlanChanges`), and the renewal invoice of the period that starts then is priced at it
 *   (`renewalPriceOf`). It can be cancelled until it applies.
 * - The unpaid renewal invoice of the next period, already issued at the old price, is voided and
 *   issued again at the price in force for that period; a partly paid one makes the change 409.
 * - STRIPE-billed subscriptions are refused (409): Stripe owns their schedule.
 * Concurrent requests on one subscription queue on its row lock: the second sees the first's outcome.
 */

/** Who asks: staff (the tenant) or a customer (the tenant and the customer from the token). */
export interface PlanChangeScope {
  readonly tenantId: string;
  readonly customerId?: string | undefined;
}

const inScope = <T>(db: Database, scope: PlanChangeScope, fn: (tx: Tx) => Promise<T>): Promise<T> =>
  scope.customerId ? withCustomer(db, scope.tenantId, scope.customerId, fn) : withTenant(db, scope.tenantId, fn);

function planView({ price, product }: Plan) {
  return { priceId: price.id, productId: product.id, productName: product.name, amount: price.amount, currency: price.currency, interval: price.interval };
}

async function lockSubscription(tx: Tx, scope: PlanChangeScope, id: string, lock: boolean): Promise<Subscription> {
  const where = and(eq(subscriptions.id, id), scope.customerId ? eq(subscriptions.customerId, scope.customerId) : undefined);
  const [row] = lock ? await tx.select().from(subscriptions).where(where).for('update') : await tx.select().from(subscriptions).where(where);
  if (!row) throw notFound('Subscription');
  return row;
}

function refuseStripe(subscription: Subscription): void {
  if (subscription.billingMode === 'STRIPE') {
    throw new AppError('CONFLICT', 'This subscription is billed by Stripe, which owns its schedule and proration: change the plan in Stripe (mPanel follows its customer.subscription.updated event)', {
      fields: [{ field: 'billingMode', message: 'is STRIPE' }],
    });
  }
}

/** A mailbox limit of the plan (features.mailboxes), null when it has none. */
function mailboxLimit(product: Product): number | null {
  const features = mailFeatures.safeParse(product.features);
  return (features.success ? features.data.mailboxes : undefined) ?? null;
}

interface Quote {
  readonly subscription: Subscription;
  readonly current: Plan;
  readonly next: Plan;
  readonly preview: PlanChangePreview;
  readonly renewal: Invoice | undefined;
  readonly prorationLine: { description: string; unitAmount: number } | null;
}

/** Checks the request against the subscription and prices it, without writing anything. */
async function quote(tx: Tx, scope: PlanChangeScope, subscriptionId: string, body: PlanChangeBody, now: Date, lock: boolean): Promise<Quote> {
  const subscription = await lockSubscription(tx, scope, subscriptionId, lock);
  refuseStripe(subscription);
  if (subscription.status !== 'ACTIVE' && subscription.status !== 'PAST_DUE') {
    throw conflict(`A ${subscription.status} subscription's plan cannot change (only ACTIVE or PAST_DUE ones)`);
  }
  const paidThrough = subscription.paidThrough;
  if (!paidThrough) throw conflict('The subscription has no paid period yet, so there is nothing to prorate');
  const current = await planOf(tx, subscription.priceId);
  if (!current) throw new Error(`subscription ${subscription.id} has no price`);
  const next = await planOf(tx, body.priceId);
  const field = 'body/priceId';
  if (!next || !next.price.isActive || !next.product.isActive || next.product.deletedAt !== null || (scope.customerId !== undefined && !next.product.isPublic)) {
    throw validationFailed([{ field, message: 'is not an active price of this tenant' }]);
  }
  if (next.product.type !== current.product.type) throw validationFailed([{ field, message: `is a ${next.product.type} plan; this subscription is ${current.product.type}` }]);
  if (current.price.interval === 'ONE_TIME') throw conflict('A one-time purchase has no plan to change');
  if (next.price.interval === 'ONE_TIME') throw validationFailed([{ field, message: 'is a one-time price; the subscription renews' }]);
  if (next.price.currency !== current.price.currency) throw validationFailed([{ field, message: `is in ${next.price.currency}; the subscription is billed in ${current.price.currency}` }]);
  if (next.price.id === current.price.id) throw conflict('The subscription is already on this plan', [{ field, message: 'is the current price' }]);
  if (subscription.pendingPriceId) {
    throw conflict(`A change to another plan is already scheduled for ${subscription.pendingPlanChangeAt?.toISOString() ?? 'the period end'}: cancel it first (DELETE .../plan-change)`);
  }

  const [used] = await tx.select({ n: count() }).from(mailboxes).where(and(eq(mailboxes.subscriptionId, subscription.id), ne(mailboxes.status, 'DELETED')));
  const mailboxesUsed = used?.n ?? 0;
  const allowed = mailboxLimit(next.product);
  if (allowed !== null && mailboxesUsed > allowed) {
    throw conflict(`The subscription has ${mailboxesUsed} mailboxes and ${next.product.name} allows ${allowed}: delete ${mailboxesUsed - allowed} first`, [
      { field, message: `allows ${allowed} mailboxes; ${mailboxesUsed} are in use` },
    ]);
  }

  const kind = kindOf(current, next);
  const interval = current.price.interval;
  // A change of interval takes effect when the paid period ends, whatever it costs: the period
  // paid for is neither cut short nor prorated, and the next one is the new interval's.
  const atPeriodEnd = kind === 'downgrade' || next.price.interval !== interval;
  const renewal = await openRenewalInvoice(tx, subscription);
  if (renewal && renewal.status !== 'ISSUED' && renewal.status !== 'DRAFT') throw conflict(`The renewal invoice of the next period is ${renewal.status}`);
  if (renewal && renewal.amountPaid > 0) {
    throw conflict(`The renewal invoice ${renewal.number ?? renewal.id} of the next period is partly paid (${renewal.amountPaid} of ${renewal.total}): settle or credit it before changing the plan`);
  }

  let proration: PlanChangePreview['proration'] = null;
  let prorationLine: Quote['prorationLine'] = null;
  if (kind === 'upgrade' && !atPeriodEnd) {
    const result = prorationOf(current.price.amount, next.price.amount, paidThrough, interval, now);
    if (result.amount > 0) {
      const [customer] = await tx.select({ country: customers.country }).from(customers).where(eq(customers.id, subscription.customerId));
      const rate = await taxRateFor(tx, customer?.country ?? null);
      const description = `${current.product.name} → ${next.product.name}: ${now.toISOString().slice(0, 10)} to ${paidThrough.toISOString().slice(0, 10)} (${result.remainingSeconds} of ${result.periodSeconds} s)`;
      const amounts = lineAmounts({ quantity: 1, unitAmount: result.amount, rateBps: rate?.rateBps ?? 0, inclusive: rate?.inclusive ?? false });
      const totals = invoiceTotals([amounts]);
      prorationLine = { description, unitAmount: result.amount };
      proration = {
        periodStart: now,
        periodEnd: paidThrough,
        remainingSeconds: result.remainingSeconds,
        periodSeconds: result.periodSeconds,
        currency: next.price.currency,
        lines: [{ description, unitAmount: result.amount, ...amounts }],
        ...totals,
      };
    }
  }
  const effectiveAt = atPeriodEnd ? paidThrough : now;
  const renewalPrice = next.price.amount;
  const preview: PlanChangePreview = {
    subscriptionId: subscription.id,
    kind,
    effective: atPeriodEnd ? 'period_end' : 'now',
    effectiveAt,
    current: planView(current),
    next: planView(next),
    paidThrough,
    proration,
    renewalInvoice: renewal ? { id: renewal.id, number: renewal.number, total: renewal.total, replacementAmount: renewalPrice } : null,
    mailboxes: { used: mailboxesUsed, allowed },
  };
  return { subscription, current, next, preview, renewal, prorationLine };
}

/**
 * The unpaid renewal invoice of the next period is issued again at `plan`'s price: the old one
 * voided (audited, `invoice.voided`), a new RENEWAL for the same period and due date issued, and
 * the billing run's ledger row pointed at it.
 */
async function reissueRenewal(tx: Tx, tenantId: string, subscription: Subscription, renewal: Invoice, plan: Plan, actor: AuditActor, reason: string, now: Date): Promise<Invoice> {
  await voidInvoice(tx, tenantId, renewal.id, reason, actor, now);
  const start = renewal.periodStart ?? subscription.paidThrough ?? now;
  // The plan's interval gives the period: a change of interval bills the new one.
  const end = periodEnd(start, plan.price.interval) ?? renewal.periodEnd ?? start;
  const draft = await createDraftInvoice(
    tx,
    tenantId,
    {
      customerId: subscription.customerId,
      subscriptionId: subscription.id,
      currency: plan.price.currency,
      kind: 'RENEWAL',
      periodStart: start,
      periodEnd: end,
      dueAt: renewal.dueAt,
      lines: [{ description: `${plan.product.name}: ${start.toISOString().slice(0, 10)} to ${end.toISOString().slice(0, 10)}`, quantity: 1, unitAmount: plan.price.amount }],
    },
    actor,
  );
  const issued = await issueInvoice(tx, tenantId, draft.id, actor, now);
  await tx.update(billingActions).set({ invoiceId: issued.id }).where(and(eq(billingActions.subscriptionId, subscription.id), eq(billingActions.invoiceId, renewal.id)));
  return issued;
}

/**
 * GET .../plan-change: the current plan, the change scheduled (if any) and the plans the service may
 * move to — the prices `quote` would take: active, recurring, of an active product of the same type,
 * in the same currency, public for a customer. Nothing is checked beyond that (mailbox counts,
 * renewal invoices): the preview says why a given plan is refused.
 */
export async function listPlanChangeOptions(db: Database, scope: PlanChangeScope, subscriptionId: string): Promise<PlanChangeOptions> {
  return inScope(db, scope, async (tx) => {
    const subscription = await lockSubscription(tx, scope, subscriptionId, false);
    const current = await planOf(tx, subscription.priceId);
    if (!current) throw new Error(`subscription ${subscription.id} has no price`);
    const pending = subscription.pendingPriceId ? await planOf(tx, subscription.pendingPriceId) : undefined;
    const rows = await tx
      .select({ price: prices, product: products })
      .from(prices)
      .innerJoin(products, eq(products.id, prices.productId))
      .where(
        and(
          eq(prices.tenantId, scope.tenantId),
          eq(prices.isActive, true),
          ne(prices.interval, 'ONE_TIME'),
          eq(prices.currency, current.price.currency),
          ne(prices.id, current.price.id),
          eq(products.isActive, true),
          isNull(products.deletedAt),
          eq(products.type, current.product.type),
          scope.customerId !== undefined ? eq(products.isPublic, true) : undefined,
        ),
      )
      .orderBy(asc(products.name), asc(prices.amount), asc(prices.id));
    return {
      subscriptionId: subscription.id,
      billingMode: subscription.billingMode,
      current: planView(current),
      paidThrough: subscription.paidThrough,
      pending: pending && subscription.pendingPlanChangeAt ? { plan: planView(pending), at: subscription.pendingPlanChangeAt } : null,
      plans: rows.map(planView),
    };
  });
}

/** POST .../plan-change/preview: what the change would do, checked exactly as the change is; nothing written. */
export async function previewPlanChange(db: Database, scope: PlanChangeScope, subscriptionId: string, body: PlanChangeBody, now = new Date()): Promise<PlanChangePreview> {
  return inScope(db, scope, async (tx) => (await quote(tx, scope, subscriptionId, body, now, false)).preview);
}

/** POST .../plan-change: an upgrade now (prorated invoice), a downgrade scheduled for paidThrough. */
export async function requestPlanChange(deps: PlanChangeDeps, scope: PlanChangeScope, subscriptionId: string, body: PlanChangeBody, actor: AuditActor, now = new Date()): Promise<PlanChangeResult> {
  const { result, ready } = await inScope(deps.db, scope, async (tx) => {
    const { subscription, current, next, preview, renewal, prorationLine } = await quote(tx, scope, subscriptionId, body, now, true);
    const { tenantId } = scope;
    const reason = `plan change from ${current.product.name} (${current.price.amount} ${current.price.currency}) to ${next.product.name} (${next.price.amount} ${next.price.currency}), ${preview.kind}`;
    let invoice: Invoice | null = null;
    let ready: Job[] = [];
    if (prorationLine && preview.proration) {
      const draft = await createDraftInvoice(
        tx,
        tenantId,
        {
          customerId: subscription.customerId,
          subscriptionId: subscription.id,
          currency: next.price.currency,
          kind: 'PRORATION',
          periodStart: preview.proration.periodStart,
          periodEnd: preview.proration.periodEnd,
          lines: [{ description: prorationLine.description, quantity: 1, unitAmount: prorationLine.unitAmount }],
          memo: reason,
        },
        actor,
      );
      invoice = await issueInvoice(tx, tenantId, draft.id, actor, now);
    }
    if (renewal) await reissueRenewal(tx, tenantId, subscription, renewal, next, actor, `replaced at the price of the plan in force for that period (${next.product.name})`, now);
    const cause = { actor, reason, ...(invoice ? { invoiceId: invoice.id } : {}) };
    const after =
      preview.effective === 'period_end'
        ? await changePlan(tx, { tenantId, subscriptionId: subscription.id }, { kind: 'schedule', priceId: next.price.id, at: preview.effectiveAt }, cause)
        : await changePlan(tx, { tenantId, subscriptionId: subscription.id }, { kind: 'apply', facts: facts(current, next, preview.kind, invoice?.id ?? null, now) }, cause);
    if (preview.effective === 'now') ready = await planDependentJobs(tx, tenantId, subscription.id, current.product, deps.maxAttempts);
    const result: PlanChangeResult = {
      ...preview,
      subscription: { id: after.id, priceId: after.priceId, productId: after.productId, pendingPriceId: after.pendingPriceId, pendingPlanChangeAt: after.pendingPlanChangeAt },
      invoice: invoice ? { id: invoice.id, number: invoice.number, status: invoice.status, total: invoice.total, currency: invoice.currency } : null,
      jobs: ready.map((job) => ({ id: job.id, type: job.type, status: job.status })),
    };
    return { result, ready };
  });
  if (ready.length > 0) await enqueue(deps.db, deps.producer, deps.logger, ready);
  return result;
}

/** DELETE .../plan-change: withdraws a scheduled downgrade (the renewal invoice billed at it, if unpaid, is issued again at the current price). */
export async function cancelPlanChange(db: Database, scope: PlanChangeScope, subscriptionId: string, actor: AuditActor, now = new Date()): Promise<PendingPlanChangeCancelled> {
  return inScope(db, scope, async (tx) => {
    const subscription = await lockSubscription(tx, scope, subscriptionId, true);
    refuseStripe(subscription);
    const pendingPriceId = subscription.pendingPriceId;
    if (!pendingPriceId) throw conflict('No plan change is scheduled for this subscription');
    const current = await planOf(tx, subscription.priceId);
    if (!current) throw new Error(`subscription ${subscription.id} has no price`);
    const renewal = await openRenewalInvoice(tx, subscription);
    if (renewal && renewal.amountPaid > 0) {
      throw conflict(`The renewal invoice ${renewal.number ?? renewal.id} billed at the scheduled plan is partly paid: settle or credit it before cancelling the change`);
    }
    const reissued = renewal ? await reissueRenewal(tx, scope.tenantId, subscription, renewal, current, actor, `the scheduled plan change was cancelled: billed at ${current.product.name} again`, now) : null;
    await changePlan(tx, { tenantId: scope.tenantId, subscriptionId: subscription.id }, { kind: 'unschedule' }, { actor, reason: `scheduled plan change to price ${pendingPriceId} cancelled` });
    return { subscriptionId: subscription.id, cancelledPriceId: pendingPriceId, priceId: subscription.priceId, renewalInvoice: reissued ? { id: reissued.id, number: reissued.number, total: reissued.total } : null };
  });
}

