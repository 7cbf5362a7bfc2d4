import type { BillingInterval, DunningOverride, SubscriptionStatus, SuspensionReason } from '../../db/schema/index.js';

/**
 * What the billing run does to one subscription, and when: a pure function of the subscription,
 * its open renewal invoice, the dunning settings and the clock. The run (billing-run.ts) executes
 * the steps that are due; `GET`-style dry runs print them. Every date keys off `paidThrough`:
 *
 *   paidThrough − renewalLeadDays   issue the renewal invoice (due at paidThrough)
 *   due − reminderDays              reminders (invoice.reminder)
 *   due                             ACTIVE → PAST_DUE
 *   due + overdueNoticeDays         overdue notices (invoice.overdue; the last warns of suspension)
 *   due + suspendAfterDays          SUSPEND_SITE with reason NON_PAYMENT
 *   due + terminationWarningDays    final notice (only when termination is on)
 *   due + terminateAfterDays        TERMINATE_SITE (only when termination is on)
 *
 * `due` is the later of paidThrough and the invoice's due date (an invoice issued late, after a
 * scheduler outage, gives the customer its payment terms). Notices of one kind that became due
 * together (a scheduler that was down) are sent once — the latest — and the others are recorded
 * as SKIPPED; a reminder that fell due before the invoice existed is skipped too. Nothing of
 * dunning happens while a staff hold (`billingHoldUntil`) is in the future.
 */

export const DAY_MS = 86_400_000;

export interface DunningSettings {
  readonly renewalLeadDays: number;
  readonly paymentTermsDays: number;
  readonly reminderDays: readonly number[];
  readonly overdueNoticeDays: readonly number[];
  readonly suspendAfterDays: number;
  readonly terminationEnabled: boolean;
  readonly terminateAfterDays: number;
  readonly terminationWarningDays: number;
  readonly cancellationRetentionDays: number;
}

export const defaultDunningSettings: DunningSettings = {
  renewalLeadDays: 14,
  paymentTermsDays: 14,
  reminderDays: [7, 1],
  overdueNoticeDays: [1, 3],
  suspendAfterDays: 7,
  terminationEnabled: false,
  terminateAfterDays: 30,
  terminationWarningDays: 23,
  cancellationRetentionDays: 30,
};

/** The tenant's settings with the subscription's override on top (undefined fields: the tenant's). */
export function effectiveSettings(tenant: DunningSettings, override: DunningOverride | null | undefined): DunningSettings {
  if (!override) return tenant;
  const defined = Object.fromEntries(Object.entries(override).filter(([, value]) => value !== undefined && value !== null));
  return { ...tenant, ...defined };
}

export interface PolicySubscription {
  readonly status: SubscriptionStatus;
  readonly suspensionReason: SuspensionReason | null;
  readonly paidThrough: Date;
  readonly billingHoldUntil: Date | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly interval: BillingInterval;
}

export interface PolicyInvoice {
  readonly id: string;
  readonly status: 'DRAFT' | 'ISSUED' | 'PAID' | 'VOID';
  readonly dueAt: Date | null;
  readonly issuedAt: Date | null;
}

export type StepAction =
  | 'issue_renewal'
  | 'reminder'
  | 'past_due'
  | 'overdue'
  | 'suspend'
  | 'termination_warning'
  | 'terminate'
  | 'recover'
  | 'cancel_suspend'
  | 'cancel_terminate';

export interface Step {
  readonly action: StepAction;
  /** When the rule makes it due. */
  readonly at: Date;
  /** The ledger key (notices and the renewal only: state changes are idempotent by the state machine). */
  readonly key?: string;
  /** DONE: act now; SKIPPED: superseded by a later notice of the same kind, recorded, never sent. */
  readonly outcome: 'DONE' | 'SKIPPED';
  readonly rule: string;
  /** A notice's deadline, which its message names: the due date (reminder), the suspension (overdue), the termination (its warning). */
  readonly deadline?: Date;
}

const LIVE: readonly SubscriptionStatus[] = ['ACTIVE', 'PAST_DUE'];

function addDays(at: Date, days: number): Date {
  return new Date(at.getTime() + days * DAY_MS);
}

/** The due date mPanel gives a renewal invoice issued at `issuedAt`: the period end, or the payment terms when issued after it. */
export function renewalDueAt(paidThrough: Date, issuedAt: Date, settings: Pick<DunningSettings, 'paymentTermsDays'>): Date {
  return paidThrough.getTime() > issuedAt.getTime() ? paidThrough : addDays(issuedAt, settings.paymentTermsDays);
}

/**
 * The whole timeline for the subscription's current period (past and future steps), for the
 * schedule view. `invoice` is the live renewal invoice of the period starting at paidThrough, if
 * any. Steps already in the ledger (`done`) are left out.
 */
