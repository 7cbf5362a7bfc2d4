import { and, asc, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs, customers, jobs, products, subscriptions, type Subscription, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { runBilling } from './billing-run.js';
import { at, monthlyPeriodEnds, subscribedThrough } from '../../../test/helpers/billing.js';

// Product and customer dunning overrides (tenant < product < customer < subscription): the API that
// sets them, the billing run (both passes) and the billing schedule that follow them.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});
const db = () => t.container.database.db;
const deps = () => ({ db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 3 });
const DAY = 86_400_000;
const periodEnd = monthlyPeriodEnds(2033);
const run = (tenant: Tenant, asOf: Date) => runBilling(deps(), { asOf, tenantId: tenant.id, trigger: 'test' });
const subscribed = (tenant: Tenant, paidThrough: Date, customer?: { id: string }, set: Partial<Subscription> = {}) =>
  subscribedThrough(db(), tenant, paidThrough, { ...(customer ? { customer } : {}), set });

/** The subscriptions among `ids` the run has asked to suspend (a SUSPEND_SITE job). */
async function suspended(tenant: Tenant, ids: readonly string[]): Promise<string[]> {
  const rows = await withTenant(db(), tenant.id, (tx) =>
    tx
      .select({ id: jobs.subscriptionId })
      .from(jobs)
      .where(and(inArray(jobs.subscriptionId, [...ids]), eq(jobs.type, 'SUSPEND_SITE'))),
  );
  return ids.filter((id) => rows.some((row) => row.id === id));
}

async function staff(tenant: Tenant, role: 'BILLING' | 'READ_ONLY' | 'ADMIN' = 'BILLING') {
  const { user } = await buildUser(db(), tenant, { role });
  return authHeader(t.env, user);
}

const send = (method: 'GET' | 'PUT' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({ method, url, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) }, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) });

interface Schedule {
  steps: { action: string; at: string }[];
  settings: { suspendAfterDays: number };
  settingSources: Record<string, string>;
  dunningOverrides: { product: unknown; customer: unknown };
}

