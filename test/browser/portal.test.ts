import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../src/config/database.js';
import { loadEnv } from '../../src/config/env.js';
import { invoices, subscriptions, type Customer, type Server, type Subscription, type Tenant } from '../../src/db/schema/index.js';
import { systemActor } from '../../src/modules/audit/audit.service.js';
import { createDraftInvoice, issueInvoice } from '../../src/modules/billing/invoices.service.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { signMarketingPayload } from '../../src/modules/orders/marketing-signature.js';
import { base32Decode, stepAt, totpCode } from '../../src/modules/two-factor/totp.js';
import { stripeTestSignatureHeader } from '../helpers/stripe-signature.js';
import { buildOrder, buildServer, buildTenant, DEFAULT_PASSWORD } from '../factories.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { resolverFor } from '../helpers/dns.js';
import { buildMailDomain, loginRefused, takeMailStackTurn } from '../helpers/mail.js';
import { buildOffer, eventually } from '../helpers/orders.js';
import { buildCustomerLogin, CapturingMailer, containerWithMailer } from '../helpers/portal.js';
import { spawnTs, type Spawned } from '../helpers/process.js';
import { launchChromium, prepareBrowserJourney, screenshotOnFailure, seriousA11yViolations } from '../helpers/browser.js';
import { startStripeStandin, stripeEvent, type StripeStandin } from '../helpers/stripe-standin.js';

/**
 * The customer portal (/portal) in a real browser: Debian's Chromium driven by playwright-core,
 * against the API (in this process, so the invitation link can be captured from its mailer, as
 * test/helpers/portal.ts does) and a real `mpanel worker` on this file's database, PowerDNS and
 * nginx; payments go to the loopback Stripe stand-in (test/helpers/stripe-standin.ts). Each screen is checked with axe-core; a failing step leaves a screenshot in
 * test-results/portal/.
 */
