import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditLogs,
  billingActions,
  billingRuns,
  billingSettings,
  customers,
  domainEvents,
  invoiceLines,
  invoices,
  jobs,
  subscriptions,
  type Subscription,
  type Tenant,
} from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { systemActor } from '../audit/audit.service.js';
import { runBilling, type BillingRunOptions } from './billing-run.js';
import { formatSummary } from './billing-run-cli.js';
import { registerBillingRunMetrics } from './billing-run-metrics.js';
import { Registry } from 'prom-client';
import { spawnTs } from '../../../test/helpers/process.js';
import { applyPayment } from './payments.service.js';
import { at, monthlyPeriodEnds, subscribedThrough } from '../../../test/helpers/billing.js';

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
const periodEnd = monthlyPeriodEnds(2031);
const subscribed = (tenant: Tenant, paidThrough: Date, options: { status?: Subscription['status']; customer?: { id: string } } = {}) => subscribedThrough(db(), tenant, paidThrough, options);

async function setup(options: { status?: Subscription['status'] } = {}) {
  const tenant = await buildTenant(db());
  const paidThrough = periodEnd();
  const built = await subscribed(tenant, paidThrough, options);
  return { tenant, paidThrough, subscription: built.subscription, customer: built.customer };
}

const run = (tenant: Tenant, asOf: Date, extra: Partial<BillingRunOptions> = {}) => runBilling(deps(), { asOf, tenantId: tenant.id, trigger: 'test', ...extra });

function read(tenant: Tenant, subscriptionId: string) {
  return withTenant(db(), tenant.id, async (tx) => {
    const [subscription] = await tx.select().from(subscriptions).where(eq(subscriptions.id, subscriptionId));
    const bills = await tx.select().from(invoices).where(eq(invoices.subscriptionId, subscriptionId)).orderBy(asc(invoices.createdAt));
    const events = await tx.select().from(domainEvents).orderBy(asc(domainEvents.seq));
    const lifecycle = await tx
      .select()
      .from(jobs)
      .where(and(eq(jobs.subscriptionId, subscriptionId), inArray(jobs.type, ['SUSPEND_SITE', 'UNSUSPEND_SITE', 'TERMINATE_SITE'])))
      .orderBy(asc(jobs.createdAt));
    const ledger = await tx.select().from(billingActions).where(eq(billingActions.subscriptionId, subscriptionId)).orderBy(asc(billingActions.createdAt));
    const mine = events.filter((event) => event.subjectId === subscriptionId || bills.some((bill) => bill.id === event.subjectId));
    return { subscription: subscription!, invoices: bills, events: mine.map((event) => event.type), payloads: mine.map((event) => event.payload), lifecycle, ledger };
  });
}

/** The suspension job finished: the state machine's outcome, as the provisioning pipeline applies it (tested there). */
async function jobsFinished(tenant: Tenant, subscriptionId: string, status: Subscription['status']) {
  await withTenant(db(), tenant.id, async (tx) => {
    await tx.update(jobs).set({ status: 'SUCCEEDED' }).where(eq(jobs.subscriptionId, subscriptionId));
    await tx.update(subscriptions).set({ status }).where(eq(subscriptions.id, subscriptionId));
  });
}

