import { z } from 'zod';
import { billingIntervals, billingModes } from '../../db/schema/index.js';
import { timestamp } from '../../shared/http/schemas.js';

/** POST .../plan-change and .../plan-change/preview: the new plan, as one of the tenant's prices. */
export const planChangeBody = z
  .strictObject({
    priceId: z.uuid().meta({ description: 'An active price of an active product of the same type, billed at the same interval and in the same currency' }),
  })
  .meta({ id: 'PlanChangeBody' });
export type PlanChangeBody = z.output<typeof planChangeBody>;

export const planRef = z
  .object({
    priceId: z.uuid(),
    productId: z.uuid(),
    productName: z.string(),
    amount: z.number().int().meta({ description: 'Per interval, minor units' }),
    currency: z.string(),
    interval: z.enum(billingIntervals),
  })
  .meta({ id: 'PlanRef' });

const line = z.object({ description: z.string(), unitAmount: z.number().int(), netAmount: z.number().int(), taxAmount: z.number().int(), totalAmount: z.number().int() });

export const planChangePreview = z
  .object({
    subscriptionId: z.uuid(),
    kind: z.enum(['upgrade', 'downgrade', 'same_price']).meta({ description: 'upgrade: a higher price per interval; downgrade: a lower one' }),
    effective: z.enum(['now', 'period_end']).meta({ description: 'An upgrade (or the same price) applies now; a downgrade at the end of the paid period (paidThrough)' }),
    effectiveAt: timestamp,
    current: planRef,
    next: planRef,
    paidThrough: timestamp,
    proration: z
      .object({
        periodStart: timestamp,
        periodEnd: timestamp,
        remainingSeconds: z.number().int(),
        periodSeconds: z.number().int(),
        currency: z.string(),
        lines: z.array(line),
        subtotal: z.number().int(),
        taxTotal: z.number().int(),
        total: z.number().int(),
      })
      .nullable()
      .meta({ description: 'The invoice an upgrade issues now: (new − old) × remaining / period, rounded half away from zero, tax per line. null when nothing is charged' }),
    renewalInvoice: z
      .object({ id: z.uuid(), number: z.string().nullable(), total: z.number().int(), replacementAmount: z.number().int().meta({ description: 'The net price the replacement is billed at' }) })
      .nullable()
      .meta({ description: 'The unpaid renewal invoice of the next period, which the change voids and issues again at the price in force for that period' }),
    mailboxes: z.object({ used: z.number().int(), allowed: z.number().int().nullable() }).meta({ description: 'Mailboxes of the subscription, and what the new plan allows (null: no limit)' }),
  })
  .meta({ id: 'PlanChangePreview' });
export type PlanChangePreview = z.output<typeof planChangePreview>;

export const planChangeResult = planChangePreview
  .extend({
    subscription: z.object({ id: z.uuid(), priceId: z.uuid(), productId: z.uuid(), pendingPriceId: z.uuid().nullable(), pendingPlanChangeAt: timestamp.nullable() }),
    invoice: z.object({ id: z.uuid(), number: z.string().nullable(), status: z.string(), total: z.number().int(), currency: z.string() }).nullable().meta({ description: 'The proration invoice, issued' }),
    jobs: z.array(z.object({ id: z.uuid(), type: z.string(), status: z.string() })).meta({ description: 'Steps run again for the new plan (mail quotas): now for an upgrade, at period end for a downgrade' }),
  })
  .meta({ id: 'PlanChangeResult' });
export type PlanChangeResult = z.output<typeof planChangeResult>;

export const pendingPlanChangeCancelled = z
  .object({
    subscriptionId: z.uuid(),
    cancelledPriceId: z.uuid(),
    priceId: z.uuid(),
    renewalInvoice: z.object({ id: z.uuid(), number: z.string().nullable(), total: z.number().int() }).nullable().meta({ description: 'The renewal invoice issued again at the current price, if the pending one had been billed' }),
  })
  .meta({ id: 'PendingPlanChangeCancelled' });
export type PendingPlanChangeCancelled = z.output<typeof pendingPlanChangeCancelled>;

/** GET .../plan-change: where a change stands and what the service may move to (the portal's "Change plan"). */
export const planChangeOptions = z
  .object({
    subscriptionId: z.uuid(),
    billingMode: z.enum(billingModes).meta({ description: 'STRIPE: Stripe owns the schedule, a change here is refused (409)' }),
    current: planRef,
    paidThrough: timestamp.nullable(),
    pending: z
      .object({ plan: planRef, at: timestamp })
      .nullable()
      .meta({ description: 'The downgrade (or change of interval) scheduled for the end of the paid period; DELETE .../plan-change cancels it' }),
    plans: z
      .array(planRef)
      .meta({ description: 'The plans it may move to: active recurring prices of active products of the same type and currency (public ones only, for a customer), the current price left out; sorted by product name then amount' }),
  })
  .meta({ id: 'PlanChangeOptions' });
export type PlanChangeOptions = z.output<typeof planChangeOptions>;
