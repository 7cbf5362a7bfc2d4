import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../src/config/database.js';
import { loadEnv } from '../../src/config/env.js';
import { invoices, prices, products, subscriptions, type Price, type Tenant } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { buildOrder, buildPrice, buildProduct, buildTenant, DEFAULT_PASSWORD, type BuiltOrder } from '../factories.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { launchChromium, prepareBrowserJourney, screenshotOnFailure, seriousA11yViolations } from '../helpers/browser.js';
import { buildCustomerLogin } from '../helpers/portal.js';

/**
 * The portal's "Change plan" on the service screen in Chromium (playwright-core), against the API
 * in this process on this file's database: an upgrade's preview shows the prorated amount and the
 * confirmed change issues the invoice; a downgrade is scheduled and "Keep current plan" takes it
 * back; a refused change shows the API's message; a technical contact sees no "Change plan".
 * No worker: the service has no mail domain, so a change plans no job. axe-core on each state; a
 * failing step leaves a screenshot in test-results/portal-plan-change/.
 */
const SCREENSHOTS = path.resolve('test-results', 'portal-plan-change');
const env = loadEnv();
const DAY = 86_400_000;

let database: DatabaseHandle;
let testApp: TestApp | undefined;
let browser: Browser | undefined;
let page: Page;
let base = '';
let tenant: Tenant;
const a11y: Record<string, string[]> = {};

