import { and, asc, desc, eq, gt, inArray, isNull, lt, lte, ne, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import {
  billingActions,
  billingRuns,
  billingSettings,
  customers,
  invoices,
  prices,
  products,
  subscriptions,
  type BillingRun,
  type Invoice,
  type Job,
  type Price,
  type Subscription,
} from '../../db/schema/index.js';
import { BILLING_SCAN_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import type { JobProducer } from '../../jobs/queue.js';
import { AppError } from '../../shared/errors/app-error.js';
import { recordAudit, recordAudits, systemActor, type AuditActor, type AuditEntry } from '../audit/audit.service.js';
import type { DomainEvent } from '../events/domain-events.js';
import { periodEnd } from '../orders/order-intake.service.js';
import { createLifecycleJob } from '../subscriptions/lifecycle.service.js';
import { transition } from '../subscriptions/subscription-state.js';
import { invoiceEvent, overdueEvent, recordBillingEvent, recordBillingEvents, terminationWarningEvent } from './billing-events.js';
import { layerColumns, layersOf, type LayerRow } from './dunning-overrides.js';
import { defaultDunningSettings, dueSteps, renewalDueAt, resolveDunning, timeline, type DunningSettings, type PolicyInvoice, type PolicySubscription, type Step, type StepAction } from './dunning-policy.js';
import { issueInvoices, settingsOf, type DraftInput } from './invoices.service.js';
import { settleSubscription } from './payments.service.js';
import { applyDuePlanChanges, renewalPriceOf, type RenewalPrice } from './plan-change-schedule.js';
import { runStripeDunning } from './stripe-dunning.js';

/**
 * The billing run: one pass over every subscription mPanel bills, acting on what the dunning
 * policy (dunning-policy.ts) says is due at `asOf` — renewal invoices, reminders, PAST_DUE,
 * overdue notices, NON_PAYMENT suspension, termination, cancellation at period end, and the
 * recovery of a subscription paid again.
 *
 * Safe to run twice at once and to kill at any point: a batch of a tenant's subscriptions is
 * handled in one transaction of its tenant, with their rows locked (a second run waits, then finds
 * the work done; renewals and notices of the batch are written together, see actOnBatch);
 * a notice and the renewal are written to the `billing_actions` ledger (unique per subscription
 * and key) in the transaction that records their domain event; state changes go through the
 * state machine (subscription-state.ts) or its lifecycle jobs, which refuse what already happened.
 * A run that dies leaves committed subscriptions done and the rest for the next run.
 *
 * The scan across tenants reads through the `billing_scan` policies (db/schema/rls.ts): ids of
 * MPANEL-billed live subscriptions, and each tenant's lead time; everything else happens under the
 * tenant policy.
 */

export interface BillingRunDeps {
  readonly db: Database;
  readonly producer: JobProducer;
  readonly logger: Logger;
  readonly maxAttempts: number;
}

export interface BillingRunOptions {
  /** The clock: the run acts as if it were this instant (injectable; the CLI's --as-of). */
  readonly asOf: Date;
  readonly tenantId?: string | undefined;
  /** Plan only: nothing is written, nothing is enqueued. */
  readonly dryRun?: boolean | undefined;
  readonly trigger: 'scheduler' | 'cli' | 'test';
  readonly onProgress?: ((done: number, total: number) => void) | undefined;
  /** Subscriptions read per scan page. */
  readonly pageSize?: number | undefined;
  /** Tenants handled at once (each by batches of its subscriptions, one transaction per batch). */
  readonly concurrency?: number | undefined;
  /** The most subscriptions handled in one transaction (each in a savepoint of its own). */
  readonly batchSize?: number | undefined;
}

export interface PlannedAction {
  readonly tenantId: string;
  readonly subscriptionId: string;
  readonly action: StepAction;
  readonly at: Date;
  readonly outcome: 'DONE' | 'SKIPPED' | 'DEFERRED';
  readonly rule: string;
  readonly invoiceId?: string | undefined;
  readonly detail?: string | undefined;
}

export interface BillingRunReport {
  readonly runId: string | null;
  readonly asOf: Date;
  readonly dryRun: boolean;
  readonly subscriptions: number;
  readonly actions: readonly PlannedAction[];
  readonly counts: Readonly<Record<string, number>>;
  readonly errors: number;
}

const DEFAULT_PAGE = 500;
const DEFAULT_CONCURRENCY = 4;
/** Subscriptions per transaction: each tenant's first batch is one, then it doubles up to this. */
const DEFAULT_BATCH = 50;
/** A run still RUNNING after this long was killed: the next run marks it so. */
const ABANDONED_AFTER_MS = 6 * 3_600_000;
/** billing_next_at when the policy has nothing left to do (until the row, an invoice or the settings change). */
const NOTHING_SCHEDULED = new Date('9999-12-31T00:00:00Z');

/**
 * What the scan looks at: MPANEL-billed live subscriptions whose next action is due at `asOf`
 * (billing_next_at, index-backed: a run where nothing is due reads next to nothing). Where it is
 * not known (NULL: never looked at since the column exists, or changed since), the earlier rule:
 * not ACTIVE (dunning, recovery), or the tenant's renewal lead time has begun.
 */
function scanWhere(asOf: Date, tenantId: string | undefined) {
  return and(
    eq(subscriptions.billingMode, 'MPANEL'),
    inArray(subscriptions.status, ['ACTIVE', 'PAST_DUE', 'SUSPENDED']),
    sql`${subscriptions.paidThrough} is not null`,
    or(
      lte(subscriptions.billingNextAt, asOf),
      and(
        isNull(subscriptions.billingNextAt),
        or(
          ne(subscriptions.status, 'ACTIVE'),
          sql`${subscriptions.paidThrough} <= ${asOf.toISOString()}::timestamptz + coalesce(${billingSettings.renewalLeadDays}, ${defaultDunningSettings.renewalLeadDays}) * interval '1 day'`,
        ),
      ),
    ),
    tenantId ? eq(subscriptions.tenantId, tenantId) : undefined,
  );
}

/** The scan, under the billing_scan policies (db/schema/rls.ts): the one read across tenants. */
async function scanning<T>(db: Database, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${BILLING_SCAN_SETTING}, 'on', true)`);
    return fn(tx);
  });
}

/** The tenants with something due, and how many subscriptions each. */
async function dueTenants(db: Database, asOf: Date, tenantId: string | undefined): Promise<{ tenantId: string; count: number }[]> {
  return scanning(db, (tx) =>
    tx
      .select({ tenantId: subscriptions.tenantId, count: sql<number>`count(*)::int` })
      .from(subscriptions)
      .leftJoin(billingSettings, eq(billingSettings.tenantId, subscriptions.tenantId))
      .where(scanWhere(asOf, tenantId))
      .groupBy(subscriptions.tenantId)
      .orderBy(asc(subscriptions.tenantId)),
  );
}

/** One page of one tenant's due subscriptions, in id order. */
async function scanPage(db: Database, asOf: Date, tenantId: string, afterId: string | undefined, limit: number): Promise<string[]> {
  const rows = await scanning(db, (tx) =>
    tx
      .select({ id: subscriptions.id })
      .from(subscriptions)
      .leftJoin(billingSettings, eq(billingSettings.tenantId, subscriptions.tenantId))
      .where(and(scanWhere(asOf, tenantId), afterId ? gt(subscriptions.id, afterId) : undefined))
      .orderBy(asc(subscriptions.id))
      .limit(limit),
  );
  return rows.map((row) => row.id);
}

/** The live renewal invoice of the period that starts at paidThrough, if any. */
export async function openRenewalInvoice(tx: Tx, subscription: Pick<Subscription, 'id' | 'paidThrough'>): Promise<Invoice | undefined> {
  if (!subscription.paidThrough) return undefined;
  const [invoice] = await tx
    .select()
    .from(invoices)
    .where(
      and(
        eq(invoices.subscriptionId, subscription.id),
        inArray(invoices.kind, ['RENEWAL', 'INITIAL']),
        ne(invoices.status, 'VOID'),
        eq(invoices.periodStart, subscription.paidThrough),
      ),
    )
    .orderBy(desc(invoices.createdAt))
    .limit(1);
  return invoice;
}

function policyInvoice(invoice: Invoice | undefined): PolicyInvoice | null {
  return invoice ? { id: invoice.id, status: invoice.status, dueAt: invoice.dueAt, issuedAt: invoice.issuedAt } : null;
}

const priceColumns = { id: prices.id, interval: prices.interval, amount: prices.amount, currency: prices.currency, productName: products.name };
/** A subscription's price as the run needs it, with its product's and customer's dunning overrides. */
interface PriceOf extends LayerRow {
  readonly id: string;
  readonly interval: Price['interval'];
  readonly amount: number;
  readonly currency: string;
  readonly productName: string;
}
/** Selected from prices joined to products and customers (the subscription's). */
const policyColumns = { ...priceColumns, ...layerColumns };

/** The subscription as the policy sees it, and its dunning settings (tenant < product < customer < subscription). */
export async function policyInputs(tx: Tx, tenantId: string, subscription: Subscription, tenantSettings?: DunningSettings) {
  const [price] = await tx
    .select(policyColumns)
    .from(prices)
    .innerJoin(products, eq(products.id, prices.productId))
    .innerJoin(customers, eq(customers.id, subscription.customerId))
    .where(eq(prices.id, subscription.priceId));
  if (!price) throw new Error(`subscription ${subscription.id} has no price`);
  return policyOf(subscription, price, tenantSettings ?? (await settingsOf(tx, tenantId)));
}

function policyOf(subscription: Subscription, price: PriceOf, tenantSettings: DunningSettings) {
  const { settings, sources } = resolveDunning(tenantSettings, layersOf(price, subscription));
  const sub: PolicySubscription | null = subscription.paidThrough
    ? {
        status: subscription.status,
        suspensionReason: subscription.suspensionReason,
        paidThrough: subscription.paidThrough,
        billingHoldUntil: subscription.billingHoldUntil,
        cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
        interval: price.interval,
      }
    : null;
  return { price, settings, sources, sub };
}

export async function ledgerKeys(tx: Tx, subscriptionId: string): Promise<Set<string>> {
  const rows = await tx.select({ key: billingActions.key }).from(billingActions).where(eq(billingActions.subscriptionId, subscriptionId));
  return new Set(rows.map((row) => row.key));
}

interface Context {
  readonly deps: BillingRunDeps;
  readonly tenantId: string;
  readonly asOf: Date;
  readonly runId: string | null;
  readonly dryRun: boolean;
  readonly actor: AuditActor;
}

/** Records a ledger row; false when another run recorded it first (then the caller does nothing). */
async function claim(tx: Tx, ctx: Context, subscriptionId: string, step: Step, invoiceId: string | null): Promise<boolean> {
  if (!step.key) return true;
  const inserted = await tx
    .insert(billingActions)
    .values({ tenantId: ctx.tenantId, subscriptionId, invoiceId, key: step.key, action: step.action, outcome: step.outcome, dueAt: step.at, runId: ctx.runId })
    .onConflictDoNothing()
    .returning({ id: billingActions.id });
  return inserted.length > 0;
}

const noticeEvent = { reminder: 'invoice.reminder', overdue: 'invoice.overdue', termination_warning: 'invoice.termination_warning' } as const;

/** A notice's domain event (its email): the overdue notice names the suspension date, the warning the termination date. */
function noticeOf(step: NoticeStep, invoice: Invoice): DomainEvent {
  const deadline = step.deadline ?? step.at;
  if (step.action === 'overdue') return overdueEvent(invoice, deadline);
  if (step.action === 'termination_warning') return terminationWarningEvent(invoice, deadline);
  return invoiceEvent('invoice.reminder', invoice);
}

/** The renewal invoice of the period [start, end), at the price it renews at. */
function renewalDraft(subscription: Subscription, start: Date, end: Date, billed: RenewalPrice, settings: DunningSettings, asOf: Date): DraftInput {
  return {
    customerId: subscription.customerId,
    subscriptionId: subscription.id,
    currency: billed.currency,
    kind: 'RENEWAL',
    periodStart: start,
    periodEnd: end,
    dueAt: renewalDueAt(start, asOf, settings),
    lines: [{ description: `${billed.productName}: ${start.toISOString().slice(0, 10)} to ${end.toISOString().slice(0, 10)}`, quantity: 1, unitAmount: billed.amount }],
  };
}

interface Processed {
  readonly actions: PlannedAction[];
  readonly jobs: Job[];
  /** When the run next has something to do for it (undefined: not known, the next run looks). */
  readonly nextAt?: Date | undefined;
}

/** The first instant of the subscription's remaining timeline (a step still due now gives a time <= asOf: looked at again). */
function nextActionAt(sub: PolicySubscription, invoice: Invoice | undefined, settings: DunningSettings, asOf: Date, done: ReadonlySet<string>): Date {
  const first = timeline(sub, policyInvoice(invoice), settings, asOf, done).reduce<Date | undefined>((min, step) => (!min || step.at < min ? step.at : min), undefined);
  return first ?? NOTHING_SCHEDULED;
}

/**
 * Handles one subscription, already locked by the caller, in the caller's tenant transaction:
 * re-reads everything and acts on the due steps in order. Returns what it did, the jobs to enqueue
 * after commit and when it next has something to do.
 */
async function processSubscription(tx: Tx, ctx: Context, subscription: Subscription, tenantSettings: DunningSettings): Promise<Processed> {
  const actions: PlannedAction[] = [];
  const ready: Job[] = [];
  // Terminated, moved to Stripe or cancelled since the scan: nothing to do (peer failure 5).
  if (subscription.billingMode !== 'MPANEL' || !['ACTIVE', 'PAST_DUE', 'SUSPENDED'].includes(subscription.status)) return { actions, jobs: ready };
  const { price, settings, sub } = await policyInputs(tx, ctx.tenantId, subscription, tenantSettings);
  if (!sub) return { actions, jobs: ready };
  let invoice = await openRenewalInvoice(tx, subscription);
  const done = await ledgerKeys(tx, subscription.id);
  let steps = dueSteps(sub, policyInvoice(invoice), settings, ctx.asOf, done);
  /** A state change: the subscription is read again for its next action. */
  let changed = false;
  const note = (step: Step, outcome: PlannedAction['outcome'], detail?: string) =>
    actions.push({ tenantId: ctx.tenantId, subscriptionId: subscription.id, action: step.action, at: step.at, outcome, rule: step.rule, invoiceId: invoice?.id, detail });
  const claimed = async (step: Step, invoiceId: string | null) => {
    const mine = await claim(tx, ctx, subscription.id, step, invoiceId);
    if (mine && step.key) done.add(step.key);
    return mine;
  };

  // The renewal invoice first: the steps after it key off the invoice it creates.
  const renewal = steps.find((step) => step.action === 'issue_renewal');
  if (renewal) {
    const start = sub.paidThrough;
    const billed = await renewalPriceOf(tx, subscription, start, price);
    const end = periodEnd(start, billed.interval);
    if (!end) return { actions, jobs: ready };
    if (ctx.dryRun) {
      note(renewal, 'DONE', `${billed.productName} ${start.toISOString().slice(0, 10)} – ${end.toISOString().slice(0, 10)}: ${billed.amount} ${billed.currency}`);
      steps = steps.filter((step) => step !== renewal);
    } else if (await claimed(renewal, null)) {
      [invoice] = await issueInvoices(tx, ctx.tenantId, [renewalDraft(subscription, start, end, billed, settings, ctx.asOf)], ctx.actor, ctx.asOf);
      if (!invoice) throw new Error(`renewal of subscription ${subscription.id} was not issued`);
      await tx.update(billingActions).set({ invoiceId: invoice.id }).where(and(eq(billingActions.subscriptionId, subscription.id), eq(billingActions.key, renewal.key ?? '')));
      note(renewal, 'DONE', `invoice ${invoice.number ?? invoice.id}`);
      steps = dueSteps(sub, policyInvoice(invoice), settings, ctx.asOf, done);
    } else {
      return { actions, jobs: ready };
    }
  }

  const cause = (step: Step, reason: string) => ({ actor: ctx.actor, reason, rule: step.rule, ...(invoice ? { invoiceId: invoice.id } : {}) });
  for (const step of steps) {
    if (step.action === 'issue_renewal') continue;
    if (ctx.dryRun) {
      note(step, step.outcome);
      continue;
    }
    switch (step.action) {
      case 'reminder':
      case 'overdue':
      case 'termination_warning': {
        if (!invoice || !(await claimed(step, invoice.id))) break;
        if (step.outcome === 'SKIPPED') {
          note(step, 'SKIPPED', 'a later notice of the same kind was due too');
          break;
        }
        if (isNotice(step)) await recordBillingEvent(tx, ctx.tenantId, noticeOf(step, invoice));
        await recordAudit(tx, {
          tenantId: ctx.tenantId,
          actor: ctx.actor,
          action: 'invoice.notice_sent',
          targetType: 'invoice',
          targetId: invoice.id,
          metadata: { notice: step.action, rule: step.rule, subscriptionId: subscription.id, runId: ctx.runId },
        });
        note(step, 'DONE');
        break;
      }
      case 'past_due': {
        changed = true;
        const moved = await transition(tx, { tenantId: ctx.tenantId, subscriptionId: subscription.id }, 'past_due', cause(step, `invoice ${invoice?.number ?? ''} unpaid at its due date`.replace('  ', ' ')));
        if (moved) note(step, 'DONE');
        break;
      }
      case 'suspend':
      case 'terminate':
      case 'cancel_suspend':
      case 'cancel_terminate': {
        changed = true;
        const lifecycle = step.action === 'suspend' || step.action === 'cancel_suspend' ? 'suspend' : 'terminate';
        const reason =
          step.action === 'suspend'
            ? `invoice ${invoice?.number ?? ''} unpaid ${settings.suspendAfterDays} days after its due date`
            : step.action === 'terminate'
              ? `invoice ${invoice?.number ?? ''} unpaid ${settings.terminateAfterDays} days after its due date`
              : step.action === 'cancel_suspend'
                ? 'cancelled at the end of the paid period'
                : `cancelled; retention of ${settings.cancellationRetentionDays} days over`;
        try {
          const planned = await createLifecycleJob(tx, ctx.tenantId, subscription.id, lifecycle, ctx.actor, `${reason} (rule ${step.rule})`, ctx.deps.maxAttempts, step.action === 'cancel_suspend' ? 'CANCELLED' : 'NON_PAYMENT');
          ready.push(...planned.ready);
          note(step, 'DONE', `job ${planned.job.id}`);
        } catch (error) {
          // Another lifecycle job of this subscription is in progress (this run's own suspension, a
          // staff action): the next run acts once it is over.
          if (!(error instanceof AppError && error.code === 'CONFLICT')) throw error;
          note(step, 'DEFERRED', error.message);
        }
        break;
      }
      case 'recover': {
        changed = true;
        const jobs = await settleSubscription(tx, ctx.tenantId, subscription.id, { actor: ctx.actor, reason: 'paid through a date in the future', ...(invoice ? { invoiceId: invoice.id } : {}) }, ctx.deps.maxAttempts, ctx.asOf);
        ready.push(...jobs);
        const [now] = await tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, subscription.id));
        // Another invoice still overdue, or a lifecycle job in progress: nothing moved; the next run looks again.
        note(step, jobs.length > 0 || now?.status !== subscription.status ? 'DONE' : 'DEFERRED');
        break;
      }
    }
  }
  if (ctx.dryRun) return { actions, jobs: ready };
  if (!changed) return { actions, jobs: ready, nextAt: nextActionAt(sub, invoice, settings, ctx.asOf, done) };
  const [now] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscription.id));
  const after = now ? await policyInputs(tx, ctx.tenantId, now, tenantSettings) : undefined;
  if (!now || !after?.sub) return { actions, jobs: ready };
  return { actions, jobs: ready, nextAt: nextActionAt(after.sub, await openRenewalInvoice(tx, now), after.settings, ctx.asOf, await ledgerKeys(tx, now.id)) };
}

function tally(actions: readonly PlannedAction[], counts: Record<string, number>): void {
  for (const action of actions) {
    const name = action.outcome === 'DONE' ? action.action : `${action.action}_${action.outcome.toLowerCase()}`;
    counts[name] = (counts[name] ?? 0) + 1;
  }
}

interface Outcome {
  readonly id: string;
  /** What was done (with an error too: what committed before the failing step). */
  readonly result?: Processed;
  readonly error?: unknown;
}

/** A subscription of a batch, with what the policy needs, read for the whole batch at once. */
interface Plan {
  readonly row: Subscription;
  readonly price: PriceOf;
  readonly settings: DunningSettings;
  readonly sub: PolicySubscription;
  /** Its open renewal invoice: the one read, then the one this run issued. */
  invoice: Invoice | undefined;
  /** Its ledger keys, with the ones this run claims. */
  readonly done: Set<string>;
  readonly actions: PlannedAction[];
}

type NoticeStep = Step & { readonly action: keyof typeof noticeEvent };
const isNotice = (step: Step): step is NoticeStep => step.action in noticeEvent;
const LIVE_STATUSES: readonly Subscription['status'][] = ['ACTIVE', 'PAST_DUE', 'SUSPENDED'];

/** The prices (with the product and customer dunning overrides), open renewal invoices and ledger keys of a batch's subscriptions: three reads for the batch. */
async function readPlans(tx: Tx, rows: readonly Subscription[], tenantSettings: DunningSettings): Promise<{ plans: Plan[]; outcomes: Outcome[] }> {
  const plans: Plan[] = [];
  const outcomes: Outcome[] = [];
  const live = rows.filter((row) => row.billingMode === 'MPANEL' && LIVE_STATUSES.includes(row.status) && row.paidThrough !== null);
  // Terminated, moved to Stripe or cancelled since the scan: nothing to do (peer failure 5).
  for (const row of rows) if (!live.includes(row)) outcomes.push({ id: row.id, result: { actions: [], jobs: [] } });
  if (live.length === 0) return { plans, outcomes };
  // Each subscription's price with its product's and customer's dunning overrides: one query for the batch.
  const priceRows = await tx
    .select({ subscriptionId: subscriptions.id, ...policyColumns })
    .from(subscriptions)
    .innerJoin(prices, eq(prices.id, subscriptions.priceId))
    .innerJoin(products, eq(products.id, prices.productId))
    .innerJoin(customers, eq(customers.id, subscriptions.customerId))
    .where(inArray(subscriptions.id, live.map((row) => row.id)));
  const periods = live.flatMap((row) => (row.paidThrough ? [sql`(${row.id}::uuid, ${row.paidThrough.toISOString()}::timestamptz)`] : []));
  const open = await tx
    .select()
    .from(invoices)
    .where(and(inArray(invoices.kind, ['RENEWAL', 'INITIAL']), ne(invoices.status, 'VOID'), sql`(${invoices.subscriptionId}, ${invoices.periodStart}) in (${sql.join(periods, sql`, `)})`))
    .orderBy(desc(invoices.createdAt));
  const ledger = await tx
    .select({ subscriptionId: billingActions.subscriptionId, key: billingActions.key })
    .from(billingActions)
    .where(inArray(billingActions.subscriptionId, live.map((row) => row.id)));
  for (const row of live) {
    const price = priceRows.find((candidate) => candidate.subscriptionId === row.id);
    if (!price) {
      outcomes.push({ id: row.id, error: new Error(`subscription ${row.id} has no price`) });
      continue;
    }
    const { settings, sub } = policyOf(row, price, tenantSettings);
    if (!sub) {
      outcomes.push({ id: row.id, result: { actions: [], jobs: [] } });
      continue;
    }
    // The newest first, as openRenewalInvoice.
    const invoice = open.find((candidate) => candidate.subscriptionId === row.id);
    const done = new Set(ledger.filter((entry) => entry.subscriptionId === row.id).map((entry) => entry.key));
    plans.push({ row, price, settings, sub, invoice, done, actions: [] });
  }
  return { plans, outcomes };
}

function noteOn(ctx: Context, plan: Plan, step: Step, outcome: PlannedAction['outcome'], detail?: string): void {
  plan.actions.push({ tenantId: ctx.tenantId, subscriptionId: plan.row.id, action: step.action, at: step.at, outcome, rule: step.rule, invoiceId: plan.invoice?.id, detail });
}

/** Ledger rows for several steps in one statement; answers the `subscription key` pairs this run recorded (the others were there first). */
async function claimAll(tx: Tx, ctx: Context, claims: readonly { subscriptionId: string; step: Step; invoiceId: string | null }[]): Promise<Set<string>> {
  const keyed = claims.flatMap(({ subscriptionId, step, invoiceId }) =>
    step.key ? [{ tenantId: ctx.tenantId, subscriptionId, invoiceId, key: step.key, action: step.action, outcome: step.outcome, dueAt: step.at, runId: ctx.runId }] : [],
  );
  if (keyed.length === 0) return new Set();
  const rows = await tx.insert(billingActions).values(keyed).onConflictDoNothing().returning({ subscriptionId: billingActions.subscriptionId, key: billingActions.key });
  return new Set(rows.map((row) => `${row.subscriptionId} ${row.key}`));
}

/**
 * The batch's due renewals: claimed in the ledger (one statement), issued together
 * (issueInvoices), the ledger rows then pointed at their invoices. Returns the plans that end here
 * (no period end, or claimed by another run first: the run does nothing more for them, as
 * processSubscription returns).
 */
async function issueDueRenewals(tx: Tx, ctx: Context, plans: readonly Plan[]): Promise<Set<Plan>> {
  const ended = new Set<Plan>();
  const wanted: { plan: Plan; step: Step; key: string; draft: DraftInput }[] = [];
  for (const plan of plans) {
    const step = dueSteps(plan.sub, policyInvoice(plan.invoice), plan.settings, ctx.asOf, plan.done).find((candidate) => candidate.action === 'issue_renewal');
    if (!step?.key) continue;
    const start = plan.sub.paidThrough;
    const billed = await renewalPriceOf(tx, plan.row, start, plan.price);
    const end = periodEnd(start, billed.interval);
    if (!end) {
      ended.add(plan);
      continue;
    }
    wanted.push({ plan, step, key: step.key, draft: renewalDraft(plan.row, start, end, billed, plan.settings, ctx.asOf) });
  }
  if (wanted.length === 0) return ended;
  const claimed = await claimAll(tx, ctx, wanted.map(({ plan, step }) => ({ subscriptionId: plan.row.id, step, invoiceId: null })));
  const mine = wanted.filter(({ plan, key }) => claimed.has(`${plan.row.id} ${key}`));
  for (const { plan } of wanted) if (!mine.some((item) => item.plan === plan)) ended.add(plan);
  if (mine.length === 0) return ended;
  const issued = await issueInvoices(tx, ctx.tenantId, mine.map(({ draft }) => draft), ctx.actor, ctx.asOf);
  const links = mine.map(({ plan, key }, index) => sql`(${plan.row.id}::uuid, ${key}, ${issued[index]?.id ?? null}::uuid)`);
  await tx.execute(
    sql`update ${billingActions} set invoice_id = v.invoice_id from (values ${sql.join(links, sql`, `)}) as v(subscription_id, key, invoice_id) where ${billingActions.subscriptionId} = v.subscription_id and ${billingActions.key} = v.key`,
  );
  for (const [index, { plan, step, key }] of mine.entries()) {
    const invoice = issued[index];
    if (!invoice) throw new Error(`renewal of subscription ${plan.row.id} was not issued`);
    plan.invoice = invoice;
    plan.done.add(key);
    noteOn(ctx, plan, step, 'DONE', `invoice ${invoice.number ?? invoice.id}`);
  }
  return ended;
}

/** Notices of several subscriptions: their ledger rows in one statement, then their events and audit rows in one each. */
async function sendNotices(tx: Tx, ctx: Context, due: readonly { plan: Plan; steps: readonly NoticeStep[] }[]): Promise<void> {
  const claims = due.flatMap(({ plan, steps }) => {
    const invoice = plan.invoice;
    return invoice ? steps.map((step) => ({ plan, step, invoice, subscriptionId: plan.row.id, invoiceId: invoice.id })) : [];
  });
  if (claims.length === 0) return;
  const claimed = await claimAll(tx, ctx, claims);
  const events: DomainEvent[] = [];
  const audits: AuditEntry[] = [];
  for (const { plan, step, invoice } of claims) {
    // Recorded by another run first: it sent the notice.
    if (!step.key || !claimed.has(`${plan.row.id} ${step.key}`)) continue;
    plan.done.add(step.key);
    if (step.outcome === 'SKIPPED') {
      noteOn(ctx, plan, step, 'SKIPPED', 'a later notice of the same kind was due too');
      continue;
    }
    events.push(noticeOf(step, invoice));
    audits.push({
      tenantId: ctx.tenantId,
      actor: ctx.actor,
      action: 'invoice.notice_sent',
      targetType: 'invoice',
      targetId: invoice.id,
      metadata: { notice: step.action, rule: step.rule, subscriptionId: plan.row.id, runId: ctx.runId },
    });
    noteOn(ctx, plan, step, 'DONE');
  }
  await recordBillingEvents(tx, ctx.tenantId, events);
  await recordAudits(tx, audits);
}

/**
 * A batch's due subscriptions (locked), acted on together where that is the same as one after the
 * other: the policy's inputs read once, the renewals issued together, then the notices sent
 * together. A subscription with a state change due (PAST_DUE, suspension, recovery, cancellation)
 * goes on alone through processSubscription, in a savepoint of its own unless it is the batch
 * (`alone`). A renewal or notice that cannot be written fails the whole batch, which is then
 * retried one subscription per transaction (processBatchOrEach): a bad one fails alone.
 */
async function actOnBatch(tx: Tx, ctx: Context, rows: readonly Subscription[], tenantSettings: DunningSettings, alone: boolean): Promise<Outcome[]> {
  const { plans, outcomes } = await readPlans(tx, rows, tenantSettings);
  const ended = await issueDueRenewals(tx, ctx, plans);
  const notices: { plan: Plan; steps: NoticeStep[] }[] = [];
  const alonePlans: Plan[] = [];
  const quiet: Plan[] = [];
  for (const plan of plans) {
    if (ended.has(plan)) {
      outcomes.push({ id: plan.row.id, result: { actions: plan.actions, jobs: [] } });
      continue;
    }
    const steps = dueSteps(plan.sub, policyInvoice(plan.invoice), plan.settings, ctx.asOf, plan.done);
    const noticeSteps = steps.filter(isNotice);
    if (noticeSteps.length < steps.length) alonePlans.push(plan);
    else {
      if (noticeSteps.length > 0) notices.push({ plan, steps: noticeSteps });
      quiet.push(plan);
    }
  }
  await sendNotices(tx, ctx, notices);
  for (const plan of quiet) {
    outcomes.push({ id: plan.row.id, result: { actions: plan.actions, jobs: [], nextAt: nextActionAt(plan.sub, plan.invoice, plan.settings, ctx.asOf, plan.done) } });
  }
  for (const plan of alonePlans) {
    const withRenewal = (result: Processed): Processed => ({ ...result, actions: [...plan.actions, ...result.actions] });
    if (alone) {
      outcomes.push({ id: plan.row.id, result: withRenewal(await processSubscription(tx, ctx, plan.row, tenantSettings)) });
      continue;
    }
    try {
      outcomes.push({ id: plan.row.id, result: withRenewal(await tx.transaction((savepoint) => processSubscription(savepoint, ctx, plan.row, tenantSettings))) });
    } catch (error) {
      // Its renewal (before the savepoint) stays: the failing step is retried by the next run.
      outcomes.push({ id: plan.row.id, result: { actions: plan.actions, jobs: [] }, error });
    }
  }
  return outcomes;
}

/**
 * One transaction of the tenant for a batch of its subscriptions: their rows locked first, in id
 * order (a second run waits for the whole batch, then finds the work done; one order, so two runs
 * never deadlock), acted on by actOnBatch (a dry run: one after the other, writing nothing), their
 * next actions written last.
 */
async function processBatch(ctx: Context, ids: readonly string[], settingsCache: Map<string, DunningSettings>): Promise<Outcome[]> {
  return withTenant(ctx.deps.db, ctx.tenantId, async (tx) => {
    let settings = settingsCache.get(ctx.tenantId);
    if (!settings) {
      settings = await settingsOf(tx, ctx.tenantId);
      settingsCache.set(ctx.tenantId, settings);
    }
    const query = tx.select().from(subscriptions).where(inArray(subscriptions.id, [...ids])).orderBy(asc(subscriptions.id));
    const rows = ctx.dryRun ? await query : await query.for('update');
    const byId = new Map<string, Outcome>();
    const due: Subscription[] = [];
    for (const row of rows) {
      // Handled by another run while this one waited for the lock: nothing is due any more.
      if (row.billingNextAt && row.billingNextAt > ctx.asOf) byId.set(row.id, { id: row.id, result: { actions: [], jobs: [] } });
      else due.push(row);
    }
    if (ctx.dryRun) {
      for (const row of due) byId.set(row.id, { id: row.id, result: await processSubscription(tx, ctx, row, settings) });
    } else {
      for (const outcome of await actOnBatch(tx, ctx, due, settings, ids.length === 1)) byId.set(outcome.id, outcome);
    }
    // In id order, as the rows were locked; gone since the scan: nothing to do.
    const outcomes = ids.map((id) => byId.get(id) ?? { id, result: { actions: [], jobs: [] } });
    const next = outcomes.flatMap((outcome) => (outcome.result?.nextAt && !outcome.error ? [sql`(${outcome.id}::uuid, ${outcome.result.nextAt.toISOString()}::timestamptz)`] : []));
    if (!ctx.dryRun && next.length > 0) {
      // Only billing_next_at: the reset trigger keeps what this writes (migration billing_next_at).
      await tx.execute(sql`update ${subscriptions} set billing_next_at = v.at from (values ${sql.join(next, sql`, `)}) as v(id, at) where ${subscriptions.id} = v.id`);
    }
    return outcomes;
  });
}

/** A batch, or when its transaction fails as a whole (a lost connection, a deadlock), each of its subscriptions alone. */
async function processBatchOrEach(ctx: Context, ids: readonly string[], settingsCache: Map<string, DunningSettings>): Promise<Outcome[]> {
  try {
    return await processBatch(ctx, ids, settingsCache);
  } catch (error) {
    if (ids.length === 1) return [{ id: ids[0] ?? '', error }];
    const outcomes: Outcome[] = [];
    for (const id of ids) outcomes.push(...(await processBatchOrEach(ctx, [id], settingsCache)));
    return outcomes;
  }
}

/** One billing run. Returns what it did (or, with dryRun, what it would do). */
export async function runBilling(deps: BillingRunDeps, options: BillingRunOptions): Promise<BillingRunReport> {
  const dryRun = options.dryRun === true;
  const asOf = options.asOf;
  let runId: string | null = null;
  if (!dryRun) {
    await deps.db
      .update(billingRuns)
      .set({ status: 'FAILED', error: 'interrupted (the process ended during the run)', finishedAt: new Date() })
      .where(and(eq(billingRuns.status, 'RUNNING'), lt(billingRuns.startedAt, new Date(Date.now() - ABANDONED_AFTER_MS))));
    const [run] = await deps.db.insert(billingRuns).values({ trigger: options.trigger, asOf, tenantId: options.tenantId ?? null }).returning({ id: billingRuns.id });
    runId = run?.id ?? null;
  }
  const counts: Record<string, number> = {};
  const actions: PlannedAction[] = [];
  let errors = 0;
  let seen = 0;
  let stopped = false;
  const settingsCache = new Map<string, DunningSettings>();
  const maxBatch = Math.max(1, options.batchSize ?? DEFAULT_BATCH);
  try {
    const planChanges = await applyDuePlanChanges(deps, { asOf, tenantId: options.tenantId, dryRun });
    if (planChanges > 0) counts.plan_changed = planChanges;
    const tenants = await dueTenants(deps.db, asOf, options.tenantId);
    const total = tenants.reduce((sum, tenant) => sum + tenant.count, 0);
    options.onProgress?.(0, total);
    // One tenant per worker: batches of one tenant would wait for each other on its invoice
    // sequence; each subscription's own steps run in order, and order between subscriptions does
    // not matter.
    const runTenant = async (tenantId: string) => {
      const ctx: Context = { deps, tenantId, asOf, runId, dryRun, actor: systemActor };
      // The first batch is one subscription, then they double: a run that dies early loses little.
      let size = 1;
      let afterId: string | undefined;
      while (!stopped) {
        const page = await scanPage(deps.db, asOf, tenantId, afterId, options.pageSize ?? DEFAULT_PAGE);
        if (page.length === 0) return;
        for (let from = 0; from < page.length && !stopped; ) {
          const ids = page.slice(from, from + size);
          from += ids.length;
          size = Math.min(size * 2, maxBatch);
          const outcomes = await processBatchOrEach(ctx, ids, settingsCache);
          const jobs = outcomes.flatMap((outcome) => outcome.result?.jobs ?? []);
          if (jobs.length > 0) {
            try {
              await enqueue(deps.db, deps.producer, deps.logger, jobs);
            } catch (error) {
              // The jobs are in the outbox (committed with their subscription): its sweeper sends them.
              errors += 1;
              deps.logger.error({ err: error, tenant: tenantId }, 'billing run: enqueueing jobs failed; the outbox sweeper sends them');
            }
          }
          for (const outcome of outcomes) {
            if (outcome.result) {
              actions.push(...outcome.result.actions);
              tally(outcome.result.actions, counts);
            }
            if (outcome.error !== undefined || !outcome.result) {
              errors += 1;
              deps.logger.error({ err: outcome.error, subscription: outcome.id, tenant: tenantId }, 'billing run: a subscription failed; the next run retries it');
            }
            seen += 1;
            options.onProgress?.(seen, Math.max(total, seen));
          }
        }
        afterId = page.at(-1);
      }
    };
    let next = 0;
    const worker = async () => {
      try {
        for (let tenant = tenants[next]; tenant && !stopped; tenant = tenants[next]) {
          next += 1;
          await runTenant(tenant.tenantId);
        }
      } catch (error) {
        stopped = true;
        throw error;
      }
    };
    // Every worker finishes its batch before the run stops on an error.
    const settled = await Promise.allSettled(Array.from({ length: Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY) }, worker));
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    // STRIPE-mode subscriptions: their own pass (stripe-dunning.ts).
    const stripe = await runStripeDunning(deps, { asOf, tenantId: options.tenantId, dryRun });
    actions.push(...stripe.actions);
    tally(stripe.actions, counts);
    errors += stripe.errors;
  } catch (error) {
    if (runId) {
      await deps.db
        .update(billingRuns)
        .set({ status: 'FAILED', counts: { ...counts, subscriptions: seen, errors }, error: error instanceof Error ? error.message : String(error), finishedAt: new Date() })
        .where(eq(billingRuns.id, runId));
    }
    throw error;
  }
  if (runId) {
    await deps.db
      .update(billingRuns)
      .set({ status: errors > 0 ? 'FAILED' : 'SUCCEEDED', counts: { ...counts, subscriptions: seen, errors }, error: errors > 0 ? `${errors} subscription(s) failed` : null, finishedAt: new Date() })
      .where(eq(billingRuns.id, runId));
  }
  if (!dryRun) deps.logger.info({ runId, asOf, subscriptions: seen, counts, errors }, 'billing run finished');
  return { runId, asOf, dryRun, subscriptions: seen, actions, counts, errors };
}

/** The last finished run (for /metrics and /ready). */
export async function lastBillingRun(db: Database): Promise<BillingRun | undefined> {
  const [run] = await db.select().from(billingRuns).where(ne(billingRuns.status, 'RUNNING')).orderBy(desc(billingRuns.startedAt)).limit(1);
  return run;
}