describe('billing run: renewals', () => {
  it('issues the renewal invoice 14 days before paidThrough, due then, for exactly one interval; five runs at once make one invoice with one line (peer failure 4)', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14.5));
    expect((await read(s.tenant, s.subscription.id)).invoices).toHaveLength(0);

    const reports = await Promise.all(Array.from({ length: 5 }, () => run(s.tenant, at(s.paidThrough, -14))));
    expect(reports.reduce((sum, report) => sum + (report.counts.issue_renewal ?? 0), 0)).toBe(1);
    const after = await read(s.tenant, s.subscription.id);
    expect(after.invoices).toHaveLength(1);
    const [invoice] = after.invoices;
    expect(invoice).toMatchObject({ kind: 'RENEWAL', status: 'ISSUED', total: 999, currency: 'USD', periodStart: s.paidThrough, dueAt: s.paidThrough, issuedAt: at(s.paidThrough, -14) });
    const end = new Date(s.paidThrough);
    end.setUTCMonth(end.getUTCMonth() + 1);
    expect(invoice!.periodEnd).toEqual(end);
    const lines = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(invoiceLines).where(eq(invoiceLines.invoiceId, invoice!.id)));
    expect(lines).toHaveLength(1);
    expect(after.events.filter((type) => type === 'invoice.issued')).toHaveLength(1);
    expect(after.subscription.status).toBe('ACTIVE');
  });

  it('a run killed half-way is resumed by the next: each subscription gets its one invoice', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = periodEnd();
    const built: Awaited<ReturnType<typeof subscribed>>[] = [];
    for (let i = 0; i < 3; i += 1) built.push(await subscribed(tenant, paidThrough));
    let seen = 0;
    const killed = run(tenant, at(paidThrough, -10), {
      concurrency: 1,
      onProgress: (done) => {
        seen = done;
        if (done === 1) throw new Error('killed');
      },
    });
    await expect(killed).rejects.toThrow('killed');
    expect(seen).toBe(1);
    const [failed] = await db().select().from(billingRuns).where(eq(billingRuns.tenantId, tenant.id));
    expect(failed).toMatchObject({ status: 'FAILED', error: 'killed' });
    const counts = async () => Promise.all(built.map(async (b) => (await read(tenant, b.subscription.id)).invoices.length));
    expect((await counts()).sort()).toEqual([0, 0, 1]);

    const resumed = await run(tenant, at(paidThrough, -10));
    expect(resumed.counts.issue_renewal).toBe(2);
    expect(await counts()).toEqual([1, 1, 1]);
    const [last] = await db().select().from(billingRuns).where(eq(billingRuns.id, resumed.runId!));
    // The one the killed run finished has its next action recorded (billing_next_at): not read again.
    expect(last).toMatchObject({ status: 'SUCCEEDED', counts: expect.objectContaining({ issue_renewal: 2, subscriptions: 2 }) as unknown });
  });

  it('a dry run changes nothing and says what it would do', async () => {
    const s = await setup();
    const before = await read(s.tenant, s.subscription.id);
    const report = await run(s.tenant, at(s.paidThrough, 8), { dryRun: true });
    expect(report.runId).toBeNull();
    // Down since before the lead time: issued late, it is due after the payment terms, so nothing else yet.
    expect(report.actions.map((action) => action.action)).toEqual(['issue_renewal']);
    expect(formatSummary(report)).toContain('(dry run)');
    const after = await read(s.tenant, s.subscription.id);
    expect(after).toEqual(before);
  });

  it('a terminated subscription is never billed (peer failure 5), nor a Stripe-billed one', async () => {
    const s = await setup({ status: 'TERMINATED' });
    const tenantWide = await run(s.tenant, at(s.paidThrough, -1));
    expect(tenantWide.subscriptions).toBe(0);
    const stripe = await subscribed(s.tenant, s.paidThrough);
    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ billingMode: 'STRIPE' }).where(eq(subscriptions.id, stripe.subscription.id)));
    await run(s.tenant, at(s.paidThrough, -1));
    expect((await read(s.tenant, s.subscription.id)).invoices).toHaveLength(0);
    expect((await read(s.tenant, stripe.subscription.id)).invoices).toHaveLength(0);
  });
});

