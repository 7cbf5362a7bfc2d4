import { sql } from 'drizzle-orm';
import { boolean, check, index, jsonb, pgTable, text, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { amount, createdAt, currency, deletedAt, id, moneyChecks, tstz, updatedAt } from './columns.js';
import { billingModeEnum, orderStatusEnum, subscriptionStatusEnum, suspensionReasonEnum, webhookEventStatusEnum } from './enums.js';
import { prices, products, type DunningOverride } from './catalog.js';
import { billingScanPolicy, stripeDunningScanPolicy, stripeReferenceLookupPolicy, customerIsolationPolicy, ownedByCustomer, tenantIsolationPolicy } from './rls.js';
import { tenantId } from './tenancy.js';

/** A customer's billing address as they enter it in the portal (country: ISO 3166-1 alpha-2). */
export const customers = pgTable(
  'customers',
  {
    id: id(),
    tenantId: tenantId(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    company: text('company'),
    phone: text('phone'),
    stripeCustomerId: text('stripe_customer_id'),
    /** Billing details, copied onto each invoice when it is issued (modules/billing); the customer
     *  edits them in the client portal (modules/portal). */
    taxId: text('tax_id'),
    /** ISO 3166-1 alpha-2, upper case: picks the tax rate. */
    country: text('country'),
    billingAddress: jsonb('billing_address').$type<BillingAddress>(),
    /** BCP 47 tag the customer's emails and documents are written in; null: the tenant's (notification settings). */
    locale: text('locale'),
    /** Dunning settings for this customer's subscriptions, over the tenant's and the product's; a subscription's override wins over it. */
    dunningOverride: jsonb('dunning_override').$type<DunningOverride>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: deletedAt(),
  },
  (t) => [
    uniqueIndex('customers_tenant_email_lower_unique').on(t.tenantId, sql`lower(${t.email})`),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.id)),
  ],
).enableRLS();

/** A postal address as printed on an invoice. */
export interface BillingAddress {
  line1: string;
  line2?: string | undefined;
  city: string;
  postalCode?: string | undefined;
  region?: string | undefined;
  country: string;
}

