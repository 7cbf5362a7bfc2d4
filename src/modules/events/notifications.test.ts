import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { auditLogs, notificationTemplates } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { domainEventCatalogue, domainEventTypes } from './domain-events.js';
import { checkTemplate } from './email-template.js';
import { samplePayload } from './notifications.service.js';
import { fileTemplates } from './templates/index.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});
const db = () => t.container.database.db;

async function admin() {
  const tenant = await buildTenant(db());
  const { user } = await buildUser(db(), tenant, { role: 'ADMIN' });
  return { tenant, user, headers: await authHeader(t.env, user) };
}

describe('notification templates', () => {
  it('every file template uses only its event\'s variables, and every sample payload fits its schema', () => {
    for (const type of domainEventTypes) {
      expect(checkTemplate(type, fileTemplates[type]), type).toEqual([]);
      expect(() => domainEventCatalogue[type].parse(samplePayload(type)), type).not.toThrow();
    }
  });

  it('an override with an unknown variable is refused (400 naming the part) and nothing is saved', async () => {
    const { tenant, headers } = await admin();
    const res = await t.app.inject({
      method: 'PUT',
      url: '/api/notification-templates/invoice.issued',
      headers,
      payload: { subject: 'Invoice {{number}} for {{customerSSN}}', text: 'Total {{total}}', html: '<p>{{total}} {{ nope }}</p>' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const fields = res.json().errors.map((error: { field: string }) => error.field);
    expect(fields).toEqual(['body/subject', 'body/html']);
    expect(res.body).toContain('customerSSN');
    const saved = await withTenant(db(), tenant.id, (tx) => tx.select().from(notificationTemplates));
    expect(saved).toHaveLength(0);
  });

  it('a valid override is saved, audited, shown in the preview with the tenant\'s branding and escaped values; reset goes back to the file', async () => {
    const { tenant, headers } = await admin();
    const other = await admin();
    const settings = await t.app.inject({ method: 'PATCH', url: '/api/notification-settings', headers, payload: { brandName: 'Acme <b>', locale: 'fr-FR', primaryColor: '#112233' } });
    expect(settings.statusCode).toBe(200);
    expect(settings.json()).toMatchObject({ brandName: 'Acme <b>', locale: 'fr-FR', timeZone: 'UTC' });
    const badSettings = await t.app.inject({ method: 'PATCH', url: '/api/notification-settings', headers, payload: { locale: 'not a locale!', primaryColor: 'red' } });
    expect(badSettings.statusCode).toBe(400);

    const body = { subject: 'Facture {{number}} : {{total}}', text: 'Bonjour {{recipientName}}, {{total}} avant le {{dueAt}}.', html: '<p>Bonjour {{recipientName}}, <b>{{total}}</b></p>' };
    const saved = await t.app.inject({ method: 'PUT', url: '/api/notification-templates/invoice.issued', headers, payload: body });
    expect(saved.statusCode).toBe(200);
    expect(saved.json()).toMatchObject({ event: 'invoice.issued', source: 'tenant', audience: 'customer', ...body });

    const preview = await t.app.inject({ method: 'POST', url: '/api/notification-templates/invoice.issued/preview', headers, payload: {} });
    expect(preview.statusCode).toBe(200);
    expect(preview.json().subject).toBe('Facture INV-2026-0042 : 49,99\u00a0€');
    expect(preview.json().html).toContain('Acme &lt;b&gt;');
    expect(preview.json().html).toContain('#112233');
    const tryOut = await t.app.inject({ method: 'POST', url: '/api/notification-templates/invoice.issued/preview', headers, payload: { subject: '{{oops}}' } });
    expect(tryOut.statusCode).toBe(400);

    // The other tenant still has the file template: overrides are per tenant.
    const theirs = await t.app.inject({ method: 'GET', url: '/api/notification-templates/invoice.issued', headers: other.headers });
    expect(theirs.json()).toMatchObject({ source: 'file', subject: fileTemplates['invoice.issued'].subject });
    const theirPut = await t.app.inject({ method: 'PUT', url: '/api/notification-templates/invoice.issued', headers: other.headers, payload: { ...body, subject: 'Other' } });
    expect(theirPut.statusCode).toBe(200);
    const mine = await t.app.inject({ method: 'GET', url: '/api/notification-templates/invoice.issued', headers });
    expect(mine.json().subject).toBe(body.subject);

    const audit = await withTenant(db(), tenant.id, (tx) =>
      tx.select({ action: auditLogs.action }).from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.id), eq(auditLogs.targetType, 'notification_template'))),
    );
    expect(audit.map((row) => row.action)).toEqual(['notification_template.updated']);

    const reset = await t.app.inject({ method: 'DELETE', url: '/api/notification-templates/invoice.issued', headers });
    expect(reset.json()).toMatchObject({ source: 'file', subject: fileTemplates['invoice.issued'].subject });
  });

  it('only admins manage templates; an unknown event type is a 400', async () => {
    const tenant = await buildTenant(db());
    const { user } = await buildUser(db(), tenant, { role: 'BILLING' });
    const headers = await authHeader(t.env, user);
    expect((await t.app.inject({ method: 'GET', url: '/api/notification-templates', headers })).statusCode).toBe(403);
    const { headers: adminHeaders } = await admin();
    expect((await t.app.inject({ method: 'GET', url: '/api/notification-templates', headers: adminHeaders })).json().items).toHaveLength(domainEventTypes.length);
    expect((await t.app.inject({ method: 'GET', url: '/api/notification-templates/invoice.nope', headers: adminHeaders })).statusCode).toBe(400);
  });
});