describe('billing run: dunning', () => {
  it('reminders at −7 and −1, PAST_DUE at the due date, notices at +1 and +3, NON_PAYMENT suspension at +7: each once, however often it runs', async () => {
    const s = await setup();
    const days = [-14, -8, -7, -7, -3, -1, -1, 0, 0, 1, 2, 3, 3, 5, 7, 7, 8];
    for (const day of days) await run(s.tenant, at(s.paidThrough, day + 0.01));
    const after = await read(s.tenant, s.subscription.id);
    expect(after.events).toEqual([
      'invoice.issued',
      'invoice.reminder',
      'invoice.reminder',
      'subscription.past_due',
      'invoice.overdue',
      'invoice.overdue',
    ]);
    expect(after.ledger.map((row) => `${row.action}:${row.outcome}`)).toEqual(['issue_renewal:DONE', 'reminder:DONE', 'reminder:DONE', 'overdue:DONE', 'overdue:DONE']);
    // Each overdue notice names the day the service is suspended if the invoice stays unpaid.
    expect(after.payloads.slice(-2)).toEqual([expect.objectContaining({ suspendAt: at(s.paidThrough, 7).toISOString() }), expect.objectContaining({ suspendAt: at(s.paidThrough, 7).toISOString() })]);
    expect(after.subscription).toMatchObject({ status: 'PAST_DUE', suspensionReason: 'NON_PAYMENT' });
    expect(after.subscription.statusReason).toMatchObject({ event: 'past_due', rule: 'dunning.past_due', invoiceId: after.invoices[0]!.id, actorType: 'SYSTEM' });
    // One suspension job (the runs after it found it in progress), through the lifecycle jobs.
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE']);
    const audit = await withTenant(db(), s.tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, s.subscription.id)));
    expect(audit.map((row) => row.action).sort()).toEqual(['subscription.past_due', 'subscription.suspend_requested']);
  });

  it('a scheduler down for days acts once, in order, sending only the latest notice that is still useful', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14));
    const report = await run(s.tenant, at(s.paidThrough, 4));
    expect(report.actions.map((action) => `${action.action}:${action.outcome}`)).toEqual(['reminder:SKIPPED', 'reminder:SKIPPED', 'past_due:DONE', 'overdue:SKIPPED', 'overdue:DONE']);
    const after = await read(s.tenant, s.subscription.id);
    expect(after.events).toEqual(['invoice.issued', 'subscription.past_due', 'invoice.overdue']);
    expect(after.lifecycle).toHaveLength(0);
    await run(s.tenant, at(s.paidThrough, 4));
    expect((await read(s.tenant, s.subscription.id)).events).toHaveLength(3);
  });

  it('a payment before the suspension date stops dunning; the scheduler never extends paidThrough (peer failures 1, 2)', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14));
    await run(s.tenant, at(s.paidThrough, 2));
    const [invoice] = (await read(s.tenant, s.subscription.id)).invoices;
    await withTenant(db(), s.tenant.id, (tx) =>
      applyPayment(tx, s.tenant.id, { invoiceId: invoice!.id, source: 'STAFF', reference: 'late-transfer', amount: 999, currency: 'USD', receivedAt: at(s.paidThrough, 3), requestHash: 'h' }, systemActor, 3, at(s.paidThrough, 3)),
    );
    const paid = await read(s.tenant, s.subscription.id);
    expect(paid.subscription.status).toBe('ACTIVE');
    const paidThrough = paid.subscription.paidThrough!;
    for (const day of [4, 7, 8, 12]) await run(s.tenant, at(s.paidThrough, day));
    const after = await read(s.tenant, s.subscription.id);
    expect(after.subscription).toMatchObject({ status: 'ACTIVE', paidThrough });
    expect(after.lifecycle).toHaveLength(0);
    expect(after.invoices).toHaveLength(1);
  });

  it('paid after the suspension: the next run lifts it if the payment could not (peer failure 9)', async () => {
    const s = await setup();
    for (const day of [-14, 7]) await run(s.tenant, at(s.paidThrough, day));
    // The suspension job is still running when the payment arrives: the payment cannot unsuspend.
    const [invoice] = (await read(s.tenant, s.subscription.id)).invoices;
    await withTenant(db(), s.tenant.id, (tx) =>
      applyPayment(tx, s.tenant.id, { invoiceId: invoice!.id, source: 'STAFF', reference: 'paid', amount: 999, currency: 'USD', receivedAt: at(s.paidThrough, 8), requestHash: 'h' }, systemActor, 3, at(s.paidThrough, 8)),
    );
    await jobsFinished(s.tenant, s.subscription.id, 'SUSPENDED');
    expect((await read(s.tenant, s.subscription.id)).subscription).toMatchObject({ status: 'SUSPENDED', suspensionReason: 'NON_PAYMENT' });
    const report = await run(s.tenant, at(s.paidThrough, 9));
    expect(report.actions.map((action) => action.action)).toEqual(['recover']);
    const after = await read(s.tenant, s.subscription.id);
    expect(after.lifecycle.map((job) => `${job.type}:${job.status}`)).toEqual(['SUSPEND_SITE:SUCCEEDED', 'UNSUSPEND_SITE:QUEUED']);
  });

  it('a staff suspension is not lifted by the run, and a PAST_DUE subscription paid up is recovered', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14));
    await run(s.tenant, at(s.paidThrough, 1));
    // paidThrough moved by another path (a staff correction): the run reconciles the status.
    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ paidThrough: at(s.paidThrough, 30) }).where(eq(subscriptions.id, s.subscription.id)));
    const [invoice] = (await read(s.tenant, s.subscription.id)).invoices;
    await withTenant(db(), s.tenant.id, (tx) => tx.update(invoices).set({ status: 'VOID', voidedAt: at(s.paidThrough, 1) }).where(eq(invoices.id, invoice!.id)));
    await run(s.tenant, at(s.paidThrough, 2));
    expect((await read(s.tenant, s.subscription.id)).subscription.status).toBe('ACTIVE');

    const staff = await setup();
    await withTenant(db(), staff.tenant.id, (tx) => tx.update(subscriptions).set({ status: 'SUSPENDED', suspensionReason: 'STAFF' }).where(eq(subscriptions.id, staff.subscription.id)));
    const report = await run(staff.tenant, at(staff.paidThrough, 20));
    expect(report.actions).toEqual([]);
  });

  it("no suspension without a renewal invoice: one issued late is due after the payment terms (peer failure 8); one overdue subscription leaves the customer's others alone (peer failure 7)", async () => {
    const s = await setup();
    const prepaid = await subscribed(s.tenant, at(s.paidThrough, 200), { customer: s.customer });
    // The scheduler was down since before the lead time: the invoice goes out late, due in 14 days.
    await run(s.tenant, at(s.paidThrough, 8));
    let after = await read(s.tenant, s.subscription.id);
    expect(after.invoices[0]).toMatchObject({ dueAt: at(s.paidThrough, 22) });
    expect(after.subscription.status).toBe('ACTIVE');
    expect(after.lifecycle).toHaveLength(0);

    await run(s.tenant, at(s.paidThrough, 29.5));
    after = await read(s.tenant, s.subscription.id);
    expect(after.subscription.status).toBe('PAST_DUE');
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE']);
    const other = await read(s.tenant, prepaid.subscription.id);
    expect(other.subscription.status).toBe('ACTIVE');
    expect(other.invoices).toHaveLength(0);
    expect(other.lifecycle).toHaveLength(0);
  });

  it('a billing hold defers dunning until it ends, then acts in order', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14));
    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ billingHoldUntil: at(s.paidThrough, 20) }).where(eq(subscriptions.id, s.subscription.id)));
    for (const day of [-7, 0, 3, 8, 19]) await run(s.tenant, at(s.paidThrough, day));
    let after = await read(s.tenant, s.subscription.id);
    expect(after.events).toEqual(['invoice.issued']);
    expect(after.subscription.status).toBe('ACTIVE');
    const report = await run(s.tenant, at(s.paidThrough, 21));
    expect(report.actions.map((action) => `${action.action}:${action.outcome}`)).toEqual([
      'reminder:SKIPPED',
      'reminder:SKIPPED',
      'past_due:DONE',
      'overdue:SKIPPED',
      'overdue:SKIPPED',
      'suspend:DONE',
    ]);
    after = await read(s.tenant, s.subscription.id);
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE']);
  });

  it('termination, when the tenant turns it on: a warning at +23, TERMINATE_SITE at +30; a per-subscription override wins', async () => {
    const s = await setup();
    await withTenant(db(), s.tenant.id, (tx) => tx.insert(billingSettings).values({ tenantId: s.tenant.id, terminationEnabled: true }));
    for (const day of [-14, 7]) await run(s.tenant, at(s.paidThrough, day));
    await jobsFinished(s.tenant, s.subscription.id, 'SUSPENDED');
    await run(s.tenant, at(s.paidThrough, 23));
    await run(s.tenant, at(s.paidThrough, 24));
    let after = await read(s.tenant, s.subscription.id);
    expect(after.events.at(-1)).toBe('invoice.termination_warning');
    expect(after.payloads.at(-1)).toMatchObject({ invoiceId: after.invoices[0]!.id, terminateAt: at(s.paidThrough, 30).toISOString() });
    expect(after.ledger.map((row) => row.action)).toContain('termination_warning');
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE']);
    await run(s.tenant, at(s.paidThrough, 30));
    after = await read(s.tenant, s.subscription.id);
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE', 'TERMINATE_SITE']);

    const kept = await subscribed(s.tenant, s.paidThrough);
    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ dunningOverride: { terminationEnabled: false, suspendAfterDays: 40, terminateAfterDays: 60 } }).where(eq(subscriptions.id, kept.subscription.id)));
    for (const day of [-14, 8, 31]) await run(s.tenant, at(s.paidThrough, day));
    const override = await read(s.tenant, kept.subscription.id);
    expect(override.subscription.status).toBe('PAST_DUE');
    expect(override.lifecycle).toHaveLength(0);
  });
});

