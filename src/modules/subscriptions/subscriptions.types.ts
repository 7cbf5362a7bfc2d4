import { z } from 'zod';
import { billingIntervals, billingModes, domainStatuses, productTypes, subscriptionStatuses, suspensionReasons } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { jobWithHistory } from '../provisioning/jobs.types.js';

export const subscriptionStatus = z.enum(subscriptionStatuses);

export const listSubscriptionsQuery = z.strictObject({
  status: subscriptionStatus.optional(),
  customerId: z.uuid().optional(),
  ...paginationQuery,
});
export type ListSubscriptionsQuery = z.output<typeof listSubscriptionsQuery>;

export const subscriptionStatusReason = z
  .object({
    event: z.string().meta({ description: 'The state machine event that set the status, e.g. `failed`, `suspended`' }),
    reason: z.string().meta({ description: 'Why, for people' }),
    actorType: z.enum(['USER', 'SYSTEM', 'WEBHOOK', 'CLI', 'CUSTOMER']),
    actorUserId: z.uuid().nullable().optional(),
    jobId: z.uuid().optional(),
    jobType: z.string().optional(),
    paymentEventId: z.string().optional(),
    invoiceId: z.uuid().optional(),
    rule: z.string().optional(),
    at: z.string().meta({ description: 'RFC 3339 date-time' }),
  })
  .meta({ id: 'SubscriptionStatusReason', description: "The cause of the subscription's last status change" });

export const subscriptionResponse = z
  .object({
    id: z.uuid(),
    status: subscriptionStatus,
    statusReason: subscriptionStatusReason.nullable(),
    customerId: z.uuid(),
    productId: z.uuid(),
    priceId: z.uuid(),
    orderId: z.uuid().nullable(),
    currentPeriodStart: timestamp,
    currentPeriodEnd: timestamp.nullable().meta({ description: 'null for one-time prices' }),
    stripeSubscriptionId: z.string().nullable(),
    billingMode: z.enum(billingModes).meta({ description: 'MPANEL: mPanel invoices it; STRIPE: Stripe Billing does, mPanel mirrors' }),
    paidThrough: timestamp.nullable().meta({ description: 'Service paid up to this instant: dunning keys off it' }),
    suspensionReason: z.enum(suspensionReasons).nullable().meta({ description: 'Why it is suspended; a payment lifts only NON_PAYMENT' }),
    billingHoldUntil: timestamp.nullable().meta({ description: 'No dunning action before this instant' }),
    suspendedAt: timestamp.nullable(),
    terminatedAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Subscription' });
export type SubscriptionView = z.output<typeof subscriptionResponse>;

export const subscriptionDetail = subscriptionResponse
  .extend({
    customer: z.object({ id: z.uuid(), email: z.string(), name: z.string() }),
    product: z.object({ id: z.uuid(), name: z.string(), type: z.enum(productTypes) }),
    price: z.object({
      id: z.uuid(),
      amount: z.number().int().meta({ description: 'Minor units (cents)' }),
      currency: z.string(),
      interval: z.enum(billingIntervals),
    }),
    domains: z.array(z.object({ id: z.uuid(), name: z.string(), status: z.enum(domainStatuses) })),
    jobs: z.array(jobWithHistory).meta({ description: 'Provisioning steps in the order they run, each with its status history' }),
  })
  .meta({ id: 'SubscriptionDetail' });
export type SubscriptionDetailView = z.output<typeof subscriptionDetail>;

export const subscriptionsPage = pageOf(subscriptionResponse);
export type SubscriptionsPage = z.output<typeof subscriptionsPage>;
