import { afterAll, expect, it } from 'vitest';
import { buildTenant } from '../../../test/factories.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { startSmtpListener } from '../../../test/helpers/smtp-listener.js';

/** Customer links reach the customer as email, through a real SMTP listener standing for the relay. */
const smtp = await startSmtpListener();
const t = await createTestApp({ env: { SMTP_PORT: String(smtp.port), EMAIL_FROM: 'billing@host.example.test' } });
afterAll(async () => {
  await t.close();
  await smtp.close();
});
const db = t.container.database.db;
const tenant = await buildTenant(db, { name: 'Acme Hosting' });
const { price } = await buildOffer(db, tenant);

const mailTo = (address: string) => smtp.received.filter((mail) => mail.envelopeTo.includes(address));
const linkIn = (text: string) => {
  const url = /https?:\/\/\S+token=[A-Za-z0-9_-]+/.exec(text)?.[0];
  if (!url) throw new Error(`no link in ${text}`);
  return url;
};

it('the first order emails the invitation in the tenant\'s name; its link sets the password; a reset request emails a reset link', async () => {
  const email = `link-${Date.now()}@example.test`;
  const body = JSON.stringify(orderPayload(tenant, price, { customer: { email, name: 'Ada <b>Lovelace</b>' } }));
  expect((await t.app.inject({ method: 'POST', url: '/api/orders', headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, body), payload: body })).statusCode).toBe(201);

  const [invitation] = await eventually(async () => (mailTo(email).length > 0 ? mailTo(email) : null), 10_000, 'the invitation email');
  const parsed = invitation!.parsed;
  expect(parsed.subject).toBe('Your Acme Hosting customer account');
  expect(parsed.from?.value[0]).toMatchObject({ name: 'Acme Hosting', address: 'billing@host.example.test' });
  expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
  expect(parsed.text).toContain('Hello Ada <b>Lovelace</b>');
  expect(parsed.html).toContain('Ada &lt;b&gt;Lovelace&lt;/b&gt;'); // the name is text, never markup
  const url = new URL(linkIn(parsed.text ?? ''));
  expect(url.origin).toBe(new URL(t.env.PORTAL_URL).origin);
  const password = 'the password from the email link';
  const accepted = await t.app.inject({ method: 'POST', url: '/api/portal/auth/accept-invitation', payload: { token: url.searchParams.get('token'), password } });
  expect(accepted.statusCode, accepted.body).toBe(200);
  expect((await t.app.inject({ method: 'POST', url: '/api/portal/auth/login', payload: { tenant: tenant.slug, email, password } })).statusCode).toBe(200);

  const reset = await t.app.inject({ method: 'POST', url: '/api/portal/auth/password-reset', payload: { tenant: tenant.slug, email } });
  expect(reset.statusCode).toBe(202);
  const resetMail = await eventually(async () => mailTo(email).find((mail) => mail.parsed.subject === 'Reset your Acme Hosting password') ?? null, 10_000, 'the reset email');
  const resetToken = new URL(linkIn(resetMail.parsed.text ?? '')).searchParams.get('token');
  const confirmed = await t.app.inject({ method: 'POST', url: '/api/portal/auth/password-reset/confirm', payload: { token: resetToken, password: 'a new password from the reset' } });
  expect(confirmed.statusCode, confirmed.body).toBe(200);
});