describe('the billing API: schedule, hold, override, cancellation, dunning settings', () => {
  it('GET /api/subscriptions/:id/billing-schedule answers what the run will do; PATCH …/billing holds, overrides and cancels, audited', async () => {
    const tenant = await buildTenant(db());
    const { user } = await buildUser(db(), tenant, { role: 'BILLING' });
    const headers = await authHeader(t.env, user);
    const paidThrough = new Date(Math.ceil((Date.now() + 20 * DAY) / 1000) * 1000);
    const { subscription } = await subscribed(tenant, paidThrough);
    const url = `/api/subscriptions/${subscription.id}`;

    const schedule = await t.app.inject({ method: 'GET', url: `${url}/billing-schedule`, headers });
    expect(schedule.statusCode).toBe(200);
    const body = schedule.json<{ steps: { action: string; at: string }[]; settings: { reminderDays: number[] } }>();
    expect(body.settings.reminderDays).toEqual([7, 1]);
    expect(body.steps.map((step) => `${step.action}@${Math.round((Date.parse(step.at) - paidThrough.getTime()) / DAY)}`)).toEqual([
      'issue_renewal@-14',
      'reminder@-7',
      'reminder@-1',
      'past_due@0',
      'overdue@1',
      'overdue@3',
      'suspend@7',
    ]);

    const bad = await t.app.inject({ method: 'PATCH', url: `${url}/billing`, headers, payload: { dunningOverride: { terminationEnabled: true, terminateAfterDays: 10, terminationWarningDays: 12 } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['body/dunningOverride/terminationWarningDays']);

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `${url}/billing`,
      headers,
      payload: { billingHoldUntil: new Date(paidThrough.getTime() + 10 * DAY).toISOString(), dunningOverride: { suspendAfterDays: 14 } },
    });
    expect(patched.statusCode).toBe(200);
    const held = patched.json<{ steps: { action: string; at: string }[] }>().steps;
    expect(held.find((step) => step.action === 'suspend')?.at).toBe(new Date(paidThrough.getTime() + 14 * DAY).toISOString());
    expect(held.find((step) => step.action === 'past_due')?.at).toBe(new Date(paidThrough.getTime() + 10 * DAY).toISOString());

    const cancelled = await t.app.inject({ method: 'PATCH', url: `${url}/billing`, headers, payload: { cancelAtPeriodEnd: true } });
    expect(cancelled.json<{ steps: { action: string }[] }>().steps.map((step) => step.action)).toEqual(['cancel_suspend', 'cancel_terminate']);
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, subscription.id)).orderBy(asc(auditLogs.createdAt)));
    expect(audit.map((row) => row.action)).toEqual(['subscription.billing_updated', 'subscription.billing_updated', 'subscription.cancel_requested']);

    const settings = await t.app.inject({ method: 'PATCH', url: '/api/billing/settings', headers, payload: { suspendAfterDays: 40, terminateAfterDays: 30 } });
    expect(settings.statusCode).toBe(400);
    expect(settings.json<{ errors: { field: string }[] }>().errors.map((error) => error.field)).toEqual(['body/terminateAfterDays']);
    const saved = await t.app.inject({ method: 'PATCH', url: '/api/billing/settings', headers, payload: { reminderDays: [10, 3], terminationEnabled: true } });
    expect(saved.json()).toMatchObject({ reminderDays: [10, 3], terminationEnabled: true, suspendAfterDays: 7, terminateAfterDays: 30 });
  });
});

