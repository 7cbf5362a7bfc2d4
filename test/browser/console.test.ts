import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { base32Decode, stepAt, totpCode } from '../../src/modules/two-factor/totp.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../src/config/database.js';
import { loadEnv } from '../../src/config/env.js';
import { eq } from 'drizzle-orm';
import { billingRuns, jobs, orders, sslCertificates, type Tenant } from '../../src/db/schema/index.js';
import { systemActor } from '../../src/modules/audit/audit.service.js';
import { createDraftInvoice, issueCreditNote, issueInvoice } from '../../src/modules/billing/invoices.service.js';
import { recordEvent } from '../../src/modules/events/domain-events.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { signMarketingPayload } from '../../src/modules/orders/marketing-signature.js';
import { buildOrder, buildServer, buildTenant, buildUser, type BuiltUser } from '../factories.js';
import { resolverFor } from '../helpers/dns.js';
import { waitForAnswer } from '../helpers/nginx.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import { eventually } from '../helpers/orders.js';
import { launchChromium, prepareBrowserJourney, screenshotOnFailure, seriousA11yViolations } from '../helpers/browser.js';
import { spawnTs, type Spawned } from '../helpers/process.js';

/**
 * The staff console in a real browser: Debian's Chromium driven by playwright-core, against real
 * `mpanel api` and `mpanel worker` processes on this file's database, PowerDNS and nginx. Each
 * screen visited is checked with axe-core (no serious or critical violation); a failing step
 * leaves a screenshot in test-results/console/.
 */
