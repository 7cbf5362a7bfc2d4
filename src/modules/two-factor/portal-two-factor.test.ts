import { afterAll, expect, it } from 'vitest';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { buildOffer, orderPayload, signedHeaders } from '../../../test/helpers/orders.js';
import { CapturingMailer, containerWithMailer } from '../../../test/helpers/portal.js';
import { base32Decode, stepAt, totpCode } from './totp.js';

const mailer = new CapturingMailer();
const t = await createTestApp({ container: containerWithMailer(mailer) });
afterAll(() => t.close());
const db = t.container.database.db;
const tenant = await buildTenant(db);
const { price } = await buildOffer(db, tenant);
const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url: `/api/portal${url}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

it('invitation → set password → login → 2FA enrol → logout → login with TOTP → a recovery code works once', async () => {
  const email = `twofa-${Date.now()}@example.test`;
  const body = JSON.stringify(orderPayload(tenant, price, { customer: { email, name: 'Ada' } }));
  expect((await t.app.inject({ method: 'POST', url: '/api/orders', headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, body), payload: body })).statusCode).toBe(201);
  const password = 'portal password with 2fa';
  expect((await post('/auth/accept-invitation', { token: mailer.tokenFor(email, 'INVITATION'), password })).statusCode).toBe(200);
  const login = () => post('/auth/login', { tenant: tenant.slug, email, password });
  const first = (await login()).json<{ token: string }>();
  const auth = { authorization: `Bearer ${first.token}` };
  const twoFactorOn = async () => (await t.app.inject({ method: 'GET', url: '/api/portal/profile', headers: auth })).json<{ twoFactorEnabled: boolean }>().twoFactorEnabled;
  expect(await twoFactorOn()).toBe(false);

  const enrol = await post('/auth/2fa/enrol', undefined, auth);
  expect(enrol.statusCode, enrol.body).toBe(200);
  const { secret, otpauthUri } = enrol.json<{ secret: string; otpauthUri: string }>();
  expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/mPanel:.*secret=/);
  expect(await twoFactorOn()).toBe(false);
  // Steps pinned at enrolment: a 30 s boundary between two requests must not make the replayed step a fresh one.
  const enrolled = stepAt(Date.now());
  const code = (offset = 0) => totpCode(base32Decode(secret), enrolled + offset);
  expect((await post('/auth/2fa/confirm', { code: '000000' }, auth)).statusCode).toBe(401);
  const confirmed = await post('/auth/2fa/confirm', { code: code(-1) }, auth);
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  const { recoveryCodes } = confirmed.json<{ recoveryCodes: string[] }>();
  expect(recoveryCodes).toHaveLength(10);
  expect(await twoFactorOn()).toBe(true); // the profile says so once confirmed (not while only enrolled)
  expect((await post('/auth/logout', undefined, auth)).statusCode).toBe(200);

  // Password alone now answers a challenge, not tokens.
  const challenged = (await login()).json<{ twoFactorRequired: boolean; challenge: string; token?: string }>();
  expect(challenged.twoFactorRequired).toBe(true);
  expect(challenged.token).toBeUndefined();
  // The step used to confirm cannot be replayed.
  expect((await post('/auth/2fa/verify', { challenge: challenged.challenge, code: code(-1) })).statusCode).toBe(401);
  const verified = await post('/auth/2fa/verify', { challenge: challenged.challenge, code: code(0) });
  expect(verified.statusCode, verified.body).toBe(200);
  expect(verified.json()).toHaveProperty('refreshToken');
  // Same code again (replay) and the same challenge again are refused.
  const again = (await login()).json<{ challenge: string }>();
  expect((await post('/auth/2fa/verify', { challenge: again.challenge, code: code(0) })).statusCode).toBe(401);

  const recovery = recoveryCodes[0]!;
  const withRecovery = await post('/auth/2fa/verify', { challenge: again.challenge, code: recovery });
  expect(withRecovery.statusCode, withRecovery.body).toBe(200);
  expect((await post('/auth/2fa/verify', { challenge: again.challenge, code: recoveryCodes[1]! })).statusCode).toBe(401);
  const third = (await login()).json<{ challenge: string }>();
  expect((await post('/auth/2fa/verify', { challenge: third.challenge, code: recovery })).statusCode).toBe(401);
  expect((await post('/auth/2fa/verify', { challenge: third.challenge, code: recoveryCodes[2]! })).statusCode).toBe(200);
});

it("a tenant that requires it: the customer's login answers an enrolment challenge, which sets up the factor and signs in", async () => {
  const strict = await buildTenant(db);
  const { price: strictPrice } = await buildOffer(db, strict);
  const { user: admin } = await buildUser(db, strict, { role: 'ADMIN' });
  const policy = await t.app.inject({ method: 'PUT', url: '/api/two-factor-policy', headers: await authHeader(t.env, admin), payload: { twoFactorStaffRoles: [], twoFactorCustomers: true } });
  expect(policy.statusCode, policy.body).toBe(200);
  const email = `required-${Date.now()}@example.test`;
  const body = JSON.stringify(orderPayload(strict, strictPrice, { customer: { email, name: 'Grace' } }));
  expect((await t.app.inject({ method: 'POST', url: '/api/orders', headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, body), payload: body })).statusCode).toBe(201);
  const password = 'portal password, 2fa required';
  expect((await post('/auth/accept-invitation', { token: mailer.tokenFor(email, 'INVITATION'), password })).statusCode).toBe(200);

  const challenged = (await post('/auth/login', { tenant: strict.slug, email, password })).json<{ enrolmentRequired: boolean; challenge: string; token?: string }>();
  expect(challenged).toMatchObject({ enrolmentRequired: true });
  expect(challenged.token).toBeUndefined();
  const setup = await post('/auth/2fa/setup', { challenge: challenged.challenge });
  expect(setup.statusCode, setup.body).toBe(200);
  const code = totpCode(base32Decode(setup.json<{ secret: string }>().secret), stepAt(Date.now()));
  const verified = await post('/auth/2fa/verify', { challenge: challenged.challenge, code });
  expect(verified.statusCode, verified.body).toBe(200);
  expect(verified.json<{ recoveryCodes: string[] }>().recoveryCodes).toHaveLength(10);
  expect((await post('/auth/login', { tenant: strict.slug, email, password })).json()).toMatchObject({ twoFactorRequired: true, enrolmentRequired: false });
});