describe('the run in operation: CLI, /metrics, /ready', () => {
  // Three processes through tsx: slow on a loaded machine, hence the timeout (no timing is asserted).
  it('mpanel billing run --dry-run prints what it would do and changes nothing; --help says what it does', { timeout: 120_000 }, async () => {
    const s = await setup();
    const env = { DATABASE_URL: t.env.DATABASE_URL, REDIS_KEY_PREFIX: t.env.REDIS_KEY_PREFIX, LOG_LEVEL: 'warn' };
    const help = spawnTs('bin/mpanel.js', ['billing', 'run', '--help'], env);
    expect((await help.exited).code).toBe(0);
    for (const option of ['--dry-run', '--as-of <date>', '--tenant <slug>', 'BILLING_RUN_INTERVAL_MS']) expect(help.output()).toContain(option);
    const cli = spawnTs('bin/mpanel.js', ['billing', 'run', '--dry-run', '--tenant', s.tenant.slug, '--as-of', at(s.paidThrough, -14).toISOString()], env);
    expect((await cli.exited).code).toBe(0);
    expect(cli.output()).toContain(`${s.subscription.id}  issue_renewal (renewal.lead_days)`);
    expect(cli.output()).toMatch(/billing run \(dry run\) as of .*: 1 subscription\(s\) looked at, would do 1 action\(s\) \[issue_renewal=1\]/);
    expect((await read(s.tenant, s.subscription.id)).invoices).toHaveLength(0);
    const bad = spawnTs('bin/mpanel.js', ['billing', 'run', '--as-of', 'yesterday'], env);
    expect((await bad.exited).code).not.toBe(0);
    expect(bad.output()).toContain('must be an ISO 8601 date');
  });

  it('/metrics has the last run and its outcome; /ready reports a run older than twice the interval', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14));
    const registry = new Registry();
    registerBillingRunMetrics(registry, db());
    const text = await registry.metrics();
    expect(text).toMatch(/mpanel_billing_run_last_success 1/);
    expect(text).toMatch(/mpanel_billing_run_last_actions\{action="issue_renewal"\} 1/);
    expect(text).toMatch(/mpanel_billing_run_last_finished_seconds \d{10}/);

    const fresh = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(fresh.json()).toMatchObject({ status: 'ready', billingRun: { ok: true, lastStatus: 'SUCCEEDED' } });
    await db().update(billingRuns).set({ finishedAt: new Date(Date.now() - 2 * t.env.BILLING_RUN_INTERVAL_MS - 60_000) });
    const stale = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toMatchObject({ status: 'ready', billingRun: { ok: false } });
  });
});

