import { eq } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildOrder, buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { spawnTs } from '../../../test/helpers/process.js';
import { startSmtpListener, type SmtpListener } from '../../../test/helpers/smtp-listener.js';
import { customers, eventDeliveries, notificationSettings, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { SmtpMailer } from '../../providers/smtp/smtp-mailer.js';
import { recordEvent, type DomainEvent } from './domain-events.js';
import { dispatchEvents } from './event-dispatcher.js';
import { deliverDue, type DeliveryDeps } from './event-delivery.js';
import { webhookSettings } from './webhook-deliveries.js';

let t: TestApp;
let smtp: SmtpListener;
let deps: DeliveryDeps;
beforeAll(async () => {
  t = await createTestApp();
  smtp = await startSmtpListener();
  deps = {
    db: t.container.database.db,
    mailer: new SmtpMailer({ host: '127.0.0.1', port: smtp.port, maxConnections: 5, timeoutMs: 5_000 }),
    emailFrom: 'notifications@mpanel.test',
    logger: pino({ level: 'silent' }),
    settings: { leaseMs: 30_000, maxAgeMs: 3_600_000, backoffBaseMs: 1, concurrency: 10 },
    webhooks: webhookSettings(t.env),
  };
});
afterAll(async () => {
  deps.mailer.close();
  await smtp.close();
  await t.close();
});
beforeEach(() => {
  smtp.answer = () => 'accept';
});

const db = () => t.container.database.db;
const record = (tenant: Tenant, event: DomainEvent) => withTenant(db(), tenant.id, (tx) => recordEvent(tx, tenant.id, event));
const deliveriesOf = (tenant: Tenant) => withTenant(db(), tenant.id, (tx) => tx.select().from(eventDeliveries).where(eq(eventDeliveries.tenantId, tenant.id)));
const mailTo = (address: string) => smtp.received.filter((mail) => mail.envelopeTo.includes(address));

/** Dispatch and deliver until nothing is due (retries have a 1 ms base backoff here). */
async function drain(maxRuns = 20): Promise<void> {
  for (let run = 0; run < maxRuns; run += 1) {
    await dispatchEvents(db());
    const result = await deliverDue(deps);
    if (result.claimed === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if ((await deliverDue(deps)).claimed === 0) return;
    }
  }
}

async function invoiceEvent(tenant: Tenant, type: 'invoice.issued' | 'invoice.reminder', customerName = 'Ada') {
  const { customer, subscription } = await buildOrder(db(), tenant, { subscriptionStatus: 'ACTIVE' });
  await withTenant(db(), tenant.id, (tx) => tx.update(customers).set({ name: customerName }).where(eq(customers.id, customer.id)));
  const invoiceId = crypto.randomUUID();
  await record(tenant, {
    type,
    subject: { type: 'invoice', id: invoiceId },
    payload: { invoiceId, customerId: customer.id, subscriptionId: subscription.id, number: 'INV-0042', total: { amount: 123456, currency: 'EUR' }, dueAt: '2026-12-31T12:00:00.000Z' },
  });
  return { customer, invoiceId };
}

describe('event emails through a real SMTP listener', () => {
  it('a customer event reaches the customer: branded, both parts, local money and dates, customer input escaped', async () => {
    const tenant = await buildTenant(db(), { name: 'Hosting & Co' });
    await withTenant(db(), tenant.id, (tx) =>
      tx.insert(notificationSettings).values({ tenantId: tenant.id, senderName: 'Acme Billing', replyTo: 'help@acme.test', brandName: 'Acme <Hosting>', locale: 'de-DE', timeZone: 'Europe/Berlin', footerAddress: '1 Main St, Berlin', primaryColor: '#aa3300' }),
    );
    const { customer } = await invoiceEvent(tenant, 'invoice.issued', '<script>alert(1)</script> Ada');
    await drain();
    const [mail, ...more] = mailTo(customer.email.toLowerCase());
    expect(more).toHaveLength(0);
    expect(mail?.parsed.subject).toBe('Invoice INV-0042: 1.234,56\u00a0€');
    expect(mail?.parsed.from?.value[0]).toMatchObject({ name: 'Acme Billing', address: 'notifications@mpanel.test' });
    expect(mail?.parsed.replyTo?.value[0]?.address).toBe('help@acme.test');
    expect(mail?.parsed.text).toContain('<script>alert(1)</script> Ada');
    expect(mail?.parsed.text).toContain('31. Dezember 2026');
    expect(mail?.parsed.text).toContain('1 Main St, Berlin');
    const html = String(mail?.parsed.html);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Ada');
    expect(html).toContain('Acme &lt;Hosting&gt;');
    expect(html).toContain('#aa3300');
    const [delivery] = await deliveriesOf(tenant);
    expect(delivery).toMatchObject({ channel: 'email', status: 'DELIVERED', attempts: 1, lastStatus: 250 });
    expect(mail?.parsed.messageId).toBe(`<${delivery?.id}@mpanel>`);
  });

  it("a customer who chose a language reads money and dates in it; staff and other customers keep the tenant's", async () => {
    const tenant = await buildTenant(db());
    await withTenant(db(), tenant.id, (tx) => tx.insert(notificationSettings).values({ tenantId: tenant.id, locale: 'de-DE', timeZone: 'Europe/Berlin' }));
    const french = await invoiceEvent(tenant, 'invoice.issued');
    await withTenant(db(), tenant.id, (tx) => tx.update(customers).set({ locale: 'fr-FR' }).where(eq(customers.id, french.customer.id)));
    const german = await invoiceEvent(tenant, 'invoice.issued');
    await drain();
    const [toFrench] = mailTo(french.customer.email.toLowerCase());
    expect(toFrench?.parsed.subject).toBe('Invoice INV-0042: 1\u202f234,56\u00a0€');
    expect(toFrench?.parsed.text).toContain('31 décembre 2026');
    expect(String(toFrench?.parsed.html)).toContain('<html lang="fr-FR">');
    expect(mailTo(german.customer.email.toLowerCase())[0]?.parsed.subject).toBe('Invoice INV-0042: 1.234,56\u00a0€');
  });

  it('a staff alert goes to the tenant\'s ADMIN and BILLING users only', async () => {
    const tenant = await buildTenant(db());
    const admin = await buildUser(db(), tenant, { role: 'ADMIN' });
    const billing = await buildUser(db(), tenant, { role: 'BILLING' });
    const support = await buildUser(db(), tenant, { role: 'SUPPORT' });
    const gone = await buildUser(db(), tenant, { role: 'ADMIN', isActive: false });
    const jobId = crypto.randomUUID();
    await record(tenant, { type: 'job.failed', subject: { type: 'job', id: jobId }, payload: { jobId, jobType: 'PROVISION_DNS', subscriptionId: null, orderId: null, attempts: 6, error: 'PowerDNS said <no>' } });
    await drain();
    expect(mailTo(admin.user.email.toLowerCase())).toHaveLength(1);
    expect(mailTo(billing.user.email.toLowerCase())).toHaveLength(1);
    expect(mailTo(support.user.email.toLowerCase())).toHaveLength(0);
    expect(mailTo(gone.user.email.toLowerCase())).toHaveLength(0);
    expect(mailTo(admin.user.email.toLowerCase())[0]?.parsed.subject).toBe('Provisioning failed: PROVISION_DNS');
    expect(String(mailTo(admin.user.email.toLowerCase())[0]?.parsed.html)).toContain('PowerDNS said &lt;no&gt;');
  });

  it('a reminder is sent once, however many dispatchers and delivery workers run at once', async () => {
    const tenant = await buildTenant(db());
    const { customer } = await invoiceEvent(tenant, 'invoice.reminder');
    await Promise.all([dispatchEvents(db()), dispatchEvents(db()), dispatchEvents(db()), dispatchEvents(db())]);
    await Promise.all([deliverDue(deps), deliverDue(deps), deliverDue(deps), deliverDue(deps)]);
    await drain();
    expect(mailTo(customer.email.toLowerCase())).toHaveLength(1);
    expect(await deliveriesOf(tenant)).toHaveLength(1);
  });

  it('a temporary refusal (4xx) is retried, then delivered once; a permanent one (5xx) is recorded and not retried', async () => {
    const tenant = await buildTenant(db());
    const { customer } = await invoiceEvent(tenant, 'invoice.issued');
    const address = customer.email.toLowerCase();
    let refusals = 2;
    smtp.answer = (to) => (to.includes(address) && refusals-- > 0 ? { code: 451, message: 'try again later' } : 'accept');
    await drain();
    expect(mailTo(address)).toHaveLength(1);
    expect((await deliveriesOf(tenant))[0]).toMatchObject({ status: 'DELIVERED', attempts: 3 });

    const other = await buildTenant(db());
    const bounced = await invoiceEvent(other, 'invoice.issued');
    smtp.answer = (to) => (to.includes(bounced.customer.email.toLowerCase()) ? { code: 550, message: 'no such user' } : 'accept');
    await drain();
    expect(mailTo(bounced.customer.email.toLowerCase())).toHaveLength(0);
    const [failed] = await deliveriesOf(other);
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 1, lastStatus: 550 });
    expect(failed?.lastError).toContain('no such user');
  });

  it('a worker killed mid-delivery loses nothing: the delivery is sent again after its lease, once', async () => {
    const tenant = await buildTenant(db());
    const { customer } = await invoiceEvent(tenant, 'invoice.issued');
    const address = customer.email.toLowerCase();
    await dispatchEvents(db());
    smtp.answer = (to) => (to.includes(address) ? 'hang' : 'accept');
    const started = smtp.dataStarted;
    const worker = spawnTs('test/fixtures/event-delivery-worker.ts', [], { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), TEST_LEASE_MS: '10000', LOG_LEVEL: 'silent' });
    try {
      await worker.waitFor(/delivery worker started/, 60_000);
      const deadline = Date.now() + 60_000;
      while (smtp.dataStarted === started && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(smtp.dataStarted).toBeGreaterThan(started);
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    const [claimed] = await deliveriesOf(tenant);
    expect(claimed).toMatchObject({ status: 'SENDING', attempts: 1 });
    smtp.answer = () => 'accept';
    // Claimed by the dead worker until its lease ends: nobody sends it meanwhile.
    expect((await deliverDue(deps)).claimed).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (claimed?.leaseUntil?.getTime() ?? 0) - Date.now() + 50)));
    await drain();
    expect(mailTo(address)).toHaveLength(1);
    expect((await deliveriesOf(tenant))[0]).toMatchObject({ status: 'DELIVERED', attempts: 2 });
  }, 120_000);
});

