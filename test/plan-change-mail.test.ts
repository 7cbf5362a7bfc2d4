import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../src/container.js';
import { invoices, jobs, mailboxes, subscriptions, type Server, type Tenant } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { serverQueue } from '../src/jobs/queue.js';
import { createRegistry } from '../src/jobs/registry.js';
import { runBilling } from '../src/modules/billing/billing-run.js';
import { domainSpec, lockMailDomain } from '../src/modules/mail/mail-state.js';
import { provisionMail } from '../src/modules/mail/steps/provision-mail.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildPrice, buildProduct, buildTenant, buildUser } from './factories.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { authHeader } from './helpers/auth.js';
import { buildMailDomain, takeMailStackTurn } from './helpers/mail.js';
import { eventually } from './helpers/orders.js';

// This file changes the real mail stack: it takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

/**
 * A downgrade of a mail plan through the real pipeline: scheduled for paidThrough, the renewal of
 * the next period billed at the new price, then the billing run applies the plan and PROVISION_MAIL
 * runs again (BullMQ, the jobs outbox, the mail server's queue) and Dovecot enforces the new quotas.
 */
Object.assign(process.env, { JOB_MAX_ATTEMPTS: '2', JOB_BACKOFF_BASE_MS: '50', WORKER_METRICS_PORT: '0' });

let t: TestApp;
let tenant: Tenant;
let server: Server | undefined;
let domain = '';
let workerContainer: Container;
let workers: RunningWorkers | undefined;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(t.container.database.db);
});

afterAll(async () => {
  await workers?.close();
  if (server) await t.container.providers.mail.forServer(server).removeDomain(domain, null);
  await workerContainer?.close();
  await t.close();
});

const db = () => t.container.database.db;
const MB = 1024 * 1024;

describe('a downgrade of a mail plan', () => {
  it('at paidThrough: the renewal has the new price, PROVISION_MAIL runs again and Dovecot has the new quotas', { timeout: 120_000 }, async () => {
    const mail = t.container.providers.mail;
    const built = await buildMailDomain(db(), t.env, mail, tenant, { features: { mailboxes: 5, mailboxQuotaMb: 100 } });
    ({ server, domain } = built);
    const paidThrough = new Date(Date.UTC(new Date().getUTCFullYear() + 1, 2, 10));
    const smaller = await buildPrice(db(), tenant, await buildProduct(db(), tenant, { type: 'EMAIL', features: { mailboxes: 3, mailboxQuotaMb: 40 } }), { amount: 499 });
    await withTenant(db(), tenant.id, async (tx) => {
      await tx.update(subscriptions).set({ paidThrough }).where(eq(subscriptions.id, built.subscriptionId));
      // "info" has the plan's quota (it follows the plan); "small" was set below it by hand (it is kept).
      await tx.insert(mailboxes).values([
        { tenantId: tenant.id, domainId: built.mailDomain.domainId, subscriptionId: built.subscriptionId, localPart: 'info', quotaMb: 100, passwordHash: mail.hashPassword('info-password-1'), status: 'ACTIVE' },
        { tenantId: tenant.id, domainId: built.mailDomain.domainId, subscriptionId: built.subscriptionId, localPart: 'small', quotaMb: 20, passwordHash: mail.hashPassword('small-password-1'), status: 'ACTIVE' },
      ]);
      const loaded = await lockMailDomain(tx, built.mailDomain.id);
      await mail.forServer(built.server).applyDomain(await domainSpec(tx, t.env, loaded!));
    });
    expect((await mail.forServer(built.server).quota(`info@${domain}`)).limitBytes).toBe(100 * MB);

    const { user } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/subscriptions/${built.subscriptionId}/plan-change`,
      headers: { ...(await authHeader(t.env, user)), 'content-type': 'application/json' },
      payload: JSON.stringify({ priceId: smaller.id }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'downgrade', effective: 'period_end', mailboxes: { used: 2, allowed: 3 }, jobs: [] });

    workerContainer = createContainer(t.env, 'worker');
    workers = await startWorkers(workerContainer, { registry: createRegistry([provisionMail]), queues: [serverQueue(built.server.id)] });
    const deps = { db: db(), producer: t.container.producer, logger: t.container.logger, maxAttempts: 2 };
    await runBilling(deps, { asOf: new Date(paidThrough.getTime() - 14 * 86_400_000), tenantId: tenant.id, trigger: 'test' });
    const [renewal] = await withTenant(db(), tenant.id, (tx) => tx.select().from(invoices).where(and(eq(invoices.subscriptionId, built.subscriptionId), eq(invoices.kind, 'RENEWAL'))));
    expect(renewal).toMatchObject({ subtotal: 499, periodStart: paidThrough });

    await runBilling(deps, { asOf: new Date(paidThrough.getTime() + 1000), tenantId: tenant.id, trigger: 'test' });
    const rerun = async () => withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(and(eq(jobs.subscriptionId, built.subscriptionId), eq(jobs.type, 'PROVISION_MAIL'))).orderBy(asc(jobs.createdAt)));
    await eventually(async () => (await rerun())[0]?.status === 'SUCCEEDED', 60_000, 'the PROVISION_MAIL re-run');
    const [job] = await rerun();
    expect(job?.payload).toMatchObject({ planChange: { previousQuotaMb: 100 }, mailboxes: [] });
    const sub = (await withTenant(db(), tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, built.subscriptionId))))[0]!;
    // The renewal was not paid here: PAST_DUE, on the new plan all the same.
    expect(sub).toMatchObject({ priceId: smaller.id, status: 'PAST_DUE', pendingPriceId: null });

    const boxes = await withTenant(db(), tenant.id, (tx) => tx.select().from(mailboxes).where(eq(mailboxes.subscriptionId, built.subscriptionId)).orderBy(asc(mailboxes.localPart)));
    expect(boxes.map((box) => [box.localPart, box.quotaMb])).toEqual([
      ['info', 40],
      ['small', 20],
    ]);
    expect((await mail.forServer(built.server).quota(`info@${domain}`)).limitBytes).toBe(40 * MB);
    expect((await mail.forServer(built.server).quota(`small@${domain}`)).limitBytes).toBe(20 * MB);
  });
});