const SCREENSHOTS = path.resolve('test-results', 'portal');
const env = loadEnv();
const resolver = resolverFor(env);
const workerEnv = { LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0', JOB_BACKOFF_BASE_MS: '200', OUTBOX_SWEEP_INTERVAL_MS: '500' };

// The journey adds mailboxes on the real mail stack: this file takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

const mailer = new CapturingMailer();
let database: DatabaseHandle;
let testApp: TestApp | undefined;
let standin: StripeStandin | undefined;
let worker: Spawned | undefined;
let browser: Browser | undefined;
let page: Page;
let base = '';
let tenant: Tenant;
const zones: string[] = [];
const mailDomainsMade: { server: Server; domain: string }[] = [];
const a11y: Record<string, string[]> = {};

beforeAll(async () => {
  prepareBrowserJourney();
  database = createDatabase(env.DATABASE_URL, { max: 2 });
  tenant = await buildTenant(database.db, { slug: `portal-${randomBytes(3).toString('hex')}` });
  await buildServer(database.db, tenant, { hostname: `web-${tenant.slug}.test`, httpPort: env.NGINX_HTTP_PORT });

  standin = await startStripeStandin();
  testApp = await createTestApp({ container: containerWithMailer(mailer), env: { STRIPE_API_BASE: standin.base, STRIPE_API_KEY: standin.apiKey } });
  worker = spawnTs('bin/mpanel.js', ['worker'], workerEnv);
  const launched = launchChromium();
  [base, browser] = await Promise.all([testApp.app.listen({ host: '127.0.0.1', port: 0 }), launched, worker.waitFor(/worker consuming provisioning, server-/, 150_000)]);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  // Generous: the suite shares two cores with everything else; nothing here waits on a timer.
  page.setDefaultTimeout(45_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  for (const made of mailDomainsMade) await testApp?.container.providers.mail.forServer(made.server).removeDomain(made.domain, null);
  worker?.child.kill('SIGTERM');
  await worker?.exited;
  await testApp?.close();
  await standin?.close();
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

async function signIn(email: string, password: string): Promise<void> {
  await page.getByLabel('Organisation').fill(tenant.slug);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

it('a customer journey in Chromium: invitation, sign-in, the service, a DNS record PowerDNS answers, TOTP, sign out and back in with a code', { timeout: 400_000 }, async () => {
  // A signed order from the marketing site creates the customer and sends the portal invitation.
  const { price } = await buildOffer(database.db, tenant, { amount: 1299, currency: 'EUR' });
  const email = `ada-${randomBytes(3).toString('hex')}@example.test`;
  const domain = `portal-${randomBytes(4).toString('hex')}.example.test`;
  zones.push(domain);
  const body = JSON.stringify({
    tenant: tenant.slug,
    customer: { email, name: 'Ada Customer' },
    priceId: price.id,
    domain,
    payment: { provider: 'stripe', reference: `cs_portal_${randomBytes(4).toString('hex')}`, amount: price.amount, currency: price.currency },
  });
  const order = await fetch(`${base}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mpanel-signature': signMarketingPayload(env.MARKETING_WEBHOOK_SECRET, body) }, body });
  expect(order.status).toBe(201);
  const invitation = await eventually(async () => mailer.sent.find((mail) => mail.email === email && mail.kind === 'INVITATION'), 30_000, 'the portal invitation');
  const link = new URL(invitation.url);
  expect(link.pathname).toBe('/portal/accept-invitation');
  // The service is live before the customer looks at it (provisioning by the real worker).
  await eventually(async () => (await withTenant(database.db, tenant.id, (tx) => tx.select().from(subscriptions))).some((s) => s.status === 'ACTIVE'), 150_000, 'the subscription to be ACTIVE');

  const password = `portal-pass-${randomBytes(4).toString('hex')}`;
  await step('accept invitation', async () => {
    await page.goto(`${base}${link.pathname}${link.search}`);
    await heading('Welcome: choose your password').waitFor();
    await checkA11y('accept invitation');
    await page.getByLabel('New password').fill('short');
    await page.getByRole('button', { name: 'Set password' }).click();
    // The API's problem names the field: its message sits under that input.
    await page.locator('.field-error').waitFor();
    expect(await page.getByLabel('New password').getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('New password').fill(password);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByText('Password set; you can log in').waitFor();
    await page.getByRole('link', { name: 'Sign in' }).click();
  });

  await step('sign in', async () => {
    await heading('Customer portal sign-in').waitFor();
    await checkA11y('sign-in');
    await signIn(email, 'a wrong password');
    await page.getByText('Invalid').first().waitFor();
    await signIn(email, password);
    await heading('Your services').waitFor();
    await checkA11y('services');
    // No token anywhere a script could read it back: the access token in memory, the refresh token an httpOnly cookie of the portal's own name and path.
    expect(await page.evaluate('[localStorage.length, sessionStorage.length, document.cookie]')).toEqual([0, 0, '']);
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => c.name)).toEqual(['mpanel_portal_refresh']);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/portal/auth/browser' });
  });

  await step('service', async () => {
    await page.getByRole('link', { name: domain }).click();
    await heading(domain).waitFor();
    await page.getByText('ACTIVE', { exact: true }).waitFor();
    await page.getByText('€12.99 / MONTH', { exact: false }).waitFor();
    await checkA11y('service detail');
  });

  await step('dns', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'DNS' }).click();
    await heading('DNS zones').waitFor();
    await checkA11y('dns zones');
    await page.getByRole('link', { name: domain }).click();
    await heading(`Zone ${domain}`).waitFor();
    const form = page.getByRole('form', { name: 'Add a record' });
    await form.getByLabel('Name').fill('portal');
    await form.getByLabel('Content').fill('not-an-address');
    await form.getByRole('button', { name: 'Add record' }).click();
    await form.locator('.field-error').first().waitFor();
    expect(await form.getByLabel('Content').getAttribute('aria-invalid')).toBe('true');
    await checkA11y('zone with a field error');
    await form.getByLabel('Content').fill('192.0.2.77');
    await form.getByRole('button', { name: 'Add record' }).click();
    await page.getByRole('cell', { name: '192.0.2.77', exact: true }).waitFor();
    await eventually(async () => (await resolver.resolve4(`portal.${domain}`).catch((): string[] => [])).includes('192.0.2.77'), 30_000, 'PowerDNS answers the new record');
  });

  const [service] = await withTenant(database.db, tenant.id, (tx) => tx.select().from(subscriptions));
  if (!service) throw new Error('no subscription');

  await step('invoices', async () => {
    const invoice = await withTenant(database.db, tenant.id, async (tx) => {
      const draft = await createDraftInvoice(tx, tenant.id, { customerId: service.customerId, subscriptionId: service.id, currency: 'EUR', lines: [{ description: 'Web hosting', quantity: 1, unitAmount: 1299 }] }, systemActor);
      return issueInvoice(tx, tenant.id, draft.id, systemActor);
    });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Invoices' }).click();
    await heading('Invoices').waitFor();
    await page.getByRole('cell', { name: invoice.number!, exact: true }).waitFor();
    await checkA11y('invoices');
    // The PDF is fetched with the in-memory token and opened from a blob URL in a new tab.
    const opened = page.context().waitForEvent('page');
    const fetched = page.waitForResponse((response) => response.url().endsWith(`/api/portal/invoices/${invoice.id}/pdf`));
    await page.getByRole('button', { name: `PDF of invoice ${invoice.number}` }).click();
    const pdf = await fetched;
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect(pdf.headers()['content-disposition']).toBe(`inline; filename="${invoice.number}.pdf"`);
    const tab = await opened;
    expect(tab.url()).toMatch(/^blob:/);
    await tab.close();
  });

  await step('cancel at period end', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
    await page.getByRole('link', { name: domain }).click();
    await heading(domain).waitFor();
    await page.getByRole('button', { name: 'Cancel at period end' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this service?' });
    await dialog.getByText('the service and its data').waitFor();
    await checkA11y('cancel confirmation');
    await dialog.getByRole('button', { name: 'Cancel at period end' }).click();
    await page.getByText('This service is cancelled').waitFor();
    await eventually(async () => (await withTenant(database.db, tenant.id, (tx) => tx.select().from(subscriptions))).find((s) => s.id === service.id)?.cancelAtPeriodEnd === true, 10_000, 'cancelAtPeriodEnd stored');
    await page.getByRole('button', { name: 'Keep this service' }).click();
    await page.getByRole('dialog', { name: 'Keep this service?' }).getByRole('button', { name: 'Keep the service' }).click();
    await page.getByRole('button', { name: 'Cancel at period end' }).waitFor();
  });

  await step('mail', async () => {
    const hosted = await buildMailDomain(database.db, env, testApp!.container.providers.mail, tenant, { customer: { id: service.customerId }, features: { mailboxes: 1, mailboxQuotaMb: 100 } });
    mailDomainsMade.push({ server: hosted.server, domain: hosted.domain });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Mail' }).click();
    await heading('Mail').waitFor();
    await page.getByText('No mailbox yet.').waitFor();
    await checkA11y('mail');
    const form = page.getByRole('form', { name: 'Add a mailbox' });
    await form.getByLabel('Name (before the @)').fill('bad local');
    await form.getByRole('button', { name: 'Add mailbox' }).click();
    await form.locator('.field-error').first().waitFor();
    expect(await form.getByLabel('Name (before the @)').getAttribute('aria-invalid')).toBe('true');
    await form.getByLabel('Name (before the @)').fill('info');
    await form.getByRole('button', { name: 'Add mailbox' }).click();
    const address = `info@${hosted.domain}`;
    await page.getByRole('cell', { name: address, exact: true }).waitFor();
    const first = (await page.getByTestId('generated-password').textContent()) ?? '';
    expect(first.length).toBeGreaterThan(12);
    expect(await loginRefused(env, address, first)).toBe(false);
    await page.getByRole('button', { name: 'Done' }).click();
    // The plan's one mailbox is in use: the API's 409 names the limit.
    await form.getByLabel('Name (before the @)').fill('second');
    await form.getByRole('button', { name: 'Add mailbox' }).click();
    await form.getByText('The plan allows 1 mailboxes').waitFor();

    await page.getByRole('button', { name: 'Reset password' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Reset password' }).click();
    await eventually(async () => ((await page.getByTestId('generated-password').textContent()) ?? first) !== first, 15_000, 'a new password shown');
    const fresh = (await page.getByTestId('generated-password').textContent()) ?? '';
    expect(await loginRefused(env, address, fresh)).toBe(false);
    await page.getByRole('button', { name: 'Done' }).click();

    const alias = page.getByRole('form', { name: 'Add an alias' });
    await alias.getByLabel('Alias (before the @)').fill('sales');
    await alias.getByLabel('Delivers to (addresses, comma separated)').fill(address);
    await alias.getByRole('button', { name: 'Add alias' }).click();
    await page.getByRole('cell', { name: `sales@${hosted.domain}`, exact: true }).waitFor();
    await checkA11y('mail with an alias');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete alias' }).click();
    await page.getByText('No alias yet.').waitFor();
  });

  const { secret, recovery } = await step('enrol totp', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security' }).click();
    await heading('Security').waitFor();
    await page.getByRole('cell', { name: 'This session' }).waitFor();
    await checkA11y('security');
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const key = (await page.getByTestId('totp-secret').textContent()) ?? '';
    expect(key).toMatch(/^[A-Z2-7]{16,}$/);
    const confirm = page.getByRole('form', { name: 'Confirm two-factor sign-in' });
    await confirm.getByLabel('Code').fill('000000');
    await confirm.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await page.getByText('The code is not valid').waitFor();
    await confirm.getByLabel('Code').fill(totpCode(base32Decode(key), stepAt(Date.now())));
    await confirm.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    expect(await page.locator('.recovery-codes li').count()).toBe(10);
    const codes = await page.locator('.recovery-codes li').allTextContents();
    await checkA11y('recovery codes');
    await page.getByRole('button', { name: 'I have kept them' }).click();
    await page.getByRole('form', { name: 'Turn off two-factor sign-in' }).getByText('On.').waitFor();
    return { secret: key, recovery: codes[0]! };
  });

  await step('sign out and back in with a code', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('Customer portal sign-in').waitFor();
    await signIn(email, password);
    await page.getByText('Enter the code from your authenticator app').waitFor();
    await checkA11y('second factor');
    // The step after the one confirmed (within the one-step drift window): a code is never taken twice.
    await page.getByLabel('Code').fill(totpCode(base32Decode(secret), stepAt(Date.now()) + 1));
    await page.getByRole('button', { name: 'Continue' }).click();
    await heading('Your services').waitFor();
    await page.getByRole('link', { name: domain }).waitFor();
  });

  await step('other screens', async () => {
    for (const [link, title] of [
      ['Contacts', 'Contacts'],
      ['Account', 'Your account'],
    ] as const) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
      await heading(title).waitFor();
      await page.locator('form, table').first().waitFor();
      await checkA11y(title);
    }
    const tax = page.getByRole('form', { name: 'Tax id' });
    await tax.getByLabel('VAT or tax id').fill('!!');
    await tax.getByRole('button', { name: 'Save tax id' }).click();
    await tax.locator('.field-error').waitFor();
    await tax.getByLabel('VAT or tax id').fill('DE123456789');
    await tax.getByRole('button', { name: 'Save tax id' }).click();
    await page.getByText('Saved.').waitFor();
    await page.setViewportSize({ width: 360, height: 800 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
    await heading('Your services').waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    // The access token was in memory only, but the refresh cookie resumes the session: a reload stays signed in.
    await page.reload();
    await heading('Your services').waitFor();
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(0);
    // Signing out clears the cookie: a new page load has no session to resume.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('Customer portal sign-in').waitFor();
    await page.goto(`${base}/portal/`);
    await heading('Customer portal sign-in').waitFor();
  });

  await step('sign-in link with a recovery code', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole('link', { name: /Forgot your password/ }).click();
    await heading('Reset your password or get a sign-in link').waitFor();
    await checkA11y('forgot password');
    await page.getByLabel('Organisation').fill(tenant.slug);
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
    await page.getByText('If this email has a portal login, a link is on its way').waitFor();
    const mail = await eventually(async () => mailer.sent.find((m) => m.email === email && m.kind === 'SIGN_IN'), 15_000, 'the sign-in link');
    const signInLink = new URL(mail.url);
    expect(signInLink.pathname).toBe('/portal/sign-in');
    await page.goto(`${base}${signInLink.pathname}${signInLink.search}`);
    // The link is the first factor; the second is still asked for: a recovery code this time.
    await page.getByText('Enter the code from your authenticator app').waitFor();
    await page.getByLabel('Code').fill(recovery);
    await page.getByRole('button', { name: 'Continue' }).click();
    await heading('Your services').waitFor();
  });

  await step('not found', async () => {
    await page.goto(`${base}/portal/no-such-page`);
    await heading('Not found').waitFor();
    await page.getByRole('link', { name: 'Back to your services' }).waitFor();
  });

  expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((screen) => [screen, []])));
});

/** An ISSUED invoice of `amount` (minor units, EUR) for the customer's subscription. */
const issueInvoiceFor = (built: { customer: Customer; subscription: Subscription }, amount: number) =>
  withTenant(database.db, tenant.id, async (tx) => {
    const draft = await createDraftInvoice(tx, tenant.id, { customerId: built.customer.id, subscriptionId: built.subscription.id, currency: 'EUR', lines: [{ description: 'Web hosting', quantity: 1, unitAmount: amount }] }, systemActor);
    return issueInvoice(tx, tenant.id, draft.id, systemActor);
  });

it('a customer sees only their own services and invoices, pays one through the Stripe stand-in, and sees it paid', { timeout: 300_000 }, async () => {
  // Two customers of the tenant, each with a live service and an open invoice; their steps done, so the worker has nothing to run.
  const done = { PROVISION_DNS: 'SUCCEEDED', PROVISION_HOSTING: 'SUCCEEDED', VERIFY_AND_ACTIVATE: 'SUCCEEDED' } as const;
  const mine = await buildOrder(database.db, tenant, { subscriptionStatus: 'ACTIVE', jobStatuses: done });
  const theirs = await buildOrder(database.db, tenant, { subscriptionStatus: 'ACTIVE', jobStatuses: done });
  const invoice = await issueInvoiceFor(mine, 2500);
  const foreign = await issueInvoiceFor(theirs, 4200);
  const number = invoice.number!;
  const login = await buildCustomerLogin(database.db, tenant, mine.customer);
  // A browser context of its own: nothing left from the first journey.
  page = await (await browser!.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.setDefaultTimeout(45_000);

  await step('own services only', async () => {
    await page.goto(`${base}/portal/sign-in`);
    await signIn(login.email, DEFAULT_PASSWORD);
    await heading('Your services').waitFor();
    await page.getByRole('link', { name: mine.domain.name }).waitFor();
    expect(await page.content()).not.toContain(theirs.domain.name);
  });

  await step('own invoices only', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Invoices' }).click();
    await heading('Invoices').waitFor();
    await page.getByRole('cell', { name: number, exact: true }).waitFor();
    expect(await page.content()).not.toContain(foreign.number!);
    await page.getByRole('button', { name: `Pay invoice ${number}` }).waitFor();
    await checkA11y('invoices with a payable one');
  });

  const session = await step('pay', async () => {
    await page.getByRole('button', { name: `Pay invoice ${number}` }).click();
    // The browser leaves for the provider's page: the stand-in's session URL (not a real page).
    await page.waitForURL((url) => url.href.startsWith(`${standin!.base}/pay/cs_test_`));
    const sessionId = new URL(page.url()).pathname.split('/').at(-1)!;
    const created = standin!.sessions.get(sessionId);
    expect(created).toMatchObject({ mode: 'payment', amount_total: 2500, metadata: { mpanel_invoice_id: invoice.id } });
    return created!;
  });

  await step('back in the portal, payment pending', async () => {
    // Stripe sends the customer to the success URL: a new page load, and the refresh cookie resumes the session (no sign-in).
    const back = new URL(String(session.success_url));
    expect(`${back.pathname}${back.search}`).toBe(`/portal/invoices/${invoice.id}?checkout=success`);
    await page.goto(`${base}${back.pathname}${back.search}`);
    await heading('Invoices').waitFor();
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(0);
    expect(await page.getByLabel('Password').count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe(`/portal/invoices/${invoice.id}`);
    await page.getByText('(payment pending)').waitFor();
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: number, exact: true }) });
    await row.getByText('Payment pending', { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: `Pay invoice ${number}` }).count()).toBe(0);
    await checkA11y('invoice payment pending');
  });

  await step('paid once the provider says so', async () => {
    // The customer paid on Stripe's page; its signed checkout.session.completed reaches the webhook route.
    const body = JSON.stringify(stripeEvent('checkout.session.completed', standin!.completeSession(String(session.id))));
    const delivered = await fetch(`${base}/api/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': stripeTestSignatureHeader(body, testApp!.env.STRIPE_WEBHOOK_SECRET) }, body });
    expect(delivered.status).toBe(200);
    expect(await delivered.json()).toMatchObject({ status: 'PROCESSED' });
    // The screen polls the list: no reload.
    await page.getByText(`Thank you: invoice ${number} is paid.`).waitFor();
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: number, exact: true }) });
    await row.getByText('PAID', { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: `Pay invoice ${number}` }).count()).toBe(0);
    const [stored] = await withTenant(database.db, tenant.id, (tx) => tx.select().from(invoices).where(eq(invoices.id, invoice.id)));
    expect(stored).toMatchObject({ status: 'PAID', amountPaid: 2500 });
    await checkA11y('invoice paid');
  });

  expect(a11y).toEqual(Object.fromEntries(Object.keys(a11y).map((screen) => [screen, []])));
});
