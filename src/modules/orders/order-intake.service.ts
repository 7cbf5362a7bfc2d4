import { createHash, randomUUID } from 'node:crypto';
import { and, asc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import {
  customers,
  domains,
  jobs,
  orders,
  servers,
  subscriptions,
  websites,
  jobTypes,
  type BillingInterval,
  type Job,
  type ServerRole,
} from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { enqueue } from '../../jobs/outbox.js';
import type { JobProducer } from '../../jobs/queue.js';
import { canonicalJson } from '../../shared/canonical-json.js';
import { AppError } from '../../shared/errors/app-error.js';
import { findPgError } from '../../shared/errors/pg-errors.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { assertHostable, HOSTED_NAME_OVERLAP, hostedNameConflict } from '../domains/hosted-names.js';
import { recordEvent } from '../events/domain-events.js';
import { findOrderablePrice } from '../catalog/prices.service.js';
import { planProvisioning, stepPayload, type OrderFacts } from '../provisioning/plan.js';
import { resolvePublicTenant } from '../tenants/tenant-resolution.js';
import type { OrderAccepted, OrderBody } from './orders.types.js';
import type { CustomerLinkMail, CustomerLinkMailer } from '../customer-auth/customer-link-mailer.js';
import { inviteOwnerOnFirstOrder } from '../customer-auth/customer-auth.service.js';

export interface OrderIntakeDeps {
  db: Database;
  producer: JobProducer;
  logger: Logger;
  maxAttempts: number;
  /** The platform's own host names from the configuration (domains/hosted-names.ts). */
  platformNames: readonly string[];
  /** The customer's portal invitation (first order only) is handed to it after commit; none without it. */
  portal?: { url: string; mailer: CustomerLinkMailer };
}

export interface IntakeResult {
  /** true for the first delivery (201), false for a replay of the same payment reference (200). */
  created: boolean;
  body: OrderAccepted;
}

const PAYMENT_UNIQUE = 'orders_payment_unique';

/** End of the first billing period; null for one-time prices. */
export function periodEnd(start: Date, interval: BillingInterval): Date | null {
  if (interval === 'ONE_TIME') return null;
  const end = new Date(start);
  if (interval === 'MONTH') end.setUTCMonth(end.getUTCMonth() + 1);
  else end.setUTCFullYear(end.getUTCFullYear() + 1);
  return end;
}

function requestHashOf(body: OrderBody, tenantId: string): string {
  return createHash('sha256').update(canonicalJson({ ...body, tenant: tenantId })).digest('hex');
}

/** The reply for an order: the same body for the first delivery and every replay. */
async function acceptedBody(tx: Tx, orderId: string): Promise<OrderAccepted> {
  const [subscription] = await tx.select({ id: subscriptions.id }).from(subscriptions).where(eq(subscriptions.orderId, orderId));
  if (!subscription) throw new Error(`order ${orderId} has no subscription`);
  const rows = await tx.select({ id: jobs.id, type: jobs.type }).from(jobs).where(eq(jobs.orderId, orderId)).orderBy(asc(jobs.createdAt));
  const rank = (type: string) => jobTypes.findIndex((step) => step === type);
  return {
    orderId,
    subscriptionId: subscription.id,
    // Status as accepted: a replay answers exactly as the first delivery did.
    jobs: rows.sort((a, b) => rank(a.type) - rank(b.type)).map((row) => ({ id: row.id, type: row.type, status: 'PENDING' as const })),
  };
}

const paymentReused = () =>
  new AppError('CONFLICT', 'This payment reference was already used for a different order', {
    fields: [{ field: 'body/payment/reference', message: 'is already used by another order' }],
  });

/** The order for this payment reference, if any; 409 when it was made from a different request. */
async function findReplay(tx: Tx, tenantId: string, body: OrderBody, requestHash: string): Promise<OrderAccepted | undefined> {
  const [existing] = await tx
    .select({ id: orders.id, requestHash: orders.requestHash })
    .from(orders)
    .where(and(eq(orders.tenantId, tenantId), eq(orders.paymentProvider, body.payment.provider), eq(orders.paymentReference, body.payment.reference)));
  if (!existing) return undefined;
  if (existing.requestHash !== requestHash) {
    throw paymentReused();
  }
  return acceptedBody(tx, existing.id);
}

/**
 * The order → subscription flow's first step, in ONE transaction: customer (created or reused by
 * email), order (paid), subscription (PENDING), domain, and one job row per provisioning step.
 * Idempotent on the payment reference: a replay, sequential or concurrent, creates nothing and
 * answers the same body. After commit, the steps with no dependencies are handed to the queue;
 * if that fails the order is still accepted and the outbox sweeper enqueues them.
 */
export async function acceptOrder(deps: OrderIntakeDeps, body: OrderBody, actor: AuditActor): Promise<IntakeResult> {
  const { db } = deps;
  const tenant = await resolvePublicTenant(db, body.tenant, 'body/tenant');
  const requestHash = requestHashOf(body, tenant.id);

  let outcome: { created: boolean; body: OrderAccepted; jobs: Job[]; invitation?: CustomerLinkMail | null };
  try {
    outcome = await withTenant(db, tenant.id, async (tx) => {
      const replay = await findReplay(tx, tenant.id, body, requestHash);
      if (replay) return { created: false, body: replay, jobs: [] };
      return createOrder(tx, deps, tenant.id, body, requestHash, actor);
    });
  } catch (error) {
    const constraint = findPgError(error)?.constraint;
    // Another tenant's order of an overlapping name committed between our check and our insert.
    if (constraint === HOSTED_NAME_OVERLAP) throw hostedNameConflict(body.domain, 'HOSTED', 'body/domain');
    // A concurrent delivery of the same payment committed first: answer as its replay.
    if (constraint !== PAYMENT_UNIQUE) throw error;
    const replay = await withTenant(db, tenant.id, (tx) => findReplay(tx, tenant.id, body, requestHash));
    // Not in this tenant: the payment bought an order in another one, which is not named.
    if (!replay) throw paymentReused();
    outcome = { created: false, body: replay, jobs: [] };
  }

  if (outcome.created) {
    const ready = outcome.jobs.filter((job) => job.dependsOn.length === 0);
    await enqueue(db, deps.producer, deps.logger, ready);
  }
  if (outcome.invitation && deps.portal) {
    // Not awaited: the marketing site's answer does not wait on the SMTP relay. A lost invitation
    // is resent by staff (POST /api/customers/:id/invitation) or replaced by a password reset.
    void deps.portal.mailer.send(outcome.invitation).catch((error: unknown) => deps.logger.error({ err: error }, 'could not send the portal invitation'));
  }
  return { created: outcome.created, body: outcome.body };
}

/**
 * The tenant's ACTIVE server of a role with the fewest websites and room left (capacity NULL =
 * unlimited), or undefined when none is registered.
 */
async function leastLoadedServer(tx: Tx, role: ServerRole): Promise<{ id: string } | undefined> {
  const load = sql<number>`(select count(*) from ${websites} where ${websites.serverId} = ${servers.id} and ${websites.status} <> 'TERMINATED')`;
  const [server] = await tx
    .select({ id: servers.id })
    .from(servers)
    .where(and(eq(servers.role, role), eq(servers.status, 'ACTIVE'), or(isNull(servers.capacity), gt(servers.capacity, load))))
    .orderBy(asc(load), asc(servers.createdAt))
    .limit(1);
  return server;
}

async function createOrder(tx: Tx, deps: OrderIntakeDeps, tenantId: string, body: OrderBody, requestHash: string, actor: AuditActor) {
  const offer = await findOrderablePrice(tx, tenantId, body.priceId);
  if (!offer) {
    throw new AppError('VALIDATION_FAILED', 'The price is not an active price of this tenant', { fields: [{ field: 'body/priceId', message: 'is not an active price of this tenant' }] });
  }
  const { price, product } = offer;
  if (body.payment.amount !== price.amount || body.payment.currency !== price.currency) {
    throw new AppError('VALIDATION_FAILED', `The payment does not match the price (${price.amount} ${price.currency})`, {
      fields: [
        ...(body.payment.amount !== price.amount ? [{ field: 'body/payment/amount', message: `must be ${price.amount}` }] : []),
        ...(body.payment.currency !== price.currency ? [{ field: 'body/payment/currency', message: `must be ${price.currency}` }] : []),
      ],
    });
  }
  const [taken] = await tx.select({ id: domains.id }).from(domains).where(eq(domains.name, body.domain));
  if (taken) {
    // Each statement sees the latest commits (READ COMMITTED): a concurrent delivery of this same
    // order may have committed since findReplay looked, and the domain is then its. A replay, not a conflict.
    const replay = await findReplay(tx, tenantId, body, requestHash);
    if (replay) return { created: false, body: replay, jobs: [] };
    throw new AppError('CONFLICT', `The domain ${body.domain} is already hosted here`, { fields: [{ field: 'body/domain', message: 'is already hosted in this tenant' }] });
  }
  // Before anything is created; the locks it takes hold overlapping orders of other tenants until commit.
  await assertHostable(tx, { tenantId, name: body.domain, platformNames: deps.platformNames, lock: true, field: 'body/domain' });

  const webServer = await leastLoadedServer(tx, 'WEB');
  const mailServer = await leastLoadedServer(tx, 'MAIL');
  const plan = planProvisioning({
    productType: product.type,
    features: product.features,
    mailboxCount: body.mailboxes?.length ?? 0,
    webServerId: webServer?.id ?? null,
    mailServerId: mailServer?.id ?? null,
  });

  // Reuse the customer by email; ON CONFLICT waits for a concurrent insert of the same email.
  await tx
    .insert(customers)
    .values({ tenantId, email: body.customer.email, name: body.customer.name, company: body.customer.company, phone: body.customer.phone, stripeCustomerId: body.payment.stripeCustomerId, locale: body.customer.locale })
    .onConflictDoNothing();
  const [customer] = await tx.select().from(customers).where(eq(sql`lower(${customers.email})`, body.customer.email));
  if (!customer) throw new Error('customer upsert returned no row');
  // A returning customer keeps the language they chose; one without a choice takes this order's.
  if (body.customer.locale && customer.locale === null) await tx.update(customers).set({ locale: body.customer.locale }).where(eq(customers.id, customer.id));

  const [order] = await tx
    .insert(orders)
    .values({
      tenantId,
      customerId: customer.id,
      priceId: price.id,
      status: 'PAID',
      paymentProvider: body.payment.provider,
      paymentReference: body.payment.reference,
      amount: body.payment.amount,
      currency: body.payment.currency,
      domainName: body.domain,
      requestHash,
      stripeCustomerId: body.payment.stripeCustomerId,
      stripeSubscriptionId: body.payment.stripeSubscriptionId,
      metadata: body.mailboxes ? { mailboxes: body.mailboxes.map((box) => box.localPart) } : null,
    })
    .returning();
  if (!order) throw new Error('insert into orders returned no row');

  const start = new Date();
  const [subscription] = await tx
    .insert(subscriptions)
    .values({
      tenantId,
      customerId: customer.id,
      productId: product.id,
      priceId: price.id,
      orderId: order.id,
      status: 'PENDING',
      currentPeriodStart: start,
      currentPeriodEnd: periodEnd(start, price.interval),
      // The order paid the first period: the billing run renews from its end. A Stripe subscription
      // (Checkout in subscription mode) is billed by Stripe, never by mPanel's run as well.
      paidThrough: periodEnd(start, price.interval),
      billingMode: body.payment.stripeSubscriptionId ? 'STRIPE' : 'MPANEL',
      stripeSubscriptionId: body.payment.stripeSubscriptionId,
    })
    .returning();
  if (!subscription) throw new Error('insert into subscriptions returned no row');

  const [domain] = await tx.insert(domains).values({ tenantId, customerId: customer.id, subscriptionId: subscription.id, name: body.domain }).returning();
  if (!domain) throw new Error('insert into domains returned no row');

  // Job rows in plan order; dependencies refer to the ids of earlier rows.
  const facts: OrderFacts = {
    subscriptionId: subscription.id,
    domainId: domain.id,
    domain: domain.name,
    mailboxes: body.mailboxes?.map((box) => box.localPart) ?? [],
    webServerId: webServer?.id ?? null,
    mailServerId: mailServer?.id ?? null,
  };
  // Ids chosen here, so dependencies can name earlier rows and all rows go in one statement.
  const idsByType = new Map<string, string>();
  const rows = plan.map((step) => {
    const id = randomUUID();
    const row = {
      id,
      tenantId,
      subscriptionId: subscription.id,
      orderId: order.id,
      type: step.type,
      queue: step.queue,
      maxAttempts: deps.maxAttempts,
      payload: stepPayload(step.type, facts),
      dependsOn: step.dependsOn.map((type) => {
        const dependency = idsByType.get(type);
        if (!dependency) throw new Error(`plan step ${step.type} depends on ${type}, which is not planned before it`);
        return dependency;
      }),
      history: [{ status: 'PENDING' as const, at: start.toISOString() }],
    };
    idsByType.set(step.type, id);
    return row;
  });
  const inserted = rows.length > 0 ? await tx.insert(jobs).values(rows).returning() : [];
  const byId = new Map(inserted.map((job) => [job.id, job]));
  const created: Job[] = rows.map((row) => {
    const job = byId.get(row.id);
    if (!job) throw new Error('insert into jobs returned no row');
    return job;
  });

  await recordAudit(tx, {
    tenantId,
    actor,
    action: 'order.created',
    targetType: 'order',
    targetId: order.id,
    after: {
      orderId: order.id,
      subscriptionId: subscription.id,
      customerId: customer.id,
      priceId: price.id,
      domain: domain.name,
      amount: order.amount,
      currency: order.currency,
      paymentReference: order.paymentReference,
      jobs: created.map((job) => job.type),
    },
  });
  await recordEvent(tx, tenantId, {
    type: 'order.received',
    subject: { type: 'order', id: order.id },
    payload: {
      orderId: order.id,
      subscriptionId: subscription.id,
      customerId: customer.id,
      domain: domain.name,
      amount: { amount: order.amount, currency: order.currency },
      steps: created.map((job) => job.type),
    },
  });
  const invitation = deps.portal ? await inviteOwnerOnFirstOrder(tx, deps.portal.url, customer) : null;
  return { created: true, body: await acceptedBody(tx, order.id), jobs: created, invitation };
}