beforeAll(async () => {
  prepareBrowserJourney();
  database = createDatabase(env.DATABASE_URL, { max: 2 });
  tenant = await buildTenant(database.db, { slug: `plans-${randomBytes(3).toString('hex')}` });
  testApp = await createTestApp();
  const launched = launchChromium();
  [base, browser] = await Promise.all([testApp.app.listen({ host: '127.0.0.1', port: 0 }), launched]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await testApp?.close();
  await database?.pool.end();
});

/** One journey step: on failure, a screenshot named after it, then the error. */
const step = <T>(name: string, run: () => Promise<T>): Promise<T> => screenshotOnFailure(page, SCREENSHOTS, name, run);

/** axe-core on the page as it is now: serious and critical violations are kept for the final check. */
async function checkA11y(screen: string): Promise<void> {
  a11y[screen] = await seriousA11yViolations(page);
}

const heading = (name: string | RegExp, level = 1) => page.getByRole('heading', { level, name });

async function newPage(): Promise<void> {
  page = await (await browser!.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  // Generous: the suite shares two cores with everything else; nothing here waits on a timer.
  page.setDefaultTimeout(45_000);
}

async function signIn(email: string): Promise<void> {
  await page.goto(`${base}/portal/sign-in`);
  await page.getByLabel('Organisation').fill(tenant.slug);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading('Your services').waitFor();
}

async function openService(order: BuiltOrder): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
  await heading('Your services').waitFor();
  await page.getByRole('link', { name: order.domain.name }).click();
  await heading(order.domain.name).waitFor();
  await heading('Change plan', 2).waitFor();
}

/** A public plan of its own product (SHARED_HOSTING, USD a month, as buildOrder's). */
async function plan(name: string, amount: number): Promise<Price> {
  return buildPrice(database.db, tenant, await buildProduct(database.db, tenant, { name: `${name} ${randomBytes(2).toString('hex')}`, features: { diskQuotaMb: 2048, mailboxes: 5, sslIncluded: true } }), { amount });
}

const productName = async (price: Price): Promise<string> =>
  (await withTenant(database.db, tenant.id, (tx) => tx.select({ name: products.name }).from(products).where(eq(products.id, price.productId))))[0]!.name;

const readSubscription = async (id: string) => (await withTenant(database.db, tenant.id, (tx) => tx.select().from(subscriptions).where(eq(subscriptions.id, id))))[0]!;

/** "$12.34" → 1234. */
const minorUnits = (shown: string): number => Math.round(Number(/\$([\d,]+\.\d{2})/.exec(shown)?.[1]?.replaceAll(',', '')) * 100);

it('an upgrade previewed, confirmed and invoiced; a downgrade scheduled and taken back; a refusal in the API words; hidden from a technical contact', { timeout: 300_000 }, async () => {
  // The customer's service on "Basic" (9.99 USD a month), paid 20 days ahead; and one billed by Stripe.
  const done = { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'SUCCEEDED', VERIFY_AND_ACTIVATE: 'SUCCEEDED' } as const;
  const mine = await buildOrder(database.db, tenant, { subscriptionStatus: 'ACTIVE', jobStatuses: done });
  const stripeBilled = await buildOrder(database.db, tenant, { customer: mine.customer, subscriptionStatus: 'ACTIVE', jobStatuses: done });
  const paidThrough = new Date(Date.now() + 20 * DAY);
  await withTenant(database.db, tenant.id, async (tx) => {
    await tx.update(subscriptions).set({ paidThrough }).where(eq(subscriptions.id, mine.subscription.id));
    await tx.update(subscriptions).set({ paidThrough, billingMode: 'STRIPE' }).where(eq(subscriptions.id, stripeBilled.subscription.id));
    await tx.update(prices).set({ amount: 999 }).where(eq(prices.id, mine.subscription.priceId));
  });
  const business = await plan('Business', 2999);
  const starter = await plan('Starter', 499);
  const [businessName, starterName] = [await productName(business), await productName(starter)];
  const owner = await buildCustomerLogin(database.db, tenant, mine.customer);
  const technical = await buildCustomerLogin(database.db, tenant, mine.customer, { role: 'TECHNICAL' });
  await newPage();
  await signIn(owner.email);

  const shown = await step('upgrade preview shows the prorated amount', async () => {
    await openService(mine);
    await page.getByRole('radio', { name: `${businessName}, $29.99 / month` }).check();
    await page.getByRole('button', { name: 'Preview the change' }).click();
    // The preview's heading takes the focus.
    await expect.poll(() => page.evaluate<string>("document.activeElement?.textContent ?? ''")).toContain(businessName);
    const charged = await page.locator('dt', { hasText: 'Charged now' }).locator('xpath=following-sibling::dd[1]').innerText();
    const amount = minorUnits(charged);
    // 20 − a few seconds of a month of 20.00 USD more: between 12 and 14 USD (months of 28 to 31 days).
    expect(amount).toBeGreaterThan(1200);
    expect(amount).toBeLessThan(1450);
    await checkA11y('upgrade preview');
    return amount;
  });

  await step('confirm: the new plan and its invoice', async () => {
    await page.getByRole('button', { name: 'Confirm the change' }).click();
    await page.getByText(`Your plan is now ${businessName}`).waitFor();
    await page.locator('dt', { hasText: /^Plan$/ }).locator('xpath=following-sibling::dd[1]').getByText(`${businessName} (SHARED_HOSTING), $29.99 / MONTH`).waitFor();
    expect(await readSubscription(mine.subscription.id)).toMatchObject({ priceId: business.id, pendingPriceId: null });
    const [invoice] = await withTenant(database.db, tenant.id, (tx) => tx.select().from(invoices).where(and(eq(invoices.subscriptionId, mine.subscription.id), eq(invoices.kind, 'PRORATION'))));
    expect(invoice).toMatchObject({ status: 'ISSUED', currency: 'USD' });
    // The preview and the change are moments apart: a second less to prorate moves the amount by a cent at most.
    expect(Math.abs(invoice!.total - shown)).toBeLessThanOrEqual(1);
    await checkA11y('upgrade done');
    await page.getByRole('link', { name: `see invoice ${invoice!.number}` }).click();
    await heading('Invoices').waitFor();
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: invoice!.number!, exact: true }) });
    await row.getByText('ISSUED', { exact: true }).waitFor();
  });

  await step('a downgrade is scheduled for the end of the paid period', async () => {
    await openService(mine);
    await page.getByRole('radio', { name: `${starterName}, $4.99 / month` }).check();
    await page.getByRole('button', { name: 'Preview the change' }).click();
    await page.locator('dt', { hasText: 'Applies on' }).waitFor();
    expect(await page.locator('dt', { hasText: 'Charged now' }).count()).toBe(0);
    await checkA11y('downgrade preview');
    await page.getByRole('button', { name: 'Confirm the change' }).click();
    await page.getByText(new RegExp(`Changes to ${starterName} \\(\\$4\\.99 / month\\) on \\d{1,2} \\w{3} \\d{4}`)).waitFor();
    expect(await readSubscription(mine.subscription.id)).toMatchObject({ priceId: business.id, pendingPriceId: starter.id, pendingPlanChangeAt: paidThrough });
    // A new page load still shows it: the screen reads the scheduled change from the API.
    await page.reload();
    await page.getByText(`Changes to ${starterName}`).waitFor();
    expect(await page.getByRole('button', { name: 'Preview the change' }).count()).toBe(0);
    await checkA11y('downgrade scheduled');
  });

  await step('"Keep current plan" cancels the scheduled downgrade', async () => {
    await page.getByRole('button', { name: 'Keep current plan' }).click();
    const dialog = page.getByRole('dialog', { name: 'Keep the current plan?' });
    await dialog.getByRole('button', { name: 'Keep the current plan' }).click();
    // The dialog says the same words: wait for the notice itself, which takes the focus once the dialog is gone.
    await page.getByRole('status').getByText(`The change to ${starterName} is cancelled`).waitFor();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => page.evaluate<string>("document.activeElement?.textContent ?? ''")).toMatch(new RegExp(`^The change to ${starterName} is cancelled`));
    await page.getByRole('button', { name: 'Preview the change' }).waitFor();
    expect(await readSubscription(mine.subscription.id)).toMatchObject({ priceId: business.id, pendingPriceId: null, pendingPlanChangeAt: null });
  });

  await step('a refused change shows the API message', async () => {
    await openService(stripeBilled);
    await page.getByRole('radio', { name: `${businessName}, $29.99 / month` }).check();
    await page.getByRole('button', { name: 'Preview the change' }).click();
    await page.getByRole('alert').getByText(/billed by Stripe, which owns its schedule/).waitFor();
    expect(await page.getByRole('button', { name: 'Confirm the change' }).count()).toBe(0);
    expect(await readSubscription(stripeBilled.subscription.id)).toMatchObject({ billingMode: 'STRIPE', pendingPriceId: null });
    await checkA11y('refused');
  });

  await step('a technical contact has no "Change plan"', async () => {
    await newPage();
    await signIn(technical.email);
    await page.getByRole('link', { name: mine.domain.name }).click();
    await heading(mine.domain.name).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Cancellation' }).waitFor();
    expect(await heading('Change plan', 2).count()).toBe(0);
  });

  expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((screen) => [screen, []])));
});
