import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { and, asc, eq, isNotNull, lte, ne, sql } from 'drizzle-orm';
import { domains, jobs, mailDomains, prices, products, subscriptions, type BillingInterval, type Job, type Price, type Product, type Subscription } from '../../db/schema/index.js';
import { BILLING_SCAN_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { historyEntry } from '../../jobs/job-state.js';
import { enqueue } from '../../jobs/outbox.js';
import { serverQueue, type JobProducer } from '../../jobs/queue.js';
import { systemActor } from '../audit/audit.service.js';
import { mailFeatures, provisionMailPayload } from '../mail/steps/provision-mail.js';
import { changePlan, type PlanChangeFacts } from '../subscriptions/subscription-state.js';
import { planChangeKind } from './proration.js';

/**
 * The scheduled side of plan changes (plan-change.service.ts takes the requests): what the billing
 * run asks — the price a renewal is billed at, and the downgrades that have come due — and the
 * steps a new plan runs again. Kept apart from the request side so billing-run.ts can use it
 * without an import cycle.
 */

export interface PlanChangeDeps {
  readonly db: Database;
  readonly producer: JobProducer;
  readonly logger: Logger;
  readonly maxAttempts: number;
}

export type Plan = { price: Price; product: Product };

export async function planOf(tx: Tx, priceId: string): Promise<Plan | undefined> {
  const [row] = await tx.select({ price: prices, product: products }).from(prices).innerJoin(products, eq(products.id, prices.productId)).where(eq(prices.id, priceId));
  return row;
}

/** Upgrade, downgrade or same price: per interval, or per year across a change of interval (proration.ts). */
export function kindOf(current: Plan, next: Plan): PlanChangeFacts['kind'] {
  const recurring = (interval: BillingInterval) => (interval === 'ONE_TIME' ? 'MONTH' : interval);
  return planChangeKind(current.price.amount, next.price.amount, recurring(current.price.interval), recurring(next.price.interval));
}

export function facts(current: Plan, next: Plan, kind: PlanChangeFacts['kind'], invoiceId: string | null, effectiveAt: Date): PlanChangeFacts {
  const ref = ({ price, product }: Plan) => ({ priceId: price.id, productId: product.id, productName: product.name, amount: price.amount, currency: price.currency });
  return { from: ref(current), to: ref(next), kind, invoiceId, effectiveAt };
}

/** The plan's mailbox quota (features.mailboxQuotaMb), null when it names none (MAIL_DEFAULT_QUOTA_MB then). */
function quotaOf(product: Product): number | null {
  const features = mailFeatures.safeParse(product.features);
  return (features.success ? features.data.mailboxQuotaMb : undefined) ?? null;
}

/**
 * The steps whose resources depend on the plan, planned again through the jobs outbox: each mail
 * domain of the subscription gets a PROVISION_MAIL in plan-change mode (mailbox quotas to the new
 * plan's). Hosting has no plan-dependent resource yet (the web driver sets no disk quota), so
 * nothing of it runs again. Returns the jobs to enqueue after commit.
 */
export async function planDependentJobs(tx: Tx, tenantId: string, subscriptionId: string, previous: Product, maxAttempts: number): Promise<Job[]> {
  const rows = await tx
    .select({ mailDomain: mailDomains, domain: domains.name })
    .from(mailDomains)
    .innerJoin(domains, eq(domains.id, mailDomains.domainId))
    .where(and(eq(mailDomains.subscriptionId, subscriptionId), ne(mailDomains.status, 'DELETED')))
    .orderBy(asc(mailDomains.createdAt));
  const planned: Job[] = [];
  for (const { mailDomain, domain } of rows) {
    const [job] = await tx
      .insert(jobs)
      .values({
        tenantId,
        subscriptionId,
        type: 'PROVISION_MAIL',
        queue: serverQueue(mailDomain.serverId),
        maxAttempts,
        payload: provisionMailPayload.parse({ subscriptionId, domainId: mailDomain.domainId, domain, mailboxes: [], mailServerId: mailDomain.serverId, planChange: { previousQuotaMb: quotaOf(previous) } }),
        history: [historyEntry('PENDING')],
      })
      .returning();
    if (!job) throw new Error('insert into jobs returned no row');
    planned.push(job);
  }
  return planned;
}

// ---- the billing run's side (billing-run.ts calls these two) ----

/** What a renewal is billed at: the amount for one interval, which also gives the period's length. */
export interface RenewalPrice {
  readonly amount: number;
  readonly currency: string;
  readonly productName: string;
  readonly interval: BillingInterval;
}

/**
 * The price the renewal of the period starting at `periodStart` is billed at: a change scheduled
 * by then (a downgrade, or a change of interval: the period is then the new interval's), else the
 * current one.
 */
export async function renewalPriceOf<T extends RenewalPrice>(tx: Tx, subscription: Subscription, periodStart: Date, current: T): Promise<T | RenewalPrice> {
  if (!subscription.pendingPriceId || !subscription.pendingPlanChangeAt || subscription.pendingPlanChangeAt.getTime() > periodStart.getTime()) return current;
  const pending = await planOf(tx, subscription.pendingPriceId);
  return pending ? { amount: pending.price.amount, currency: pending.price.currency, productName: pending.product.name, interval: pending.price.interval } : current;
}

/**
 * Applies every scheduled plan change that has come due at `asOf` (across tenants through the
 * `billing_scan` policy; each in its own tenant transaction with the row locked): the new plan
 * through the state machine, then the plan-dependent steps through the jobs outbox. Returns how
 * many were applied (or, with dryRun, are due).
 */
export async function applyDuePlanChanges(deps: PlanChangeDeps, options: { asOf: Date; tenantId?: string | undefined; dryRun?: boolean | undefined }): Promise<number> {
  const due = await deps.db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${BILLING_SCAN_SETTING}, 'on', true)`);
    return tx
      .select({ id: subscriptions.id, tenantId: subscriptions.tenantId })
      .from(subscriptions)
      .where(and(isNotNull(subscriptions.pendingPriceId), lte(subscriptions.pendingPlanChangeAt, options.asOf), options.tenantId ? eq(subscriptions.tenantId, options.tenantId) : undefined))
      .orderBy(asc(subscriptions.pendingPlanChangeAt))
      .limit(1000);
  });
  if (options.dryRun) return due.length;
  let applied = 0;
  for (const candidate of due) {
    try {
      const ready = await withTenant(deps.db, candidate.tenantId, async (tx) => {
        const [subscription] = await tx.select().from(subscriptions).where(and(eq(subscriptions.id, candidate.id), isNotNull(subscriptions.pendingPriceId))).for('update');
        if (!subscription?.pendingPriceId || !subscription.pendingPlanChangeAt || subscription.pendingPlanChangeAt.getTime() > options.asOf.getTime()) return null;
        const current = await planOf(tx, subscription.priceId);
        const next = await planOf(tx, subscription.pendingPriceId);
        if (!current || !next) throw new Error(`subscription ${subscription.id}: a plan of its change vanished`);
        const at = subscription.pendingPlanChangeAt;
        await changePlan(
          tx,
          { tenantId: candidate.tenantId, subscriptionId: subscription.id },
          { kind: 'apply', facts: facts(current, next, kindOf(current, next), null, at) },
          { actor: systemActor, reason: `scheduled plan change to ${next.product.name} at the end of the paid period (${at.toISOString()})`, rule: 'plan_change.period_end' },
        );
        return planDependentJobs(tx, candidate.tenantId, subscription.id, current.product, deps.maxAttempts);
      });
      if (ready) {
        applied += 1;
        if (ready.length > 0) await enqueue(deps.db, deps.producer, deps.logger, ready);
      }
    } catch (error) {
      deps.logger.error({ err: error, subscription: candidate.id }, 'billing run: a scheduled plan change failed; the next run retries it');
    }
  }
  return applied;
}