export function timeline(sub: PolicySubscription, invoice: PolicyInvoice | null, settings: DunningSettings, now: Date, done: ReadonlySet<string> = new Set()): Step[] {
  const steps: Step[] = [];
  const paidUp = sub.paidThrough.getTime() > now.getTime();
  // Paid again after falling behind: back to ACTIVE (a NON_PAYMENT suspension lifted through its job).
  if (paidUp && (sub.status === 'PAST_DUE' || (sub.status === 'SUSPENDED' && sub.suspensionReason === 'NON_PAYMENT'))) {
    steps.push({ action: 'recover', at: now, outcome: 'DONE', rule: 'payment.received' });
  }
  if (sub.cancelAtPeriodEnd) {
    if (LIVE.includes(sub.status)) steps.push({ action: 'cancel_suspend', at: sub.paidThrough, outcome: 'DONE', rule: 'cancel.period_end' });
    if (LIVE.includes(sub.status) || (sub.status === 'SUSPENDED' && sub.suspensionReason === 'CANCELLED')) {
      steps.push({ action: 'cancel_terminate', at: addDays(sub.paidThrough, settings.cancellationRetentionDays), outcome: 'DONE', rule: 'cancel.retention' });
    }
    return steps;
  }
  if (sub.interval === 'ONE_TIME') return steps;
  const nonPayment = LIVE.includes(sub.status) || (sub.status === 'SUSPENDED' && sub.suspensionReason === 'NON_PAYMENT');
  if (!nonPayment) return steps; // suspended by staff, for abuse, or cancelled: no invoice, no dunning

  const period = sub.paidThrough.toISOString();
  let open = invoice;
  if (!open && LIVE.includes(sub.status)) {
    const issueAt = addDays(sub.paidThrough, -settings.renewalLeadDays);
    const key = `${period}:renewal`;
    if (!done.has(key)) steps.push({ action: 'issue_renewal', at: issueAt, key, outcome: 'DONE', rule: 'renewal.lead_days' });
    const issuedAt = issueAt.getTime() > now.getTime() ? issueAt : now;
    open = { id: 'next', status: 'ISSUED', dueAt: renewalDueAt(sub.paidThrough, issuedAt, settings), issuedAt };
  }
  if (!open || open.status !== 'ISSUED' || !open.dueAt) return steps;

  const due = open.dueAt.getTime() > sub.paidThrough.getTime() ? open.dueAt : sub.paidThrough;
  const suspendAt = addDays(due, settings.suspendAfterDays);
  const terminateAt = addDays(due, settings.terminateAfterDays);
  const held = sub.billingHoldUntil !== null && sub.billingHoldUntil.getTime() > now.getTime();
  const dunning: Step[] = [];
  const notices = (action: 'reminder' | 'overdue' | 'termination_warning', days: readonly number[], sign: 1 | -1, until: Date) => {
    const candidates = [...new Set(days)]
      .map((day) => ({ day, at: addDays(due, sign * day) }))
      .sort((a, b) => a.at.getTime() - b.at.getTime());
    // Due ones (at <= now): the latest is sent (if still before `until` and after the invoice exists); the others are skipped.
    const dueOnes = candidates.filter(({ at }) => at.getTime() <= now.getTime());
    for (const { day, at } of candidates) {
      const key = `${open.id}:${action}:${day}`;
      if (done.has(key)) continue;
      const isDue = at.getTime() <= now.getTime();
      const latest = dueOnes.at(-1)?.day === day;
      const beforeInvoice = open.issuedAt !== null && at.getTime() < open.issuedAt.getTime() - 60_000;
      const tooLate = now.getTime() >= until.getTime();
      const outcome = isDue && (!latest || beforeInvoice || tooLate) ? 'SKIPPED' : 'DONE';
      dunning.push({ action, at, key, outcome, rule: `dunning.${action}${action === 'termination_warning' ? '' : `.${sign < 0 ? '-' : '+'}${day}d`}`, deadline: until });
    }
  };
  if (LIVE.includes(sub.status)) {
    notices('reminder', settings.reminderDays, -1, due);
    if (sub.status === 'ACTIVE') dunning.push({ action: 'past_due', at: due, outcome: 'DONE', rule: 'dunning.past_due' });
    notices('overdue', settings.overdueNoticeDays, 1, suspendAt);
    dunning.push({ action: 'suspend', at: suspendAt, outcome: 'DONE', rule: `dunning.suspend.+${settings.suspendAfterDays}d` });
  }
  if (settings.terminationEnabled) {
    notices('termination_warning', [settings.terminationWarningDays], 1, terminateAt);
    dunning.push({ action: 'terminate', at: terminateAt, outcome: 'DONE', rule: `dunning.terminate.+${settings.terminateAfterDays}d` });
  }
  // A hold moves nothing: what falls due during it waits for its end (then the usual catch-up rules apply).
  const holdEnd = held ? sub.billingHoldUntil : null;
  for (const step of dunning) steps.push(holdEnd && step.at.getTime() < holdEnd.getTime() ? { ...step, at: holdEnd } : step);
  return steps.sort((a, b) => a.at.getTime() - b.at.getTime() || order(a.action) - order(b.action));
}

const ORDER: readonly StepAction[] = ['recover', 'issue_renewal', 'reminder', 'past_due', 'overdue', 'suspend', 'termination_warning', 'terminate', 'cancel_suspend', 'cancel_terminate'];
function order(action: StepAction): number {
  return ORDER.indexOf(action);
}

/** The steps to act on now: due, in order. Suspension, termination and notices wait for a hold to end. */
export function dueSteps(sub: PolicySubscription, invoice: PolicyInvoice | null, settings: DunningSettings, now: Date, done: ReadonlySet<string> = new Set()): Step[] {
  return timeline(sub, invoice, settings, now, done).filter((step) => step.at.getTime() <= now.getTime());
}

/**
 * What is wrong with a set of dunning settings once merged (the tenant's with a change, or with a
 * subscription's override): the order the steps must keep. Field paths under `prefix`.
 */
export function dunningProblems(settings: Pick<DunningSettings, 'suspendAfterDays' | 'terminateAfterDays' | 'terminationWarningDays'>, prefix: string): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (settings.terminateAfterDays < settings.suspendAfterDays) {
    problems.push({ field: `${prefix}/terminateAfterDays`, message: `must be at least suspendAfterDays (${settings.suspendAfterDays})` });
  }
  if (settings.terminationWarningDays > settings.terminateAfterDays) {
    problems.push({ field: `${prefix}/terminationWarningDays`, message: `must be at most terminateAfterDays (${settings.terminateAfterDays})` });
  }
  return problems;
}