const SCREENSHOTS = path.resolve('test-results', 'console');
const env = loadEnv();
const resolver = resolverFor(env);
const processEnv = { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0', JOB_BACKOFF_BASE_MS: '200', OUTBOX_SWEEP_INTERVAL_MS: '500' };

let database: DatabaseHandle;
let api: Spawned | undefined;
let worker: Spawned | undefined;
let browser: Browser | undefined;
let page: Page;
let base = '';
let tenant: Tenant;
let staff: BuiltUser;
const zones: string[] = [];
const a11y: Record<string, string[]> = {};

beforeAll(async () => {
  prepareBrowserJourney();
  database = createDatabase(env.DATABASE_URL, { max: 2 });
  tenant = await buildTenant(database.db, { slug: `console-${randomBytes(3).toString('hex')}` });
  staff = await buildUser(database.db, tenant, { role: 'SUPER_ADMIN' });
  await buildServer(database.db, tenant, { hostname: `web-${tenant.slug}.test`, httpPort: env.NGINX_HTTP_PORT });

  api = spawnTs('bin/mpanel.js', ['api'], processEnv);
  worker = spawnTs('bin/mpanel.js', ['worker'], processEnv);
  const launched = launchChromium();
  [[, base = ''], browser] = await Promise.all([api.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 150_000), launched, worker.waitFor(/worker consuming provisioning, server-/, 150_000)]);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  // Generous: the suite shares two cores with everything else; nothing here waits on a timer.
  page.setDefaultTimeout(45_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  api?.child.kill('SIGTERM');
  worker?.child.kill('SIGTERM');
  await Promise.all([api?.exited, worker?.exited]);
  for (const zone of zones) {
    await fetch(`${env.POWERDNS_API_URL}/servers/${env.POWERDNS_SERVER_ID}/zones/${zone}.`, { method: 'DELETE', headers: { 'X-API-Key': env.POWERDNS_API_KEY } });
  }
  await database?.pool.end();
});

/** One journey step: on failure, a screenshot named after it, then the error. */
const step = <T>(name: string, run: () => Promise<T>): Promise<T> => screenshotOnFailure(page, SCREENSHOTS, name, run);

/** axe-core on the page as it is now: serious and critical violations are kept for the final check. */
async function checkA11y(screen: string): Promise<void> {
  a11y[screen] = await seriousA11yViolations(page);
}

const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
const statusOnScreen = (status: string, timeout = 120_000) => page.getByTestId('subscription-status').filter({ hasText: new RegExp(`^${status}$`) }).waitFor({ timeout });

async function placeOrder(planId: string, amount: number, currency: string): Promise<{ orderId: string; domain: string }> {
  const domain = `console-${randomBytes(4).toString('hex')}.example.test`;
  zones.push(domain);
  const body = JSON.stringify({
    tenant: tenant.slug,
    customer: { email: `buyer-${randomBytes(3).toString('hex')}@example.test`, name: 'Grace Buyer' },
    priceId: planId,
    domain,
    payment: { provider: 'stripe', reference: `cs_console_${randomBytes(4).toString('hex')}`, amount, currency },
  });
  const response = await fetch(`${base}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mpanel-signature': signMarketingPayload(env.MARKETING_WEBHOOK_SECRET, body) }, body });
  expect(response.status).toBe(201);
  const { orderId } = (await response.json()) as { orderId: string };
  return { orderId, domain };
}

it('staff journeys in Chromium: sign-in, catalog, an order live to ACTIVE, suspend and unsuspend, DNS edit, job retry', { timeout: 400_000 }, async () => {
  await step('sign-in', async () => {
    await page.goto(`${base}/catalog`);
    await heading('mPanel staff sign-in').waitFor();
    await checkA11y('sign-in');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByLabel('Email').fill(staff.user.email);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Invalid email or password').waitFor();
    await page.getByLabel('Password').fill(staff.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Catalog').waitFor(); // back where the visitor was going
    // The refresh token is an httpOnly cookie on the refresh path only; the page cannot read it.
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'mpanel_refresh')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/auth/browser' });
    expect(await page.evaluate('document.cookie')).toBe('');
  });

  const productName = `Console Web ${randomBytes(2).toString('hex')}`;
  await step('catalog', async () => {
    await checkA11y('catalog');
    await page.getByLabel('Name', { exact: true }).fill(productName);
    await page.getByLabel('Price').fill('abc');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.getByText('must be an amount such as 4.99').waitFor();
    await page.getByLabel('Price').fill('7.99');
    await page.getByRole('button', { name: 'Create product' }).click();
    await heading(productName).waitFor();
    await page.getByRole('cell', { name: '€7.99', exact: true }).waitFor();
    await checkA11y('product');
  });
  const plan = await step('public plans', async () => {
    const plans = (await (await fetch(`${base}/api/public/plans?tenant=${tenant.slug}`)).json()) as { plans: { planId: string; productName: string; amount: number; currency: string }[] };
    const found = plans.plans.find((p) => p.productName === productName);
    expect(found).toMatchObject({ amount: 799, currency: 'EUR' });
    return found!;
  });

  // A signed order from the marketing site; its timeline goes live to ACTIVE on screen.
  const { orderId, domain } = await placeOrder(plan.planId, plan.amount, plan.currency);
  await step('order timeline', async () => {
    await page.goto(`${base}/orders/${orderId}`);
    await heading(`Order ${domain}`).waitFor();
    await page.getByRole('heading', { name: /PROVISION_DNS/ }).waitFor();
    await statusOnScreen('ACTIVE');
    await page.getByRole('heading', { name: /VERIFY_AND_ACTIVATE SUCCEEDED/ }).waitFor();
    await checkA11y('order timeline');
  });

  await step('suspend', async () => {
    await page.getByLabel('Reason (recorded with the change)').fill('unpaid invoice');
    await page.getByRole('button', { name: 'Suspend', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `Suspend ${domain}?` });
    await dialog.getByText('suspended” page (HTTP 503)').waitFor();
    await checkA11y('suspend confirmation');
    await dialog.getByRole('button', { name: 'Suspend the site' }).click();
    await statusOnScreen('SUSPENDED', 60_000);
    const suspended = await waitForAnswer(env.NGINX_HTTP_PORT, domain, (answer) => answer.status === 503, 30_000);
    expect(suspended.body.toLowerCase()).toContain('suspended');
    await page.getByText(/^suspended: step SUSPEND_SITE/).first().waitFor(); // the status reason, on screen
  });

  await step('unsuspend', async () => {
    await page.getByRole('button', { name: 'Unsuspend', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Unsuspend the site' }).click();
    await statusOnScreen('ACTIVE', 60_000);
    await waitForAnswer(env.NGINX_HTTP_PORT, domain, (answer) => answer.status === 200 && answer.body.includes(domain), 30_000);
  });

  await step('dns', async () => {
    await page.goto(`${base}/dns`);
    await heading('DNS zones').waitFor();
    await checkA11y('dns zones');
    await page.getByRole('link', { name: domain }).click();
    await heading(`Zone ${domain}`).waitFor();
    await checkA11y('zone editor');
    await page.getByRole('button', { name: 'Edit A www' }).click();
    const form = page.getByRole('form', { name: 'Edit A www' });
    await form.getByLabel('Content').fill('not-an-address');
    await form.getByRole('button', { name: 'Save' }).click();
    // The API's problem names the field: its message sits under that input.
    await form.locator('.field-error').first().waitFor();
    expect(await form.getByLabel('Content').getAttribute('aria-invalid')).toBe('true');
    await checkA11y('zone editor with a field error');
    await form.getByLabel('Content').fill('192.0.2.44');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: '192.0.2.44', exact: true }).waitFor();
    await eventually(async () => (await resolver.resolve4(`www.${domain}`).catch((): string[] => [])).includes('192.0.2.44'), 30_000, 'PowerDNS answers the edited record');
  });

  // A step that failed for good (as the pipeline leaves it); retried from the dashboard.
  const failed = await buildOrder(database.db, tenant, { subscriptionStatus: 'FAILED', jobStatuses: { PROVISION_DNS: 'FAILED' } });
  zones.push(failed.domain.name);
  const failedJob = failed.jobs[0]!;
  await step('retry a failed job', async () => {
    await page.goto(`${base}/`);
    await heading('Dashboard').waitFor();
    await page.getByRole('heading', { name: 'Orders today' }).waitFor();
    await checkA11y('dashboard');
    await page.getByRole('button', { name: `Retry PROVISION_DNS ${failedJob.id}` }).click();
    await page.getByRole('button', { name: `Retry PROVISION_DNS ${failedJob.id}` }).waitFor({ state: 'detached' });
    // The retry was accepted: the job's history goes on past its FAILED entry (re-queued), whatever
    // the step does next (polling for "not FAILED" raced a step that fails again within the poll).
    const before = failedJob.history.length;
    await eventually(async () => {
      const [row] = await withTenant(database.db, tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.id, failedJob.id)));
      return row !== undefined && row.history.slice(before).some((entry) => entry.status !== 'FAILED');
    }, 60_000, 'the retried job to leave FAILED');
  });

  await step('settings: a tax rate, a template previewed with the API\'s field error', async () => {
    await page.goto(`${base}/settings`);
    await heading('Settings').waitFor();
    const taxForm = page.locator('form', { has: page.getByRole('heading', { name: 'New tax rate' }) });
    await taxForm.getByLabel('Name').fill('VAT console');
    await taxForm.getByLabel('Rate (%)').fill('120');
    await taxForm.getByRole('button', { name: 'Add tax rate' }).click();
    await taxForm.getByRole('alert').first().waitFor(); // rateBps above 100 %: the API's message
    await taxForm.getByLabel('Rate (%)').fill('19');
    await taxForm.getByRole('button', { name: 'Add tax rate' }).click();
    await page.getByRole('cell', { name: '19.00 %' }).waitFor();
    await page.getByRole('link', { name: 'subscription.suspended' }).click();
    await heading('Email: subscription.suspended').waitFor();
    await page.getByLabel('Subject').fill('Suspended: {{nosuchvariable}}');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByText(/unknown variable \{\{nosuchvariable\}\}/).first().waitFor();
    await page.getByLabel('Subject').fill('Your service is paused: {{reason}}');
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByRole('heading', { name: 'Preview with sample values' }).waitFor();
    await checkA11y('Email template');
  });

  await step('other screens', async () => {
    for (const [url, title] of [
      ['/subscriptions', 'Subscriptions'],
      ['/orders', 'Orders'],
      ['/jobs', 'Jobs'],
      ['/customers', 'Customers'],
      ['/users', 'Users'],
      ['/audit?action=subscription.*', 'Audit log'],
      ['/servers', 'Servers'],
      ['/invoices', 'Invoices'],
      ['/settings', 'Settings'],
    ] as const) {
      await page.goto(`${base}${url}`);
      await heading(title).waitFor();
      await page.locator('table, .state.empty').first().waitFor();
      await checkA11y(title);
    }
    await page.setViewportSize({ width: 360, height: 800 });
    await page.goto(`${base}/subscriptions`);
    await heading('Subscriptions').waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
  });

  expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((screen) => [screen, []])));
});

it('the operations screens in Chromium: dashboard figures, certificates, webhook endpoints with their delivery log, billing and dunning settings', { timeout: 240_000 }, async () => {
  // The dashboard's figures from rows as the pipeline leaves them: an order live in 95 s, a
  // certificate expiring in 5 days and one FAILED, a finished billing run.
  // Their steps done, so the worker has nothing to run for them.
  const done = { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'SUCCEEDED', VERIFY_AND_ACTIVATE: 'SUCCEEDED' } as const;
  const live = await buildOrder(database.db, tenant, { orderStatus: 'FULFILLED', subscriptionStatus: 'ACTIVE', jobStatuses: done });
  const expiring = await buildOrder(database.db, tenant, { subscriptionStatus: 'ACTIVE', jobStatuses: done });
  const failing = await buildOrder(database.db, tenant, { subscriptionStatus: 'ACTIVE', jobStatuses: done });
  zones.push(live.domain.name, expiring.domain.name, failing.domain.name);
  await withTenant(database.db, tenant.id, async (tx) => {
    const fulfilledAt = new Date(Date.now() - 10 * 60_000);
    await tx.update(orders).set({ createdAt: new Date(fulfilledAt.getTime() - 95_000), fulfilledAt }).where(eq(orders.id, live.order.id));
    await tx.insert(sslCertificates).values([
      { tenantId: tenant.id, domainId: expiring.domain.id, commonName: expiring.domain.name, altNames: [expiring.domain.name], status: 'ISSUED', issuer: 'Pebble Intermediate CA', notAfter: new Date(Date.now() + 5 * 86_400_000) },
      { tenantId: tenant.id, domainId: failing.domain.id, commonName: failing.domain.name, altNames: [failing.domain.name], status: 'FAILED', lastError: 'simulated CA outage', failedAt: new Date() },
    ]);
  });
  await database.db.insert(billingRuns).values({ trigger: 'scheduler', asOf: new Date(), status: 'SUCCEEDED', counts: { invoicesIssued: 2 }, finishedAt: new Date() });

  await step('dashboard figures', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/`);
    // Signed in by the first journey; alone (vitest -t), this one signs in itself.
    await heading(/^(Dashboard|mPanel staff sign-in)$/).waitFor();
    if (await heading('mPanel staff sign-in').isVisible()) {
      await page.getByLabel('Email').fill(staff.user.email);
      await page.getByLabel('Password').fill(staff.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await heading('Dashboard').waitFor();
    await page.getByRole('heading', { name: 'Order to live, last 24 hours' }).waitFor();
    await page.getByRole('img', { name: /Order to live per hour/ }).waitFor();
    // This order (and the first journey's, when it ran): the figures are tested in src/modules/dashboard/dashboard.test.ts.
    await page.getByText(/^p50 .+ · p95 .+ · \d+ orders?$/).waitFor();
    await page.getByText(`${expiring.domain.name}: in 4 days`).or(page.getByText(`${expiring.domain.name}: in 5 days`)).waitFor();
    await page.getByRole('link', { name: '1 failed' }).waitFor();
    await page.getByText('invoicesIssued 2').waitFor();
    await checkA11y('dashboard figures');
  });

  await step('certificates', async () => {
    await page.getByRole('link', { name: '1 failed' }).click();
    await heading('Certificates').waitFor();
    await page.getByRole('cell', { name: 'simulated CA outage' }).waitFor();
    expect(page.url()).toContain('status=FAILED');
    await checkA11y('certificates');
    // The retry asks first, naming what it does; Escape (the keyboard) cancels and nothing is queued.
    await page.getByRole('button', { name: `Retry ${failing.domain.name}` }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Retry this certificate?' });
    await dialog.getByText(/The CA is asked for a new certificate/).waitFor();
    await checkA11y('certificate retry confirmation');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    const renewals = await withTenant(database.db, tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.subscriptionId, failing.subscription.id)));
    expect(renewals.filter((job) => job.type === 'ISSUE_SSL')).toEqual([]);
    await page.getByLabel('Status').selectOption('');
    await page.getByRole('cell', { name: expiring.domain.name, exact: true }).waitFor();
  });

  // A receiver on loopback (the API allows it outside production) that answers 204.
  const received: string[] = [];
  const receiver: Server = createServer((request, response) => {
    received.push(String(request.headers['webhook-id']));
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/mpanel-events`;
  try {
    const firstSecret = await step('webhook endpoint created, its secret shown once', async () => {
      await page.goto(`${base}/settings`);
      await page.getByRole('link', { name: 'Webhook endpoints' }).click();
      await heading('Webhook endpoints').waitFor();
      await page.getByText('No webhook endpoint yet.').waitFor();
      await checkA11y('webhook endpoints, empty');
      await page.getByLabel('URL').fill(hookUrl);
      await page.getByRole('button', { name: 'Create endpoint' }).click();
      // No event type ticked: the API's message sits beside the event list.
      await page.locator('fieldset.event-types .field-error').waitFor();
      await checkA11y('webhook endpoint with a field error');
      await page.getByLabel('job.failed').check();
      await page.getByRole('button', { name: 'Create endpoint' }).click();
      const secret = await page.getByRole('textbox', { name: 'Signing secret' }).inputValue();
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole('link', { name: hookUrl }).waitFor();
      await checkA11y('webhook endpoints');
      return secret;
    });

    await step('webhook endpoint: event types edited, a delivery in its log, secret rotated, disabled', async () => {
      await page.getByRole('link', { name: hookUrl }).click();
      await heading(`Webhook endpoint ${hookUrl}`).waitFor();
      await page.getByText(/No delivery yet/).waitFor();
      await page.getByLabel('invoice.paid').check();
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByText('Saved: the next events follow it.').waitFor();
      // An event the endpoint subscribes to, recorded as the pipeline would: the worker delivers it.
      const jobId = randomUUID();
      await withTenant(database.db, tenant.id, (tx) =>
        recordEvent(tx, tenant.id, {
          type: 'job.failed',
          subject: { type: 'job', id: jobId },
          payload: { jobId, jobType: 'PROVISION_DNS', subscriptionId: null, orderId: null, attempts: 5, error: 'simulated' },
        }),
      );
      await page.getByRole('cell', { name: 'DELIVERED' }).waitFor({ timeout: 60_000 });
      await page.getByText(/HTTP 204/).waitFor();
      expect(received).toHaveLength(1);
      await checkA11y('webhook endpoint with its delivery log');

      await page.getByRole('button', { name: 'Rotate secret' }).click();
      const rotate = page.getByRole('dialog', { name: 'Rotate the signing secret?' });
      await rotate.getByText(/For 24 hours every message carries two signatures/).waitFor();
      await rotate.getByRole('button', { name: 'Rotate secret' }).click();
      const rotated = await page.getByRole('textbox', { name: 'Signing secret' }).inputValue();
      expect(rotated).toMatch(/^whsec_/);
      expect(rotated).not.toBe(firstSecret);

      await page.getByRole('button', { name: 'Disable', exact: true }).click();
      const disable = page.getByRole('dialog', { name: 'Disable this endpoint?' });
      await disable.getByText(/No event is sent to/).waitFor();
      await disable.getByRole('button', { name: 'Disable endpoint' }).click();
      await page.getByText('DISABLED', { exact: true }).first().waitFor();
      await page.getByRole('button', { name: 'Enable', exact: true }).waitFor();
    });
  } finally {
    receiver.close();
  }

  await step('billing and dunning settings', async () => {
    await page.goto(`${base}/settings`);
    await page.getByRole('link', { name: 'Billing and dunning' }).click();
    await heading('Billing and dunning').waitFor();
    await checkA11y('billing settings');
    await page.getByLabel('Reminders, days before due').fill('7, 100');
    await page.getByLabel('Suspend for non-payment, days after due').fill('abc');
    // Half an address: the API names the parts it misses.
    await page.getByLabel('Address line 1').fill('1 Rue de la Paix');
    await page.getByRole('button', { name: 'Save billing settings' }).click();
    // Each field carries the API's own message (reminderDays.1 is shown beside the list).
    await page.locator('.field', { has: page.getByLabel('Reminders, days before due') }).locator('.field-error').waitFor();
    await page.locator('.field', { has: page.getByLabel('Suspend for non-payment, days after due') }).locator('.field-error').waitFor();
    expect(await page.getByLabel('Reminders, days before due').getAttribute('aria-invalid')).toBe('true');
    for (const label of ['City', 'Country (ISO code)']) expect(await page.getByLabel(label).getAttribute('aria-invalid'), label).toBe('true');
    await checkA11y('billing settings with field errors');
    await page.getByLabel('Reminders, days before due').fill('10, 2');
    await page.getByLabel('Suspend for non-payment, days after due').fill('21');
    await page.getByLabel('City').fill('Paris');
    await page.getByLabel('Postal code').fill('75002');
    await page.getByLabel('Country (ISO code)').fill('fr');
    await page.getByRole('button', { name: 'Save billing settings' }).click();
    await page.getByText('Saved: the next billing run uses them.').waitFor();
    const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: staff.user.email, password: staff.password }) });
    const { token } = (await login.json()) as { token: string };
    const saved = (await (await fetch(`${base}/api/billing/settings`, { headers: { authorization: `Bearer ${token}` } })).json()) as { reminderDays: number[]; suspendAfterDays: number };
    expect(saved).toMatchObject({ reminderDays: [10, 2], suspendAfterDays: 21, sellerAddress: { line1: '1 Rue de la Paix', postalCode: '75002', city: 'Paris', country: 'FR' } });
  });

  await step('an invoice and its PDF', async () => {
    const { invoice, note } = await withTenant(database.db, tenant.id, async (tx) => {
      const draft = await createDraftInvoice(tx, tenant.id, { customerId: live.subscription.customerId, subscriptionId: live.subscription.id, currency: 'EUR', lines: [{ description: 'Web hosting', quantity: 1, unitAmount: 1299 }] }, systemActor);
      const issued = await issueInvoice(tx, tenant.id, draft.id, systemActor);
      return { invoice: issued, note: await issueCreditNote(tx, tenant.id, issued.id, { amount: 300, reason: 'Goodwill for a slow start' }, systemActor) };
    });
    const contact = await buildCustomerLogin(database.db, tenant, live.customer, { role: 'BILLING' });
    // The customer's page lists it, and the customer's portal contacts.
    await page.goto(`${base}/customers/${live.subscription.customerId}`);
    await page.getByRole('cell', { name: contact.email, exact: true }).waitFor();
    await page.getByRole('cell', { name: 'BILLING', exact: true }).waitFor();
    await checkA11y('customer with contacts');
    await page.getByRole('link', { name: invoice.number! }).click();
    await heading(`Invoice ${invoice.number}`).waitFor();
    // Fetched with the in-memory token, opened from a blob URL in a new tab.
    const opened = page.context().waitForEvent('page');
    const fetched = page.waitForResponse((response) => response.url().endsWith(`/api/invoices/${invoice.id}/pdf`));
    await page.getByRole('button', { name: `PDF of invoice ${invoice.number}` }).click();
    const pdf = await fetched;
    expect([pdf.status(), pdf.headers()['content-type']]).toEqual([200, 'application/pdf']);
    const tab = await opened;
    expect(tab.url()).toMatch(/^blob:/);
    await tab.close();
    // Its credit note, with its own PDF.
    await page.getByRole('cell', { name: 'Goodwill for a slow start' }).waitFor();
    const notePdf = page.waitForResponse((response) => response.url().endsWith(`/api/credit-notes/${note.id}/pdf`));
    const noteTab = page.context().waitForEvent('page');
    await page.getByRole('button', { name: `PDF of credit note ${note.number}` }).click();
    expect([(await notePdf).status(), (await notePdf).headers()['content-type']]).toEqual([200, 'application/pdf']);
    await (await noteTab).close();
    await checkA11y('invoice');
  });

  await step('readable at 360 px', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    for (const [url, title] of [
      ['/', 'Dashboard'],
      ['/certificates', 'Certificates'],
      ['/settings/webhooks', 'Webhook endpoints'],
      ['/settings/billing', 'Billing and dunning'],
    ] as const) {
      await page.goto(`${base}${url}`);
      await heading(title).waitFor();
      await page.locator('table, .state.empty, form').first().waitFor();
      expect(await page.evaluate('document.documentElement.scrollWidth'), url).toBeLessThanOrEqual(360);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((screen) => [screen, []])));
});

it('two-factor sign-in in Chromium: a tenant that requires it has the user set up a factor at sign-in, then shows the recovery codes once', { timeout: 120_000 }, async () => {
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: staff.user.email, password: staff.password }) });
  const { token } = (await login.json()) as { token: string };
  const policy = await fetch(`${base}/api/two-factor-policy`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ twoFactorStaffRoles: ['SUPPORT'], twoFactorCustomers: false }),
  });
  expect(policy.status).toBe(200);
  const support = await buildUser(database.db, tenant, { role: 'SUPPORT' });
  const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
  const tab = await context.newPage();
  tab.setDefaultTimeout(45_000);
  try {
    await tab.goto(`${base}/sign-in`);
    await tab.getByLabel('Email').fill(support.user.email);
    await tab.getByLabel('Password').fill(support.password);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    const secret = (await tab.getByTestId('totp-secret').textContent()) ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(await tab.context().cookies()).toEqual([]); // no session before the second factor
    await tab.getByLabel('Code').fill('000000');
    await tab.getByRole('button', { name: 'Continue' }).click();
    await tab.getByText('The code is not valid').waitFor();
    await tab.getByLabel('Code').fill(totpCode(base32Decode(secret), stepAt(Date.now())));
    await tab.getByRole('button', { name: 'Continue' }).click();
    await tab.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    expect(await tab.locator('.recovery-codes li').count()).toBe(10);
    const result = await new AxeBuilder({ page: tab }).withTags(['wcag2a', 'wcag2aa']).analyze();
    expect(result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
    await tab.getByRole('button', { name: 'I have kept them' }).click();
    await tab.waitForURL(`${base}/`);
    expect((await tab.context().cookies()).find((c) => c.name === 'mpanel_refresh')).toMatchObject({ httpOnly: true });
  } finally {
    await context.close();
  }
});

