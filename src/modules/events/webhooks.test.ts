import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, asc, eq } from 'drizzle-orm';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTenant, buildUser } from '../../../test/factories.js';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { authHeader } from '../../../test/helpers/auth.js';
import { powerDns, provisionTestZone, resolverFor, ZoneCleanup } from '../../../test/helpers/dns.js';
import { eventually } from '../../../test/helpers/orders.js';
import { spawnTs } from '../../../test/helpers/process.js';
import { startSmtpListener, type SmtpListener } from '../../../test/helpers/smtp-listener.js';
import { auditLogs, domainEvents, eventDeliveries, webhookEndpoints, type Tenant } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { SmtpMailer } from '../../providers/smtp/smtp-mailer.js';
import { recordEvent } from './domain-events.js';
import { dispatchEvents } from './event-dispatcher.js';
import { deliverDue, type DeliveryDeps } from './event-delivery.js';
import { secretAad, webhookSettings } from './webhook-deliveries.js';
import { MAX_RESPONSE_BYTES, RESPONSE_EXCERPT_CHARS } from './webhook-sender.js';

/** A real HTTP receiver on loopback: records every request, answers what `answer` says. */
interface Received {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The sender's side of the connection: the same port is the same (kept-alive) connection. */
  readonly remotePort: number | undefined;
}
interface Receiver {
  readonly port: number;
  readonly received: Received[];
  /** 'hang': read the request, never answer (a receiver that is slow, or a sender killed meanwhile). */
  answer: (request: Received) => { status: number; body?: string; headers?: Record<string, string> } | 'hang';
  /** Closes the connections that are open but idle (a server's keep-alive timeout). */
  closeIdle(): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Omit<Receiver, 'port' | 'close' | 'closeIdle'> = { received: [], answer: () => ({ status: 200, body: 'ok' }) };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const got = { path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), remotePort: request.socket.remotePort };
      receiver.received.push(got);
      const answer = receiver.answer(got);
      if (answer === 'hang') return;
      const { status, body, headers } = answer;
      response.writeHead(status, { 'content-type': 'text/plain', ...headers });
      response.end(body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    port,
    closeIdle: () => server.closeIdleConnections(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

let t: TestApp;
/** The same install as production would run it: no loopback endpoints. */
let strict: TestApp;
let receiver: Receiver;
let smtp: SmtpListener;
let deps: DeliveryDeps;
const zones = new ZoneCleanup();
beforeAll(async () => {
  t = await createTestApp();
  strict = await createTestApp({ env: { WEBHOOK_ALLOW_LOOPBACK: 'false' } });
  receiver = await startReceiver();
  smtp = await startSmtpListener();
  deps = {
    db: t.container.database.db,
    mailer: new SmtpMailer({ host: '127.0.0.1', port: smtp.port, maxConnections: 2, timeoutMs: 5_000 }),
    emailFrom: 'notifications@mpanel.test',
    logger: pino({ level: 'silent' }),
    settings: { leaseMs: 30_000, maxAgeMs: 3_600_000, backoffBaseMs: 1, concurrency: 10 },
    webhooks: { ...webhookSettings(t.env), timeoutMs: 2_000 },
  };
});
afterAll(async () => {
  deps.mailer.close();
  await zones.deleteAll(t.env);
  await receiver.close();
  await smtp.close();
  await strict.close();
  await t.close();
});
beforeEach(() => {
  receiver.answer = () => ({ status: 200, body: 'ok' });
});

const db = () => t.container.database.db;

async function admin(app: TestApp = t) {
  const tenant = await buildTenant(app.container.database.db);
  const { user } = await buildUser(app.container.database.db, tenant, { role: 'ADMIN' });
  return { tenant, user, headers: await authHeader(app.env, user) };
}

/** Dispatch and deliver until nothing is due (retries have a 1 ms base backoff here). */
async function drain(runDeps: DeliveryDeps = deps, maxRuns = 20): Promise<void> {
  for (let run = 0; run < maxRuns; run += 1) {
    await dispatchEvents(db());
    if ((await deliverDue(runDeps)).claimed === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await dispatchEvents(db());
      if ((await deliverDue(runDeps)).claimed === 0) return;
    }
  }
}

async function invoicePaid(tenant: Tenant): Promise<string> {
  const invoiceId = crypto.randomUUID();
  const customerId = crypto.randomUUID();
  const event = await withTenant(db(), tenant.id, (tx) =>
    recordEvent(tx, tenant.id, {
      type: 'invoice.paid',
      subject: { type: 'invoice', id: invoiceId },
      payload: { invoiceId, customerId, subscriptionId: null, number: 'INV-0007', total: { amount: 1999, currency: 'EUR' }, dueAt: null },
    }),
  );
  return event.id;
}

const receivedFor = (path: string) => receiver.received.filter((request) => request.path === path);
const headersOf = (request: Received): Record<string, string> => ({
  'webhook-id': String(request.headers['webhook-id']),
  'webhook-timestamp': String(request.headers['webhook-timestamp']),
  'webhook-signature': String(request.headers['webhook-signature']),
});

async function createEndpoint(headers: Record<string, string>, body: Record<string, unknown>, app: TestApp = t) {
  return app.app.inject({ method: 'POST', url: '/api/webhook-endpoints', headers, payload: body });
}

describe('outgoing webhooks to a real receiver on loopback', () => {
  it('an event reaches each subscribed endpoint, signed per Standard Webhooks; 500s are retried, then it is delivered once; the log shows each attempt', async () => {
    const { tenant, headers } = await admin();
    const created = await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/a?source=mpanel`, eventTypes: ['invoice.paid', 'invoice.issued'], description: 'ERP' });
    expect(created.statusCode, created.body).toBe(201);
    const endpoint = created.json();
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    // Shown once: never in a read, a list or the audit log.
    const read = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers });
    const list = await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints', headers });
    expect(read.json()).toMatchObject({ id: endpoint.id, url: endpoint.url, enabled: true, eventTypes: ['invoice.paid', 'invoice.issued'], description: 'ERP' });
    expect(list.json().items.map((item: { id: string }) => item.id)).toEqual([endpoint.id]);
    const stored = await withTenant(db(), tenant.id, (tx) => tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpoint.id)));
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, endpoint.id)).orderBy(asc(auditLogs.seq)));
    for (const text of [read.body, list.body, JSON.stringify(stored), JSON.stringify(audit)]) expect(text).not.toContain(endpoint.secret.slice(6));
    expect(audit.map((row) => row.action)).toEqual(['webhook_endpoint.created']);

    // An endpoint of the same tenant not subscribed to the type, and another tenant's, hear nothing.
    const other = await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/not-subscribed`, eventTypes: ['invoice.voided'] });
    expect(other.statusCode).toBe(201);
    const stranger = await admin();
    expect((await createEndpoint(stranger.headers, { url: `http://127.0.0.1:${receiver.port}/stranger`, eventTypes: ['invoice.paid'] })).statusCode).toBe(201);

    let failures = 2;
    receiver.answer = (request) => (request.path === '/a?source=mpanel' && failures-- > 0 ? { status: 500, body: 'database is down' } : { status: 200, body: 'thanks' });
    const eventId = await invoicePaid(tenant);
    await drain();

    const got = receivedFor('/a?source=mpanel');
    expect(got).toHaveLength(3);
    expect(receivedFor('/not-subscribed')).toHaveLength(0);
    expect(receivedFor('/stranger')).toHaveLength(0);
    const verifier = new Webhook(endpoint.secret);
    for (const request of got) {
      expect(request.headers['content-type']).toBe('application/json');
      expect(verifier.verify(request.body, headersOf(request))).toMatchObject({
        id: eventId,
        type: 'invoice.paid',
        version: 1,
        data: { number: 'INV-0007', total: { amount: 1999, currency: 'EUR' } },
      });
    }
    // One webhook-id across the retries: the receiver's idempotency key.
    expect(new Set(got.map((request) => request.headers['webhook-id'])).size).toBe(1);
    // A wrong secret or a changed body does not verify (the check above could fail).
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(got[0]!.body, headersOf(got[0]!))).toThrow();
    expect(() => verifier.verify(got[0]!.body.replace('INV-0007', 'INV-0008'), headersOf(got[0]!))).toThrow();

    const deliveries = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries`, headers });
    expect(deliveries.statusCode).toBe(200);
    const [delivery, ...more] = deliveries.json().items;
    expect(more).toHaveLength(0);
    expect(delivery).toMatchObject({ id: got[0]!.headers['webhook-id'], eventId, eventType: 'invoice.paid', status: 'DELIVERED', attempts: 3, lastStatus: 200, lastResponse: 'thanks' });
    const detail = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${delivery.id}`, headers });
    expect(detail.json().attemptLog.map((a: { attempt: number; status: number; response: string }) => [a.attempt, a.status, a.response])).toEqual([
      [1, 500, 'database is down'],
      [2, 500, 'database is down'],
      [3, 200, 'thanks'],
    ]);
    for (const attempt of detail.json().attemptLog) expect(attempt.latencyMs).toBeGreaterThanOrEqual(0);
    // The other tenant sees neither the endpoint nor its deliveries.
    expect((await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries`, headers: stranger.headers })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${delivery.id}`, headers: stranger.headers })).statusCode).toBe(404);
  });

  it('a redirect is not followed, a long answer is cut, and redelivery sends the same webhook-id with a fresh signature', async () => {
    const { tenant, headers } = await admin();
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/b`, eventTypes: ['invoice.paid'] })).json();
    receiver.answer = (request) =>
      request.path === '/b'
        ? { status: 302, headers: { location: `http://127.0.0.1:${receiver.port}/elsewhere` }, body: 'x'.repeat(MAX_RESPONSE_BYTES * 2) }
        : { status: 200 };
    await invoicePaid(tenant);
    await dispatchEvents(db());
    await deliverDue(deps);
    expect(receivedFor('/elsewhere')).toHaveLength(0);
    const [first] = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries`, headers })).json().items;
    expect(first).toMatchObject({ status: 'PENDING', attempts: 1, lastStatus: 302, lastError: 'answered 302' });
    expect(first.lastResponse).toHaveLength(RESPONSE_EXCERPT_CHARS);

    receiver.answer = () => ({ status: 204 });
    await drain();
    // Delivered: a redelivery by hand is sent again (and audited).
    const again = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${first.id}/redeliver`, headers });
    expect(again.statusCode, again.body).toBe(202);
    expect(again.json()).toMatchObject({ id: first.id, status: 'PENDING' });
    // On its way already: 409.
    expect((await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${first.id}/redeliver`, headers })).statusCode).toBe(409);
    await drain();
    const got = receivedFor('/b');
    expect(got).toHaveLength(3);
    expect(new Set(got.map((request) => request.headers['webhook-id']))).toEqual(new Set([first.id]));
    for (const request of got) expect(() => new Webhook(endpoint.secret).verify(request.body, headersOf(request))).not.toThrow();
    const detail = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${first.id}`, headers })).json();
    expect(detail).toMatchObject({ status: 'DELIVERED', attempts: 3 });
    expect(detail.attemptLog.map((a: { status: number }) => a.status)).toEqual([302, 204, 204]);
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select({ action: auditLogs.action }).from(auditLogs).where(eq(auditLogs.targetId, first.id)));
    expect(audit.map((row) => row.action)).toEqual(['webhook_delivery.redelivered']);
  });

  it('after a rotation, messages carry a signature with the new and with the previous secret; the rotation is audited', async () => {
    const { tenant, headers } = await admin();
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/c`, eventTypes: ['invoice.paid'] })).json();
    const rotated = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/rotate-secret`, headers });
    expect(rotated.statusCode).toBe(200);
    const { secret } = rotated.json();
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(endpoint.secret);
    await invoicePaid(tenant);
    await drain();
    const [request] = receivedFor('/c');
    expect(String(request?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(() => new Webhook(secret).verify(request!.body, headersOf(request!))).not.toThrow();
    expect(() => new Webhook(endpoint.secret).verify(request!.body, headersOf(request!))).not.toThrow();
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, endpoint.id)).orderBy(asc(auditLogs.seq)));
    expect(audit.map((row) => row.action)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.secret_rotated']);
    expect(JSON.stringify(audit)).not.toContain(secret.slice(6));
  });

  it('an endpoint that keeps failing is disabled once it has failed for WEBHOOK_DISABLE_AFTER: audited, its admins emailed, no new deliveries; enabling it again works', async () => {
    const { tenant, user, headers } = await admin();
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/d`, eventTypes: ['invoice.paid'] })).json();
    receiver.answer = (request) => (request.path === '/d' ? { status: 503, body: 'down' } : { status: 200 });
    await invoicePaid(tenant);
    await dispatchEvents(db());
    await deliverDue(deps);
    const [failing] = await withTenant(db(), tenant.id, (tx) => tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpoint.id)));
    expect(failing?.enabled).toBe(true);
    expect(failing?.failingSince).toBeInstanceOf(Date);
    // Failing for longer than WEBHOOK_DISABLE_AFTER (3 days by default): the next failure disables it.
    await withTenant(db(), tenant.id, (tx) => tx.update(webhookEndpoints).set({ failingSince: new Date(Date.now() - 4 * 86400_000) }).where(eq(webhookEndpoints.id, endpoint.id)));
    await drain();
    const disabled = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers })).json();
    expect(disabled).toMatchObject({ enabled: false });
    expect(disabled.disabledReason).toContain('answered 503');
    const [delivery] = await withTenant(db(), tenant.id, (tx) => tx.select().from(eventDeliveries).where(and(eq(eventDeliveries.channel, 'webhook'), eq(eventDeliveries.recipient, endpoint.id))));
    expect(delivery).toMatchObject({ status: 'FAILED', lastError: 'the endpoint is disabled' });
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(and(eq(auditLogs.targetId, endpoint.id), eq(auditLogs.action, 'webhook_endpoint.disabled'))));
    expect(audit).toHaveLength(1);
    expect(audit[0]?.actorType).toBe('SYSTEM');
    const events = await withTenant(db(), tenant.id, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.type, 'webhook_endpoint.disabled')));
    expect(events.map((event) => event.payload.endpointId)).toEqual([endpoint.id]);
    const mails = await eventually(async () => {
      const found = smtp.received.filter((mail) => mail.envelopeTo.includes(user.email.toLowerCase()));
      return found.length > 0 ? found : undefined;
    });
    expect(mails).toHaveLength(1);
    expect(mails[0]?.parsed.subject).toBe(`Webhook endpoint disabled: http://127.0.0.1:${receiver.port}/d`);

    // Disabled: a new event plans nothing for it; a redelivery is refused.
    const before = receivedFor('/d').length;
    await invoicePaid(tenant);
    await drain();
    expect(receivedFor('/d')).toHaveLength(before);
    expect((await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${delivery!.id}/redeliver`, headers })).statusCode).toBe(409);

    const enabled = await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers, payload: { enabled: true } });
    expect(enabled.json()).toMatchObject({ enabled: true, failingSince: null, disabledAt: null, disabledReason: null });
    receiver.answer = () => ({ status: 200 });
    expect((await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${delivery!.id}/redeliver`, headers })).statusCode).toBe(202);
    await drain();
    expect(receivedFor('/d')).toHaveLength(before + 1);
  });

  it('deliveries to one endpoint reuse a kept-alive connection; one the receiver closed meanwhile is replaced, each delivered once', async () => {
    const { tenant, headers } = await admin();
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/ka`, eventTypes: ['invoice.paid'] })).json();
    for (let i = 0; i < 2; i += 1) {
      await invoicePaid(tenant);
      await drain();
    }
    const [first, second] = receivedFor('/ka');
    expect(second?.remotePort).toBe(first?.remotePort);
    receiver.closeIdle();
    await invoicePaid(tenant);
    await drain();
    const got = receivedFor('/ka');
    expect(got).toHaveLength(3);
    expect(got[2]?.remotePort).not.toBe(first?.remotePort);
    const items = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries`, headers })).json().items;
    expect(items.map((item: { status: string; attempts: number }) => `${item.status}:${item.attempts}`)).toEqual(['DELIVERED:1', 'DELIVERED:1', 'DELIVERED:1']);
  });

  it('a worker killed mid-delivery loses nothing: after its lease the delivery is sent again with the same webhook-id, and recorded delivered once', async () => {
    const { tenant, headers } = await admin();
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/k`, eventTypes: ['invoice.paid'] })).json();
    receiver.answer = (request) => (request.path === '/k' ? 'hang' : { status: 200 });
    await invoicePaid(tenant);
    await dispatchEvents(db());
    const worker = spawnTs('test/fixtures/event-delivery-worker.ts', [], { TEST_LEASE_MS: '10000', LOG_LEVEL: 'silent' });
    try {
      await worker.waitFor(/delivery worker started/, 60_000);
      await eventually(async () => receivedFor('/k').length > 0 || undefined, 60_000, 'the worker\'s request');
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    const [claimed] = await withTenant(db(), tenant.id, (tx) => tx.select().from(eventDeliveries).where(eq(eventDeliveries.recipient, endpoint.id)));
    expect(claimed).toMatchObject({ status: 'SENDING', attempts: 1 });
    // Claimed by the dead worker until its lease ends: nobody sends it meanwhile.
    expect((await deliverDue(deps)).claimed).toBe(0);
    receiver.answer = () => ({ status: 200 });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (claimed?.leaseUntil?.getTime() ?? 0) - Date.now() + 50)));
    await drain();
    const got = receivedFor('/k');
    expect(got).toHaveLength(2);
    expect(new Set(got.map((request) => request.headers['webhook-id']))).toEqual(new Set([claimed?.id]));
    for (const request of got) expect(() => new Webhook(endpoint.secret).verify(request.body, headersOf(request))).not.toThrow();
    const detail = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${claimed?.id}`, headers })).json();
    expect(detail).toMatchObject({ status: 'DELIVERED', attempts: 2 });
    // The killed attempt left no log row (it never finished); the one that did is there.
    expect(detail.attemptLog.map((a: { attempt: number; status: number }) => [a.attempt, a.status])).toEqual([[2, 200]]);
  }, 120_000);

  it('a name that resolved to loopback and now resolves to a private address is refused at delivery (DNS rebinding): nothing is sent', async () => {
    const { tenant, headers } = await admin();
    const { zone, order } = await provisionTestZone(t.env, db(), tenant, zones);
    const host = `hooks.${order.domain.name}`;
    const pdns = powerDns(t.env);
    await pdns.patchRRsets(zone.zone, [{ kind: 'replace', name: host, type: 'A', ttl: 60, contents: ['127.0.0.1'] }]);
    const resolver = resolverFor(t.env);
    await eventually(async () => ((await resolver.resolve4(host).catch(() => [] as string[])).includes('127.0.0.1') ? true : undefined));
    const created = await createEndpoint(headers, { url: `http://${host}:${receiver.port}/e`, eventTypes: ['invoice.paid'] });
    expect(created.statusCode, created.body).toBe(201);
    const endpoint = created.json();
    await invoicePaid(tenant);
    await drain();
    expect(receivedFor('/e')).toHaveLength(1);
    expect(receivedFor('/e')[0]?.headers.host).toBe(`${host}:${receiver.port}`);

    await pdns.patchRRsets(zone.zone, [{ kind: 'replace', name: host, type: 'A', ttl: 60, contents: ['10.0.0.1'] }]);
    await eventually(async () => ((await resolver.resolve4(host).catch(() => [] as string[])).includes('10.0.0.1') ? true : undefined));
    await invoicePaid(tenant);
    await drain();
    expect(receivedFor('/e')).toHaveLength(1);
    const items = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries`, headers })).json().items;
    expect(items[0]).toMatchObject({ status: 'FAILED', attempts: 1, lastStatus: null });
    expect(items[0].lastError).toBe(`refused: ${host} resolves to 10.0.0.1: 10.0.0.1 is a private address, not a public one`);
  });
});

describe('the endpoint URL guard (SSRF)', () => {
  it('outside development and tests: metadata, private, loopback and link-local addresses, names resolving to them, and http:// are refused (400 body/url); nothing is saved', async () => {
    const { tenant, headers } = await admin(strict);
    const { order } = await provisionTestZone(strict.env, strict.container.database.db, tenant, zones);
    const refused = [
      'https://169.254.169.254/latest/meta-data/',
      'https://10.0.0.1/hook',
      'https://172.16.5.4/hook',
      'https://192.168.1.1/hook',
      'https://127.0.0.1/hook',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://[::ffff:a9fe:a9fe]/hook',
      'https://[fe80::1]/hook',
      'https://[fd00:ec2::254]/hook',
      'https://0.0.0.0/hook',
      'https://localhost/hook',
      // The zone's apex resolves to 127.0.0.1 (DNS_DEFAULT_WEB_IPV4) through PowerDNS.
      `https://${order.domain.name}/hook`,
      `https://no-such-name.${order.domain.name}/hook`,
      `http://${order.domain.name}/hook`,
      'http://93.184.215.14/hook',
      'https://user:pass@93.184.215.14/hook',
      'ftp://93.184.215.14/hook',
      'not a url',
    ];
    for (const url of refused) {
      const res = await createEndpoint(headers, { url, eventTypes: ['invoice.paid'] }, strict);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json().errors.map((error: { field: string }) => error.field), url).toEqual(['body/url']);
    }
    const rows = await withTenant(strict.container.database.db, tenant.id, (tx) => tx.select().from(webhookEndpoints));
    expect(rows).toHaveLength(0);
    // A public address is accepted (saving connects nowhere).
    expect((await createEndpoint(headers, { url: 'https://93.184.215.14/hook', eventTypes: ['invoice.paid'] }, strict)).statusCode).toBe(201);
  });

  it('in development and tests loopback is accepted, private and metadata addresses still are not; bad bodies are 400s naming the field', async () => {
    const { headers } = await admin();
    for (const url of ['http://169.254.169.254/latest', 'http://10.0.0.1/hook', 'http://93.184.215.14/hook']) {
      const res = await createEndpoint(headers, { url, eventTypes: ['invoice.paid'] });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().errors[0].field).toBe('body/url');
    }
    const cases: [Record<string, unknown>, string][] = [
      [{ url: `http://127.0.0.1:${receiver.port}/x`, eventTypes: ['invoice.nope'] }, 'body/eventTypes/0'],
      [{ url: `http://127.0.0.1:${receiver.port}/x`, eventTypes: [] }, 'body/eventTypes'],
      [{ url: `http://127.0.0.1:${receiver.port}/x`, eventTypes: ['invoice.paid', 'invoice.paid'] }, 'body/eventTypes'],
      [{ url: `http://127.0.0.1:${receiver.port}/x`, eventTypes: ['invoice.paid'], secret: 'whsec_mine' }, 'body'],
      [{ eventTypes: ['invoice.paid'] }, 'body/url'],
    ];
    for (const [body, field] of cases) {
      const res = await createEndpoint(headers, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().errors.map((error: { field: string }) => error.field), JSON.stringify(body)).toContain(field);
    }
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/x`, eventTypes: ['invoice.paid'] })).json();
    const empty = await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers, payload: {} });
    expect(empty.statusCode).toBe(400);
    const moved = await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers, payload: { url: 'https://169.254.169.254/' } });
    expect(moved.statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers })).json().url).toBe(endpoint.url);
  });

  it('POST /:id/test sends a signed webhook.test at once and answers its outcome, kept in the delivery log and audited; not retried; admins only; another tenant gets 404', async () => {
    const { tenant, headers } = await admin();
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/test-me`, eventTypes: ['invoice.paid'] })).json();
    receiver.answer = (request) => (request.path === '/test-me' ? { status: 202, body: 'got it' } : { status: 200 });
    const tested = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/test`, headers });
    expect(tested.statusCode, tested.body).toBe(200);
    const outcome = tested.json();
    expect(outcome).toMatchObject({ status: 'DELIVERED', httpStatus: 202, response: 'got it', error: null });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
    // Sent before the answer: the receiver has it, signed with the endpoint's secret.
    const [request, ...more] = receivedFor('/test-me');
    expect(more).toHaveLength(0);
    expect(request?.headers['webhook-id']).toBe(outcome.deliveryId);
    expect(new Webhook(endpoint.secret).verify(request!.body, headersOf(request!))).toMatchObject({ id: outcome.eventId, type: 'webhook.test', data: { endpointId: endpoint.id } });
    const detail = (await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}/deliveries/${outcome.deliveryId}`, headers })).json();
    expect(detail).toMatchObject({ eventType: 'webhook.test', status: 'DELIVERED', attempts: 1, lastStatus: 202, lastResponse: 'got it' });
    expect(detail.attemptLog.map((a: { status: number }) => a.status)).toEqual([202]);

    // A failing receiver: FAILED at once with what it answered, and nothing is left for the workers.
    receiver.answer = (got) => (got.path === '/test-me' ? { status: 503, body: 'maintenance' } : { status: 200 });
    const failed = (await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/test`, headers })).json();
    expect(failed).toMatchObject({ status: 'FAILED', httpStatus: 503, response: 'maintenance', error: 'answered 503' });
    await drain();
    expect(receivedFor('/test-me')).toHaveLength(2);
    const failedRow = await withTenant(db(), tenant.id, (tx) => tx.select().from(eventDeliveries).where(eq(eventDeliveries.id, failed.deliveryId)));
    expect(failedRow[0]).toMatchObject({ status: 'FAILED', attempts: 1, lastStatus: 503 });
    // The failure counts for the endpoint's health, as any attempt does.
    expect((await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers })).json().failingSince).not.toBeNull();

    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, endpoint.id)).orderBy(asc(auditLogs.seq)));
    expect(audit.map((row) => row.action)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.tested', 'webhook_endpoint.tested']);
    expect(audit[1]?.metadata).toMatchObject({ deliveryId: outcome.deliveryId });

    // Managing endpoints' permission; another tenant's admin: 404; a disabled endpoint: 409. Nothing sent.
    const { user } = await buildUser(db(), tenant, { role: 'BILLING' });
    expect((await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/test`, headers: await authHeader(t.env, user) })).statusCode).toBe(403);
    const stranger = await admin();
    expect((await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/test`, headers: stranger.headers })).statusCode).toBe(404);
    await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers, payload: { enabled: false } });
    expect((await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/test`, headers })).statusCode).toBe(409);
    expect(receivedFor('/test-me')).toHaveLength(2);
  });

  it('POST /:id/test to an address refused at send time answers FAILED with the refusal; nothing is sent', async () => {
    const { tenant, headers } = await admin(strict);
    // Refused at save on this install: a row written directly stands for an endpoint saved before its name was re-pointed at loopback.
    expect((await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/refused`, eventTypes: ['invoice.paid'] }, strict)).statusCode).toBe(400);
    const id = crypto.randomUUID();
    await withTenant(strict.container.database.db, tenant.id, (tx) =>
      tx.insert(webhookEndpoints).values({ id, tenantId: tenant.id, url: `http://127.0.0.1:${receiver.port}/refused`, eventTypes: ['invoice.paid'], secretSealed: webhookSettings(strict.env).secrets.seal('whsec_' + Buffer.alloc(32, 1).toString('base64'), secretAad(id)) }),
    );
    const tested = await strict.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${id}/test`, headers });
    expect(tested.statusCode, tested.body).toBe(200);
    expect(tested.json()).toMatchObject({ status: 'FAILED', httpStatus: null, durationMs: 0 });
    expect(tested.json().error).toMatch(/^refused: /);
    expect(receivedFor('/refused')).toHaveLength(0);
  });

  it('only admins manage endpoints; update and delete are audited', async () => {
    const { tenant, headers } = await admin();
    for (const role of ['BILLING', 'SUPPORT', 'READ_ONLY'] as const) {
      const { user } = await buildUser(db(), tenant, { role });
      const other = await authHeader(t.env, user);
      expect((await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints', headers: other })).statusCode, role).toBe(403);
      expect((await createEndpoint(other, { url: `http://127.0.0.1:${receiver.port}/x`, eventTypes: ['invoice.paid'] })).statusCode, role).toBe(403);
    }
    const endpoint = (await createEndpoint(headers, { url: `http://127.0.0.1:${receiver.port}/f`, eventTypes: ['invoice.paid'] })).json();
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers, payload: { eventTypes: ['invoice.issued'], description: 'CRM', enabled: false } });
    expect(patched.json()).toMatchObject({ eventTypes: ['invoice.issued'], description: 'CRM', enabled: false, disabledReason: 'disabled by a user' });
    expect((await t.app.inject({ method: 'DELETE', url: `/api/webhook-endpoints/${endpoint.id}`, headers })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers })).statusCode).toBe(404);
    const audit = await withTenant(db(), tenant.id, (tx) => tx.select().from(auditLogs).where(eq(auditLogs.targetId, endpoint.id)).orderBy(asc(auditLogs.seq)));
    expect(audit.map((row) => row.action)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.updated', 'webhook_endpoint.deleted']);
    expect(audit[1]?.after).toMatchObject({ eventTypes: ['invoice.issued'], enabled: false });
  });
});
