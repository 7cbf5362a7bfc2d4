import type { BillingInterval } from '../../db/schema/index.js';
import { prorate } from './money.js';

/**
 * The proration rule of a plan change (README "Plan changes"), in integer minor units:
 *
 *   amount = (new price − old price) × remaining seconds / period seconds
 *
 * rounded half away from zero, where "remaining" runs from the change to paidThrough (the paid
 * time left, which is more than one period when the next one is already paid) and "period" is one
 * billing interval ending at paidThrough. Nothing is charged for time not paid yet (a PAST_DUE
 * subscription's remaining time is 0): that time is billed by its renewal invoice, at the new price.
 */

export type PlanChangeKind = 'upgrade' | 'downgrade' | 'same_price';

type Recurring = Exclude<BillingInterval, 'ONE_TIME'>;

/**
 * An upgrade costs more, a downgrade less: per interval when both prices share it, per year when
 * the change is also one of interval (12 × monthly against yearly; same currency, checked before).
 */
export function planChangeKind(oldAmount: number, newAmount: number, oldInterval: Recurring = 'MONTH', newInterval: Recurring = oldInterval): PlanChangeKind {
  const perYear = (amount: number, interval: Recurring) => (oldInterval === newInterval ? amount : interval === 'MONTH' ? amount * 12 : amount);
  const [before, after] = [perYear(oldAmount, oldInterval), perYear(newAmount, newInterval)];
  if (after > before) return 'upgrade';
  if (after < before) return 'downgrade';
  return 'same_price';
}

/** `end` minus one interval, the day of month clamped to the target month's last day (31 March − 1 month = 28/29 February). */
export function periodStartBefore(end: Date, interval: Exclude<BillingInterval, 'ONE_TIME'>): Date {
  const months = interval === 'MONTH' ? 1 : 12;
  const year = end.getUTCFullYear();
  const month = end.getUTCMonth() - months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(end.getUTCDate(), lastDay), end.getUTCHours(), end.getUTCMinutes(), end.getUTCSeconds(), end.getUTCMilliseconds()));
}

export interface Proration {
  readonly remainingSeconds: number;
  readonly periodSeconds: number;
  /** Net, before tax: tax is added per line by the invoice, as on every invoice. */
  readonly amount: number;
}

/** What an upgrade at `now` costs for the paid time left. Whole seconds: the remaining part is floored. */
export function prorationOf(oldAmount: number, newAmount: number, paidThrough: Date, interval: Exclude<BillingInterval, 'ONE_TIME'>, now: Date): Proration {
  const periodSeconds = Math.round((paidThrough.getTime() - periodStartBefore(paidThrough, interval).getTime()) / 1000);
  const remainingSeconds = Math.max(0, Math.floor((paidThrough.getTime() - now.getTime()) / 1000));
  return { remainingSeconds, periodSeconds, amount: remainingSeconds === 0 ? 0 : prorate(newAmount - oldAmount, remainingSeconds, periodSeconds) };
}
