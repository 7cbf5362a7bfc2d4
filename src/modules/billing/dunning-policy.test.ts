import { describe, expect, it } from 'vitest';
import { defaultDunningSettings, dueSteps, dunningProblems, effectiveSettings, renewalDueAt, resolveDunning, timeline, type PolicySubscription } from './dunning-policy.js';

// Pure unit tests of the policy; the run that acts on it is tested against PostgreSQL in billing-run.test.ts.
const DAY = 86_400_000;
const paidThrough = new Date('2031-03-01T00:00:00Z');
const at = (days: number) => new Date(paidThrough.getTime() + days * DAY);
const sub = (overrides: Partial<PolicySubscription> = {}): PolicySubscription => ({
  status: 'ACTIVE',
  suspensionReason: null,
  paidThrough,
  billingHoldUntil: null,
  cancelAtPeriodEnd: false,
  interval: 'MONTH',
  ...overrides,
});
const summary = (steps: ReturnType<typeof timeline>) => steps.map((step) => `${step.action}@${Math.round((step.at.getTime() - paidThrough.getTime()) / DAY)}:${step.outcome}`);

describe('dunning policy', () => {
  it('lays out the default timeline from paidThrough', () => {
    expect(summary(timeline(sub(), null, defaultDunningSettings, at(-30)))).toEqual([
      'issue_renewal@-14:DONE',
      'reminder@-7:DONE',
      'reminder@-1:DONE',
      'past_due@0:DONE',
      'overdue@1:DONE',
      'overdue@3:DONE',
      'suspend@7:DONE',
    ]);
    const withTermination = { ...defaultDunningSettings, terminationEnabled: true };
    expect(summary(timeline(sub(), null, withTermination, at(-30))).slice(-2)).toEqual(['termination_warning@23:DONE', 'terminate@30:DONE']);
  });

  it('an invoice issued after the period end is due after the payment terms', () => {
    expect(renewalDueAt(paidThrough, at(-14), defaultDunningSettings)).toEqual(paidThrough);
    expect(renewalDueAt(paidThrough, at(5), defaultDunningSettings)).toEqual(at(19));
    const late = dueSteps(sub(), { id: 'inv', status: 'ISSUED', dueAt: at(19), issuedAt: at(5) }, defaultDunningSettings, at(5));
    expect(late).toEqual([]);
  });

  it('nothing for one-time prices, staff or abuse suspensions, or a paid invoice', () => {
    expect(timeline(sub({ interval: 'ONE_TIME' }), null, defaultDunningSettings, at(10))).toEqual([]);
    expect(timeline(sub({ status: 'SUSPENDED', suspensionReason: 'STAFF' }), null, defaultDunningSettings, at(10))).toEqual([]);
    expect(timeline(sub({ status: 'SUSPENDED', suspensionReason: 'ABUSE' }), null, defaultDunningSettings, at(10))).toEqual([]);
    expect(timeline(sub(), { id: 'inv', status: 'PAID', dueAt: paidThrough, issuedAt: at(-14) }, defaultDunningSettings, at(10))).toEqual([]);
  });

  it('steps already in the ledger are left out', () => {
    const invoice = { id: 'inv', status: 'ISSUED' as const, dueAt: paidThrough, issuedAt: at(-14) };
    const done = new Set(['inv:reminder:7', 'inv:reminder:1']);
    expect(summary(dueSteps(sub(), invoice, defaultDunningSettings, at(0), done))).toEqual(['past_due@0:DONE']);
  });

  it('a subscription paid up again recovers; a cancelled one ends at paidThrough then after the retention', () => {
    expect(summary(dueSteps(sub({ status: 'PAST_DUE', paidThrough: at(30) }), null, defaultDunningSettings, at(1)))).toEqual(['recover@1:DONE']);
    expect(summary(timeline(sub({ cancelAtPeriodEnd: true }), null, defaultDunningSettings, at(-20)))).toEqual(['cancel_suspend@0:DONE', 'cancel_terminate@30:DONE']);
  });

  it('overrides merge over the tenant; settings that break the order are named', () => {
    expect(effectiveSettings(defaultDunningSettings, { subscription: { suspendAfterDays: 10, reminderDays: undefined } })).toMatchObject({ suspendAfterDays: 10, reminderDays: [7, 1] });
    expect(dunningProblems({ suspendAfterDays: 10, terminateAfterDays: 5, terminationWarningDays: 6 }, 'body')).toEqual([
      { field: 'body/terminateAfterDays', message: 'must be at least suspendAfterDays (10)' },
      { field: 'body/terminationWarningDays', message: 'must be at most terminateAfterDays (5)' },
    ]);
  });

  it('layers merge field by field: tenant < product < customer < subscription, each field from the most specific layer that sets it', () => {
    const tenant = { ...defaultDunningSettings, suspendAfterDays: 5 };
    // Nothing overridden: everything is the tenant's.
    const plain = resolveDunning(tenant, {});
    expect(plain.settings).toEqual(tenant);
    expect(new Set(Object.values(plain.sources))).toEqual(new Set(['tenant']));

    const { settings, sources } = resolveDunning(tenant, {
      product: { suspendAfterDays: 10, reminderDays: [14], terminationEnabled: true, terminateAfterDays: 60 },
      customer: { suspendAfterDays: 20, overdueNoticeDays: [2] },
      subscription: { suspendAfterDays: 30, terminationEnabled: undefined },
    });
    expect(settings).toEqual({ ...tenant, suspendAfterDays: 30, reminderDays: [14], overdueNoticeDays: [2], terminationEnabled: true, terminateAfterDays: 60 });
    expect(sources).toEqual({
      reminderDays: 'product',
      overdueNoticeDays: 'customer',
      suspendAfterDays: 'subscription',
      terminationEnabled: 'product',
      terminateAfterDays: 'product',
      terminationWarningDays: 'tenant',
    });
    // The customer's wins over the product's whatever the order the layers are given in; null or undefined fields fall through.
    const customerWins = resolveDunning(tenant, { customer: { suspendAfterDays: 20 }, product: { suspendAfterDays: 10 }, subscription: null });
    expect([customerWins.settings.suspendAfterDays, customerWins.sources.suspendAfterDays]).toEqual([20, 'customer']);
    // A false override is a value, not an absence: the customer turns the product's termination off.
    const off = resolveDunning(tenant, { product: { terminationEnabled: true }, customer: { terminationEnabled: false } });
    expect([off.settings.terminationEnabled, off.sources.terminationEnabled]).toEqual([false, 'customer']);
    // The timeline follows the merged settings: suspension at the customer's +20.
    const steps = timeline(sub(), null, effectiveSettings(tenant, { product: { suspendAfterDays: 10 }, customer: { suspendAfterDays: 20 } }), at(-30));
    expect(summary(steps).filter((step) => step.startsWith('suspend'))).toEqual(['suspend@20:DONE']);
  });
});