describe('billing run: cancellation and tenants', () => {
  it('cancelled at period end: no renewal, suspended (CANCELLED) at paidThrough, terminated after the retention', async () => {
    const s = await setup();
    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ cancelAtPeriodEnd: true }).where(eq(subscriptions.id, s.subscription.id)));
    await run(s.tenant, at(s.paidThrough, -14));
    await run(s.tenant, at(s.paidThrough, -1));
    expect((await read(s.tenant, s.subscription.id)).invoices).toHaveLength(0);
    await run(s.tenant, at(s.paidThrough, 0));
    let after = await read(s.tenant, s.subscription.id);
    expect(after.subscription.suspensionReason).toBe('CANCELLED');
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE']);
    await jobsFinished(s.tenant, s.subscription.id, 'SUSPENDED');
    await run(s.tenant, at(s.paidThrough, 29));
    await run(s.tenant, at(s.paidThrough, 30));
    after = await read(s.tenant, s.subscription.id);
    expect(after.lifecycle.map((job) => job.type)).toEqual(['SUSPEND_SITE', 'TERMINATE_SITE']);
    expect(after.invoices).toHaveLength(0);
  });

  it('one run covers every tenant through the billing_scan policy, and writes each under its own tenant', async () => {
    const a = await setup();
    const b = await buildTenant(db());
    const other = await subscribed(b, a.paidThrough);
    const report = await runBilling(deps(), { asOf: at(a.paidThrough, -14), trigger: 'test' });
    expect(report.errors).toBe(0);
    const invoiceA = (await read(a.tenant, a.subscription.id)).invoices;
    const invoiceB = (await read(b, other.subscription.id)).invoices;
    expect(invoiceA).toHaveLength(1);
    expect(invoiceB).toHaveLength(1);
    expect(invoiceA[0]!.tenantId).toBe(a.tenant.id);
    expect(invoiceB[0]!.tenantId).toBe(b.id);
    // Without the scan setting the app role sees no subscription at all; with it, only MPANEL-billed
    // live ones, and it can change none.
    const unscoped = await db().transaction((tx) => tx.select({ id: subscriptions.id }).from(subscriptions));
    expect(unscoped).toHaveLength(0);
    const terminated = await subscribed(b, a.paidThrough, { status: 'TERMINATED' });
    const scanned = await db().transaction(async (tx) => {
      await tx.execute(sql`select set_config('app.billing_scan', 'on', true)`);
      const visible = await tx.select({ id: subscriptions.id, status: subscriptions.status, billingMode: subscriptions.billingMode }).from(subscriptions);
      const updated = await tx.update(subscriptions).set({ billingHoldUntil: new Date() }).returning({ id: subscriptions.id });
      return { visible, updated };
    });
    expect(scanned.visible.map((row) => row.id)).toEqual(expect.arrayContaining([a.subscription.id, other.subscription.id]));
    expect(scanned.visible.map((row) => row.id)).not.toContain(terminated.subscription.id);
    expect(scanned.visible.every((row) => row.billingMode === 'MPANEL' && ['ACTIVE', 'PAST_DUE', 'SUSPENDED'].includes(row.status))).toBe(true);
    expect(scanned.updated).toHaveLength(0);
  });
});

