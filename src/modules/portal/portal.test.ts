import { afterAll, describe, expect, it } from 'vitest';
import { buildTenant } from '../../../test/factories.js';
import { createTestApp } from '../../../test/helpers/app.js';
import { provisionTestZone, resolverFor, ZoneCleanup } from '../../../test/helpers/dns.js';
import { buildCustomerLogin, CapturingMailer, containerWithMailer, customerAuthHeader } from '../../../test/helpers/portal.js';
import { DEFAULT_PASSWORD } from '../../../test/factories.js';

const mailer = new CapturingMailer();
const t = await createTestApp({ container: containerWithMailer(mailer) });
const cleanup = new ZoneCleanup();
afterAll(async () => {
  await cleanup.deleteAll(t.env);
  await t.close();
});
const db = t.container.database.db;
const tenant = await buildTenant(db);
const { order, zone } = await provisionTestZone(t.env, db, tenant, cleanup);
const owner = await buildCustomerLogin(db, tenant, order.customer);
const headers = await customerAuthHeader(t.env, db, owner);
const inject = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, h = headers) =>
  t.app.inject({ method, url: `/api/portal${url}`, headers: h, ...(payload === undefined ? {} : { payload: payload as object }) });

describe('portal routes', () => {
  it('profile, billing address and tax id', async () => {
    expect((await inject('PATCH', '/profile', { company: 'Ada Ltd' })).json()).toMatchObject({ customer: { company: 'Ada Ltd' } });
    const address = { line1: '1 Main St', city: 'Berlin', postalCode: '10115', country: 'DE' };
    expect((await inject('PUT', '/billing-address', address)).json()).toMatchObject({ customer: { billingAddress: address } });
    const bad = await inject('PUT', '/billing-address', { ...address, country: 'Germany' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('country');
    expect((await inject('PUT', '/tax-id', { taxId: 'DE123456789' })).json()).toMatchObject({ customer: { taxId: 'DE123456789' } });
    expect((await inject('GET', '/profile')).json()).toMatchObject({ customer: { company: 'Ada Ltd', taxId: 'DE123456789', locale: null }, login: { id: owner.id, role: 'OWNER' } });
    // The language of the customer's emails and invoices: a BCP 47 tag, stored canonical; null for the provider's.
    expect((await inject('PATCH', '/profile', { locale: 'fr-fr' })).json()).toMatchObject({ customer: { locale: 'fr-FR' } });
    const badLocale = await inject('PATCH', '/profile', { locale: 'not a locale!' });
    expect([badLocale.statusCode, badLocale.json().errors]).toEqual([400, [{ field: 'body/locale', message: 'must be a BCP 47 language tag like en-GB' }]]);
    expect((await inject('GET', '/profile')).json().customer.locale).toBe('fr-FR');
    expect((await inject('PATCH', '/profile', { locale: null })).json()).toMatchObject({ customer: { locale: null } });
  });

  it('services: plan, status, domain, site URL', async () => {
    const res = await inject('GET', '/services');
    expect(res.statusCode, res.body).toBe(200);
    const [service] = res.json<{ items: { id: string; domain: string; siteUrl: string; status: string; plan: { amount: number } }[] }>().items;
    expect(service).toMatchObject({ id: order.subscription.id, domain: order.domain.name, siteUrl: `http://${order.domain.name}/`, status: order.subscription.status });
  });

  it('contacts: the owner invites a technical contact, who gets an invitation; a technical login cannot invite', async () => {
    const res = await inject('POST', '/contacts', { email: 'Tech@Example.test', name: 'Tech', role: 'TECHNICAL' });
    expect(res.statusCode, res.body).toBe(201);
    expect(mailer.tokenFor('tech@example.test', 'INVITATION')).toBeTruthy();
    expect((await inject('POST', '/contacts', { email: 'tech@example.test', name: 'Again', role: 'BILLING' })).statusCode).toBe(409);
    const tech = await buildCustomerLogin(db, tenant, order.customer, { role: 'TECHNICAL' });
    const techHeaders = await customerAuthHeader(t.env, db, tech);
    expect((await inject('POST', '/contacts', { email: 'x@example.test', name: 'X', role: 'BILLING' }, techHeaders)).statusCode).toBe(403);
    expect((await inject('GET', '/contacts')).json<{ items: unknown[] }>().items.length).toBeGreaterThanOrEqual(3);
  });

  it('DNS: a record added by the customer is answered by PowerDNS', async () => {
    const res = await inject('POST', `/dns/zones/${zone.zoneId}/records`, { name: 'portal', type: 'A', content: '192.0.2.55' });
    expect(res.statusCode, res.body).toBe(201);
    expect(await resolverFor(t.env).resolve4(`portal.${order.domain.name}`)).toEqual(['192.0.2.55']);
    const conflict = await inject('POST', `/dns/zones/${zone.zoneId}/records`, { name: 'portal', type: 'CNAME', content: 'example.test' });
    expect(conflict.statusCode).toBe(409);
    const zones = await inject('GET', '/dns/zones');
    expect(zones.json<{ items: { id: string }[] }>().items.map((z) => z.id)).toEqual([zone.zoneId]);
  });

  it('sessions and password change: other sessions end, this one stays', async () => {
    const other = await customerAuthHeader(t.env, db, owner);
    const listed = (await inject('GET', '/sessions')).json<{ items: { id: string; current: boolean }[] }>().items;
    expect(listed.filter((s) => s.current)).toHaveLength(1);
    expect((await inject('POST', '/password', { currentPassword: 'wrong', newPassword: 'a brand new password' })).statusCode).toBe(400);
    expect((await inject('POST', '/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'a brand new password' })).statusCode).toBe(204);
    expect((await inject('GET', '/profile', undefined, other)).statusCode).toBe(401);
    expect((await inject('GET', '/profile')).statusCode).toBe(200);
  });
});