describe('product and customer dunning overrides', () => {
  it('move the suspension in the run and the schedule, field by field; the customer wins over the product, the subscription over both', async () => {
    const tenant = await buildTenant(db());
    const headers = await staff(tenant);
    const paidThrough = periodEnd();
    const plain = await subscribed(tenant, paidThrough);
    const byProduct = await subscribed(tenant, paidThrough);
    const byCustomer = await subscribed(tenant, paidThrough);
    // Same product and customer as byCustomer, with its own override on top.
    const bySubscription = await subscribed(tenant, paidThrough, byCustomer.customer, {
      priceId: byCustomer.subscription.priceId,
      productId: byCustomer.subscription.productId,
      dunningOverride: { suspendAfterDays: 9 },
    });

    const product = await send('PUT', `/api/products/${byProduct.subscription.productId}/dunning-override`, headers, { suspendAfterDays: 12, overdueNoticeDays: [2] });
    expect(product.statusCode, product.body).toBe(200);
    expect(product.json()).toEqual({ id: byProduct.subscription.productId, dunningOverride: { suspendAfterDays: 12, overdueNoticeDays: [2] } });
    // byCustomer's product says 12, its customer 20: the customer's wins; the product's notices stay.
    expect((await send('PUT', `/api/products/${byCustomer.subscription.productId}/dunning-override`, headers, { suspendAfterDays: 12, overdueNoticeDays: [2] })).statusCode).toBe(200);
    const customer = await send('PUT', `/api/customers/${byCustomer.customer.id}/dunning-override`, headers, { suspendAfterDays: 20 });
    expect(customer.statusCode, customer.body).toBe(200);

    const schedule = async (id: string) => {
      const answer = await send('GET', `/api/subscriptions/${id}/billing-schedule`, headers);
      expect(answer.statusCode, answer.body).toBe(200);
      return answer.json<Schedule>();
    };
    const suspendDay = (view: Schedule) => Math.round((Date.parse(view.steps.find((step) => step.action === 'suspend')?.at ?? '') - paidThrough.getTime()) / DAY);
    const views = await Promise.all([plain, byProduct, byCustomer, bySubscription].map((built) => schedule(built.subscription.id)));
    expect(views.map(suspendDay)).toEqual([7, 12, 20, 9]);
    expect(views.map((view) => view.settingSources.suspendAfterDays)).toEqual(['tenant', 'product', 'customer', 'subscription']);
    expect(views.map((view) => view.settingSources.overdueNoticeDays)).toEqual(['tenant', 'product', 'product', 'product']);
    expect(views[3]!.dunningOverrides).toEqual({ product: { suspendAfterDays: 12, overdueNoticeDays: [2] }, customer: { suspendAfterDays: 20 } });

    // The run, with the injected clock: each suspended on its own day, not before.
    const ids = [plain, byProduct, byCustomer, bySubscription].map((built) => built.subscription.id);
    const days: [number, string[]][] = [
      [-14, []],
      [7.5, [plain.subscription.id]],
      [9.5, [plain.subscription.id, bySubscription.subscription.id]],
      [12.5, [plain.subscription.id, byProduct.subscription.id, bySubscription.subscription.id]],
      [19.5, [plain.subscription.id, byProduct.subscription.id, bySubscription.subscription.id]],
      [20.5, ids],
    ];
    for (const [day, expected] of days) {
      await run(tenant, at(paidThrough, day));
      expect(await suspended(tenant, ids), `day ${day}`).toEqual(expected);
    }
  });

  it("an override set after the run planned the subscription's next step is acted on at the next run (billing_next_at reset), and DELETE puts the layer below back", async () => {
    const tenant = await buildTenant(db());
    const headers = await staff(tenant);
    const paidThrough = periodEnd();
    const built = await subscribed(tenant, paidThrough);
    for (const day of [-14, 0.5, 3.5]) await run(tenant, at(paidThrough, day));
    // The run noted that nothing is due before the suspension at +7.
    const [planned] = await withTenant(db(), tenant.id, (tx) => tx.select({ next: subscriptions.billingNextAt }).from(subscriptions).where(eq(subscriptions.id, built.subscription.id)));
    expect(planned?.next).toEqual(at(paidThrough, 7));

    expect((await send('PUT', `/api/customers/${built.customer.id}/dunning-override`, headers, { suspendAfterDays: 4 })).statusCode).toBe(200);
    await run(tenant, at(paidThrough, 4.5));
    expect(await suspended(tenant, [built.subscription.id])).toEqual([built.subscription.id]);

    const cleared = await send('DELETE', `/api/customers/${built.customer.id}/dunning-override`, headers);
    expect(cleared.statusCode).toBe(200);
    expect(cleared.json()).toEqual({ id: built.customer.id, dunningOverride: null });
    const other = await subscribed(tenant, periodEnd(), built.customer);
    const view = (await send('GET', `/api/subscriptions/${other.subscription.id}/billing-schedule`, headers)).json<Schedule>();
    expect([view.settings.suspendAfterDays, view.settingSources.suspendAfterDays]).toEqual([7, 'tenant']);

    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, built.customer.id)).orderBy(asc(auditLogs.createdAt)));
    expect(audit.map((row) => [row.action, row.before, row.after])).toEqual([
      ['customer.dunning_override_updated', { dunningOverride: null }, { dunningOverride: { suspendAfterDays: 4 } }],
      ['customer.dunning_override_updated', { dunningOverride: { suspendAfterDays: 4 } }, { dunningOverride: null }],
    ]);
  });

  it("the STRIPE pass follows them too: a PAST_DUE Stripe subscription is suspended at its customer's day", async () => {
    const tenant = await buildTenant(db());
    const headers = await staff(tenant);
    const paidThrough = periodEnd();
    const built = await subscribed(tenant, paidThrough, undefined, { billingMode: 'STRIPE', status: 'PAST_DUE' });
    expect((await send('PUT', `/api/products/${built.subscription.productId}/dunning-override`, headers, { suspendAfterDays: 10 })).statusCode).toBe(200);
    expect((await send('PUT', `/api/customers/${built.customer.id}/dunning-override`, headers, { suspendAfterDays: 15 })).statusCode).toBe(200);
    await run(tenant, at(paidThrough, 14.5));
    expect(await suspended(tenant, [built.subscription.id])).toEqual([]);
    await run(tenant, at(paidThrough, 15.5));
    expect(await suspended(tenant, [built.subscription.id])).toEqual([built.subscription.id]);
  });

  it('bad input is 400 naming the field and changes nothing; roles as for billing; another tenant gets 404', async () => {
    const tenant = await buildTenant(db());
    const headers = await staff(tenant);
    const built = await subscribed(tenant, periodEnd());
    const productUrl = `/api/products/${built.subscription.productId}/dunning-override`;
    const customerUrl = `/api/customers/${built.customer.id}/dunning-override`;
    for (const url of [productUrl, customerUrl]) expect((await send('PUT', url, headers, { suspendAfterDays: 5 })).statusCode).toBe(200);

    const cases: [unknown, string][] = [
      [{ terminationEnabled: true, terminateAfterDays: 10, terminationWarningDays: 12 }, 'body/terminationWarningDays'],
      [{ suspendAfterDays: 40, terminateAfterDays: 30 }, 'body/terminateAfterDays'],
      [{ suspendAfterDays: -1 }, 'body/suspendAfterDays'],
      [{ suspendAfterDays: 366 }, 'body/suspendAfterDays'],
      [{ reminderDays: [0] }, 'body/reminderDays/0'],
      [{ suspendAfterDays: 3, graceDays: 2 }, 'body'],
    ];
    for (const url of [productUrl, customerUrl]) {
      for (const [payload, field] of cases) {
        const bad = await send('PUT', url, headers, payload);
        expect(bad.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(400);
        expect(bad.headers['content-type']).toContain('application/problem+json');
        expect(bad.json<{ errors: { field: string }[] }>().errors.map((error) => error.field), JSON.stringify(payload)).toContain(field);
      }
      expect((await send('PUT', url, headers, {})).statusCode).toBe(400);
      expect((await send('GET', url, headers)).json<{ dunningOverride: unknown }>().dunningOverride).toEqual({ suspendAfterDays: 5 });
    }

    // READ_ONLY reads, does not write.
    const reader = await staff(tenant, 'READ_ONLY');
    expect((await send('GET', productUrl, reader)).statusCode).toBe(200);
    expect((await send('PUT', productUrl, reader, { suspendAfterDays: 9 })).statusCode).toBe(403);
    expect((await send('DELETE', customerUrl, reader)).statusCode).toBe(403);

    // Another tenant's staff (an ADMIN) cannot see or change them.
    const other = await staff(await buildTenant(db()), 'ADMIN');
    for (const url of [productUrl, customerUrl]) {
      expect((await send('GET', url, other)).statusCode).toBe(404);
      expect((await send('PUT', url, other, { suspendAfterDays: 30 })).statusCode).toBe(404);
      expect((await send('DELETE', url, other)).statusCode).toBe(404);
    }
    const stored = await withTenant(db(), tenant.id, async (tx) => {
      const [p] = await tx.select({ o: products.dunningOverride }).from(products).where(eq(products.id, built.subscription.productId));
      const [c] = await tx.select({ o: customers.dunningOverride }).from(customers).where(eq(customers.id, built.customer.id));
      return [p?.o, c?.o];
    });
    expect(stored).toEqual([{ suspendAfterDays: 5 }, { suspendAfterDays: 5 }]);

    // Valid over the tenant's settings, but not merged with the customer's override of a subscription of the product.
    expect((await send('PUT', customerUrl, headers, { terminateAfterDays: 25 })).statusCode).toBe(200);
    const merged = await send('PUT', productUrl, headers, { suspendAfterDays: 30 });
    expect(merged.statusCode).toBe(400);
    expect(merged.json<{ errors: { field: string; message: string }[] }>().errors).toEqual([
      { field: 'body/terminateAfterDays', message: 'must be at least suspendAfterDays (30), once merged with the customer or subscription overrides of a subscription it applies to' },
    ]);
    expect((await send('GET', productUrl, headers)).json<{ dunningOverride: unknown }>().dunningOverride).toEqual({ suspendAfterDays: 5 });
  });
});