describe('billing run: the next action (billing_next_at) and batches', () => {
  const nextAt = async (tenant: Tenant, id: string) => (await read(tenant, id)).subscription.billingNextAt;

  it('records when a subscription next has something due; a run before then reads nothing; any other change sends it back to the scan', async () => {
    const s = await setup();
    await run(s.tenant, at(s.paidThrough, -14));
    // The renewal is issued: next comes the reminder 7 days before the due date.
    expect(await nextAt(s.tenant, s.subscription.id)).toEqual(at(s.paidThrough, -7));
    expect((await run(s.tenant, at(s.paidThrough, -14))).subscriptions).toBe(0);
    expect((await run(s.tenant, at(s.paidThrough, -8))).subscriptions).toBe(0);

    // A staff hold (any change of the row) clears it; the next run computes it again, moved by the hold.
    await withTenant(db(), s.tenant.id, (tx) => tx.update(subscriptions).set({ billingHoldUntil: at(s.paidThrough, -5) }).where(eq(subscriptions.id, s.subscription.id)));
    expect(await nextAt(s.tenant, s.subscription.id)).toBeNull();
    const held = await run(s.tenant, at(s.paidThrough, -8));
    expect(held.subscriptions).toBe(1);
    expect(held.actions).toHaveLength(0);
    expect(await nextAt(s.tenant, s.subscription.id)).toEqual(at(s.paidThrough, -5));

    // The tenant's settings change: every subscription of the tenant is looked at again.
    await withTenant(db(), s.tenant.id, (tx) => tx.insert(billingSettings).values({ tenantId: s.tenant.id, reminderDays: [10] }));
    expect(await nextAt(s.tenant, s.subscription.id)).toBeNull();
    expect((await run(s.tenant, at(s.paidThrough, -8))).subscriptions).toBe(1);

    // Paid: the invoice and paidThrough change. Not known, an ACTIVE subscription is read once the
    // tenant's renewal lead time has begun (the rule before billing_next_at), not before.
    const [invoice] = (await read(s.tenant, s.subscription.id)).invoices;
    await withTenant(db(), s.tenant.id, (tx) =>
      applyPayment(tx, s.tenant.id, { invoiceId: invoice!.id, source: 'STAFF', reference: 'next-at', amount: 999, currency: 'USD', receivedAt: at(s.paidThrough, -6), requestHash: 'h' }, systemActor, 3, at(s.paidThrough, -6)),
    );
    expect(await nextAt(s.tenant, s.subscription.id)).toBeNull();
    expect((await run(s.tenant, at(s.paidThrough, -6))).subscriptions).toBe(0);
    const renewed = (await read(s.tenant, s.subscription.id)).subscription.paidThrough!;
    const next = await run(s.tenant, at(renewed, -14));
    expect(next.actions.map((action) => action.action)).toEqual(['issue_renewal']);
    expect(await nextAt(s.tenant, s.subscription.id)).toEqual(at(renewed, -10));
  });

  it('many subscriptions of a tenant in batches, two runs at once: each gets one invoice, and both runs together issue each once', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = periodEnd();
    const built: Awaited<ReturnType<typeof subscribed>>[] = [];
    for (let i = 0; i < 12; i += 1) built.push(await subscribed(tenant, paidThrough));
    const [first, second] = await Promise.all([run(tenant, at(paidThrough, -10), { batchSize: 4 }), run(tenant, at(paidThrough, -10), { batchSize: 4 })]);
    expect(first.errors + second.errors).toBe(0);
    expect((first.counts.issue_renewal ?? 0) + (second.counts.issue_renewal ?? 0)).toBe(12);
    const counts = await Promise.all(built.map(async (b) => (await read(tenant, b.subscription.id)).invoices.length));
    expect(counts).toEqual(Array.from({ length: 12 }, () => 1));
    const numbers = await withTenant(db(), tenant.id, (tx) => tx.select({ number: invoices.number }).from(invoices));
    expect(new Set(numbers.map((row) => row.number)).size).toBe(12);
    expect((await run(tenant, at(paidThrough, -10))).subscriptions).toBe(0);
  });
  it('a batch writes its renewals, then its notices, together: each subscription in order; one whose renewal cannot be issued fails alone, leaves no ledger row, and the next run issues it', async () => {
    const tenant = await buildTenant(db());
    const paidThrough = periodEnd();
    const built: Awaited<ReturnType<typeof subscribed>>[] = [];
    for (let i = 0; i < 6; i += 1) built.push(await subscribed(tenant, paidThrough));
    const bad = built[4]!;
    const deleted = (deletedAt: Date | null) => withTenant(db(), tenant.id, (tx) => tx.update(customers).set({ deletedAt }).where(eq(customers.id, bad.customer.id)));
    await deleted(new Date());

    const first = await run(tenant, at(paidThrough, -10), { batchSize: 6 });
    expect(first.errors).toBe(1);
    expect(first.counts.issue_renewal).toBe(5);
    const after = await Promise.all(built.map(async (b) => read(tenant, b.subscription.id)));
    expect(after.map((state) => state.invoices.length)).toEqual([1, 1, 1, 1, 0, 1]);
    expect(after[4]!.ledger).toHaveLength(0);
    const numbers = after.flatMap((state) => state.invoices.map((invoice) => Number(invoice.number?.slice(-6)))).sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3, 4, 5]);

    await deleted(null);
    const second = await run(tenant, at(paidThrough, -7), { batchSize: 6 });
    expect(second.errors).toBe(0);
    // The late one's reminder is due the instant it is issued: sent too (it did not fall due before the invoice).
    expect(second.counts).toEqual({ issue_renewal: 1, reminder: 6 });
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select({ action: auditLogs.action, targetId: auditLogs.targetId }).from(auditLogs).orderBy(asc(auditLogs.seq)));
    for (const b of built) {
      const [invoice] = (await read(tenant, b.subscription.id)).invoices;
      const mine = audit.filter((row) => row.targetId === invoice!.id).map((row) => row.action);
      expect(mine).toEqual(['invoice.created', 'invoice.issued', 'invoice.notice_sent']);
      expect((await read(tenant, b.subscription.id)).events).toEqual(['invoice.issued', 'invoice.reminder']);
    }
  });
});