/** Payment tracking (the seed's stripe_orders). The payment reference is the idempotency key. */
export const orders = pgTable(
  'orders',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    priceId: uuid('price_id')
      .notNull()
      .references(() => prices.id),
    status: orderStatusEnum('status').notNull().default('PENDING'),
    paymentProvider: text('payment_provider').notNull(),
    paymentReference: text('payment_reference').notNull(),
    amount: amount(),
    currency: currency(),
    domainName: text('domain_name'),
    /** Hash of the normalised request: same reference + different hash = idempotency conflict. */
    requestHash: text('request_hash').notNull(),
    stripeCustomerId: text('stripe_customer_id'),
    stripeSubscriptionId: text('stripe_subscription_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    fulfilledAt: tstz('fulfilled_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    ...moneyChecks('orders', t.amount, t.currency),
    // Across tenants: one payment (a Stripe checkout session) buys orders in one tenant only.
    unique('orders_payment_unique').on(t.paymentProvider, t.paymentReference),
    index('orders_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('orders_customer_idx').on(t.customerId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

/** The cause of a subscription's last status change: who or what, and why. */
export interface SubscriptionStatusReason {
  /** The state machine event, e.g. `provisioning.failed`, `suspended`. */
  event: string;
  /** A sentence for people, e.g. "step PROVISION_DNS failed: PowerDNS unreachable". */
  reason: string;
  actorType: 'USER' | 'SYSTEM' | 'WEBHOOK' | 'CLI' | 'CUSTOMER';
  actorUserId?: string | null;
  jobId?: string;
  jobType?: string;
  /** The payment event, invoice or rule behind a billing change. */
  paymentEventId?: string;
  invoiceId?: string;
  rule?: string;
  /** ISO 8601. */
  at: string;
}

export const subscriptions = pgTable(
  'subscriptions',
  {
    id: id(),
    tenantId: tenantId(),
    customerId: uuid('customer_id')
      .notNull()
      .references(() => customers.id),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id),
    priceId: uuid('price_id')
      .notNull()
      .references(() => prices.id),
    /** Nullable so staff can create a subscription without an order; one subscription per order. */
    orderId: uuid('order_id')
      .unique('subscriptions_order_unique')
      .references(() => orders.id),
    status: subscriptionStatusEnum('status').notNull().default('PENDING'),
    /** Why the status is what it is: the last transition's cause (modules/subscriptions/subscription-state.ts). */
    statusReason: jsonb('status_reason').$type<SubscriptionStatusReason>(),
    currentPeriodStart: tstz('current_period_start').notNull().defaultNow(),
    /** NULL for ONE_TIME prices. */
    currentPeriodEnd: tstz('current_period_end'),
    stripeSubscriptionId: text('stripe_subscription_id'),
    /** STRIPE mode: Stripe's own status of the subscription (active, past_due, canceled...), as last applied. */
    stripeStatus: text('stripe_status'),
    /** STRIPE mode: the end of Stripe's current period as last applied; an event about an earlier period is not applied (payment-events/stripe-billing.ts). */
    stripeCurrentPeriodEnd: tstz('stripe_current_period_end'),
    /** A Stripe dispute (chargeback) is open on a payment of this subscription: flagged for staff, nothing terminated. */
    disputedAt: tstz('disputed_at'),
    /** Who owns the schedule and the charging: mPanel's own invoices, or Stripe Billing (mirrored). */
    billingMode: billingModeEnum('billing_mode').notNull().default('MPANEL'),
    /** Service is paid up to this instant; dunning and suspension key off it and nothing else. */
    paidThrough: tstz('paid_through'),
    /** Why it is SUSPENDED (null otherwise): only NON_PAYMENT is lifted by a payment. */
    suspensionReason: suspensionReasonEnum('suspension_reason'),
    /** Staff hold: no dunning action before this instant. */
    billingHoldUntil: tstz('billing_hold_until'),
    /** Staff override of the tenant's dunning settings for this subscription (modules/billing/dunning-policy.ts). */
    dunningOverride: jsonb('dunning_override').$type<DunningOverride>(),
    /** Cancelled at the end of the paid period: no renewal; suspended (CANCELLED) at paidThrough, terminated after the retention. */
    cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
    cancelRequestedAt: tstz('cancel_requested_at'),
    /** A downgrade waiting for the end of the paid period (modules/billing/plan-change.service.ts): the price that applies then. */
    pendingPriceId: uuid('pending_price_id').references(() => prices.id),
    /** When the pending plan change applies: the paidThrough at the time it was asked for. */
    pendingPlanChangeAt: tstz('pending_plan_change_at'),
    /**
     * When the billing run next has something to do for it (modules/billing/billing-run.ts): set by
     * the run from the dunning timeline; NULL = not known, looked at by the next run. Any other change
     * of the row, of its renewal invoices or of the tenant's billing settings sets it back to NULL
     * (triggers, migration `billing_next_at`).
     */
    billingNextAt: tstz('billing_next_at'),
    suspendedAt: tstz('suspended_at'),
    terminatedAt: tstz('terminated_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('subscriptions_tenant_status_idx').on(t.tenantId, t.status),
    index('subscriptions_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('subscriptions_customer_idx').on(t.customerId),
    index('subscriptions_stripe_idx').on(t.stripeSubscriptionId).where(sql`${t.stripeSubscriptionId} is not null`),
    index('subscriptions_billing_due_idx').on(t.paidThrough).where(sql`${t.status} in ('ACTIVE', 'PAST_DUE', 'SUSPENDED')`),
    index('subscriptions_pending_plan_idx').on(t.pendingPlanChangeAt).where(sql`${t.pendingPriceId} is not null`),
    check('subscriptions_pending_plan_check', sql`(${t.pendingPriceId} is null) = (${t.pendingPlanChangeAt} is null)`),
    index('subscriptions_billing_next_idx').on(t.tenantId, t.billingNextAt).where(sql`${t.billingMode} = 'MPANEL' and ${t.status} in ('ACTIVE', 'PAST_DUE', 'SUSPENDED')`),
    billingScanPolicy(t.status, t.billingMode),
    stripeDunningScanPolicy(t.status, t.billingMode),
    stripeReferenceLookupPolicy(t.stripeSubscriptionId),
    tenantIsolationPolicy(t.tenantId),
    customerIsolationPolicy(ownedByCustomer(t.customerId)),
  ],
).enableRLS();

/**
 * Stripe event de-duplication. No RLS: events arrive before their tenant is known; tenant_id is
 * filled in once resolved (no foreign key, an event may name a tenant that is gone).
 */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: id(),
    provider: text('provider').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    tenantId: uuid('tenant_id'),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    status: webhookEventStatusEnum('status').notNull().default('RECEIVED'),
    error: text('error'),
    receivedAt: tstz('received_at').notNull().defaultNow(),
    processedAt: tstz('processed_at'),
  },
  (t) => [unique('webhook_events_provider_event_unique').on(t.provider, t.eventId)],
);

export type Customer = typeof customers.$inferSelect;
export type NewCustomer = typeof customers.$inferInsert;
export type Order = typeof orders.$inferSelect;
export type NewOrder = typeof orders.$inferInsert;
export type Subscription = typeof subscriptions.$inferSelect;
export type NewSubscription = typeof subscriptions.$inferInsert;
export type WebhookEvent = typeof webhookEvents.$inferSelect;
export type NewWebhookEvent = typeof webhookEvents.$inferInsert;
