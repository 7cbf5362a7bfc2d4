import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../src/container.js';
import { auditLogs, domainEvents, jobs, mailboxes, mailDomains, subscriptions, type Price, type Server, type Tenant } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { PROVISIONING_QUEUE, serverQueue } from '../src/jobs/queue.js';
import { createRegistry } from '../src/jobs/registry.js';
import { provisionDns } from '../src/modules/dns/steps/provision-dns.js';
import { suspendSite, terminateSite, unsuspendSite } from '../src/modules/hosting/steps/site-lifecycle.js';
import { suspendMail, terminateMail, unsuspendMail } from '../src/modules/mail/steps/mail-lifecycle.js';
import { provisionMail } from '../src/modules/mail/steps/provision-mail.js';
import { domainSpec, lockMailDomain } from '../src/modules/mail/mail-state.js';
import { verifyAndActivate } from '../src/modules/provisioning/steps/verify-and-activate.js';
import { startWorkers, type RunningWorkers } from '../src/worker.js';
import { buildServer, buildTenant, buildUser } from './factories.js';
import { authHeader } from './helpers/auth.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { powerDns, resolverFor } from './helpers/dns.js';
import { takeMailStackTurn, inboundSmtp, listedFolders, loginRefused, receive, smtpRefusal } from './helpers/mail.js';
import { buildOffer, eventually, orderPayload, signedHeaders } from './helpers/orders.js';

// This file changes the real mail stack: it takes its turn (test/helpers/mail.ts).
takeMailStackTurn();

/**
 * An e-mail order through the real pipeline: PROVISION_DNS (PowerDNS), PROVISION_MAIL (Postfix,
 * Dovecot, OpenDKIM of scripts/services.sh) on the mail server's queue, VERIFY_AND_ACTIVATE.
 */
// DNS_DMARC off: the zone gets no DMARC from PROVISION_DNS, so PROVISION_MAIL must add `p=none`.
Object.assign(process.env, { DNS_DMARC: 'false', JOB_MAX_ATTEMPTS: '2', JOB_BACKOFF_BASE_MS: '50', OUTBOX_SWEEP_INTERVAL_MS: '200', OUTBOX_PENDING_AFTER_MS: '300', WORKER_METRICS_PORT: '0' });

let t: TestApp;
let tenant: Tenant;
let price: Price;
let mailServer: Server;
let workerContainer: Container;
let workers: RunningWorkers;
const run = randomBytes(3).toString('hex');
const domains: string[] = [];
const db = () => t.container.database.db;

beforeAll(async () => {
  t = await createTestApp();
  tenant = await buildTenant(db());
  mailServer = await buildServer(db(), tenant, { hostname: `mail-${run}.local`, role: 'MAIL', ipv4: '127.0.0.1' });
  ({ price } = await buildOffer(db(), tenant, { type: 'EMAIL', features: { mailboxes: 3, mailboxQuotaMb: 50 } }));
  workerContainer = createContainer(t.env, 'worker');
  workers = await startWorkers(workerContainer, {
    registry: createRegistry([provisionDns, provisionMail, verifyAndActivate, suspendSite, unsuspendSite, terminateSite, suspendMail, unsuspendMail, terminateMail]),
    queues: [PROVISIONING_QUEUE, serverQueue(mailServer.id)],
  });
});

afterAll(async () => {
  await workers?.close();
  const mail = workerContainer.providers.mail.forServer(mailServer);
  for (const domain of domains) await mail.removeDomain(domain, null);
  await workerContainer?.close();
  for (const domain of domains) await powerDns(t.env).deleteZone(domain);
  await t.close();
});

async function placeOrder(domain: string, extra: Record<string, unknown> = {}) {
  domains.push(domain);
  const raw = JSON.stringify(orderPayload(tenant, price, { domain, ...extra }));
  const res = await t.app.inject({ method: 'POST', url: '/api/orders', payload: raw, headers: signedHeaders(t.env.MARKETING_WEBHOOK_SECRET, raw) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ orderId: string; subscriptionId: string }>();
}

const subscriptionStatus = async (id: string) =>
  (await withTenant(db(), tenant.id, (tx) => tx.select({ status: subscriptions.status }).from(subscriptions).where(eq(subscriptions.id, id))))[0]?.status;

/** The maildir files of the mailbox's INBOX (new/ and cur/). */
async function inboxFiles(domain: string, localPart: string): Promise<string[]> {
  const dir = path.join(t.env.MAIL_ROOT, domain, localPart);
  const names = await Promise.all(['new', 'cur'].map(async (sub) => (await fs.readdir(path.join(dir, sub)).catch(() => [])).map((name) => path.join(dir, sub, name))));
  return names.flat();
}

describe('an e-mail order', () => {
  it('ends ACTIVE with its mailboxes verified, the test message in the INBOX and the DKIM key published', async () => {
    const domain = `mail-${run}.mail-pipeline.test`;
    const accepted = await placeOrder(domain, { mailboxes: [{ localPart: 'info' }, { localPart: 'sales' }] });
    await eventually(async () => ['ACTIVE', 'FAILED'].includes((await subscriptionStatus(accepted.subscriptionId)) ?? ''), 60_000, 'the order to finish');
    const rows = await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.orderId, accepted.orderId)));
    expect(rows.map((row) => [row.type, row.status, row.lastError]).sort()).toEqual([
      ['PROVISION_DNS', 'SUCCEEDED', null],
      ['PROVISION_MAIL', 'SUCCEEDED', null],
      ['VERIFY_AND_ACTIVATE', 'SUCCEEDED', null],
    ]);
    expect(await subscriptionStatus(accepted.subscriptionId)).toBe('ACTIVE');
    const mailJob = rows.find((row) => row.type === 'PROVISION_MAIL')!;
    expect(mailJob.queue).toBe(serverQueue(mailServer.id));
    expect(mailJob.result).toMatchObject({ mailboxes: [`info@${domain}`, `sales@${domain}`], verified: [`info@${domain}`, `sales@${domain}`] });

    const state = await withTenant(db(), tenant.id, async (tx) => ({
      boxes: await tx.select().from(mailboxes).where(eq(mailboxes.subscriptionId, accepted.subscriptionId)),
      mailDomain: (await tx.select().from(mailDomains).where(eq(mailDomains.subscriptionId, accepted.subscriptionId)))[0]!,
      audit: await tx.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.id))),
    }));
    expect(state.boxes.map((box) => [box.localPart, box.status, box.quotaMb]).sort()).toEqual([
      ['info', 'ACTIVE', 50],
      ['sales', 'ACTIVE', 50],
    ]);
    expect(state.mailDomain.status).toBe('ACTIVE');
    expect(state.mailDomain.dkimPrivateKeyEncrypted).toMatch(/^v1\./);
    // Secrets stay out of job results and the audit log.
    const hashes = state.boxes.map((box) => box.passwordHash!);
    const visible = JSON.stringify([rows.map((row) => row.result), state.audit]);
    for (const hash of hashes) expect(visible).not.toContain(hash.slice(20));
    expect(visible).not.toContain('PRIVATE KEY');

    // The test message, delivered through Postfix's inbound port, is in info's INBOX.
    const files = await inboxFiles(domain, 'info');
    const texts = await Promise.all(files.map((file) => fs.readFile(file, 'utf8')));
    expect(texts.some((text) => text.includes(`Subject: mPanel: ${domain} is ready`))).toBe(true);
    // Standard folders.
    expect(await listedFolders(t.env, `info@${domain}`)).toEqual(expect.arrayContaining(['Drafts', 'Junk', 'Sent', 'Trash']));

    const txt = await resolverFor(t.env).resolveTxt(`${state.mailDomain.dkimSelector}._domainkey.${domain}`);
    expect(txt.map((parts) => parts.join(''))).toEqual([`v=DKIM1; k=rsa; p=${state.mailDomain.dkimPublicKey}`]);
    const dmarc = await resolverFor(t.env).resolveTxt(`_dmarc.${domain}`);
    expect(dmarc.map((parts) => parts.join(''))).toEqual(['v=DMARC1; p=none']);
    expect(mailJob.result).toMatchObject({ dmarcRecordAdded: true });
    // Each new mailbox is a mailbox.created event (the customer's notification).
    const events = await withTenant(db(), tenant.id, (tx) => tx.select().from(domainEvents).where(eq(domainEvents.type, 'mailbox.created')));
    expect(events.map((event) => (event.payload as { address: string }).address).filter((address) => address.endsWith(domain)).sort()).toEqual([`info@${domain}`, `sales@${domain}`]);

    // Nobody knows the generated passwords: a guess is refused.
    expect(await loginRefused(t.env, `info@${domain}`, 'not-the-password')).toBe(true);
  });

  it('an order without mailboxes gets the default postmaster mailbox', async () => {
    const domain = `bare-${run}.mail-pipeline.test`;
    const accepted = await placeOrder(domain);
    await eventually(async () => ['ACTIVE', 'FAILED'].includes((await subscriptionStatus(accepted.subscriptionId)) ?? ''), 60_000, 'the order to finish');
    expect(await subscriptionStatus(accepted.subscriptionId)).toBe('ACTIVE');
    const boxes = await withTenant(db(), tenant.id, (tx) => tx.select().from(mailboxes).where(eq(mailboxes.subscriptionId, accepted.subscriptionId)));
    expect(boxes.map((box) => [box.localPart, box.status])).toEqual([['postmaster', 'ACTIVE']]);
  });
});

describe('the subscription lifecycle reaches the mail', () => {
  it('suspend refuses logins and keeps inbound mail, unsuspend restores, terminate archives and removes', async () => {
    const domain = `life-${run}.mail-pipeline.test`;
    const accepted = await placeOrder(domain, { mailboxes: [{ localPart: 'info' }] });
    await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === 'ACTIVE', 60_000, 'the order to finish');
    const { user: admin } = await buildUser(db(), tenant, { role: 'ADMIN' });
    const headers = await authHeader(t.env, admin);
    const address = `info@${domain}`;

    // Staff set a password (what PATCH /api/mailboxes/:id does): the row, then the domain's state on the server.
    const password = 'Known-pass-123456';
    await withTenant(db(), tenant.id, async (tx) => {
      await tx.update(mailboxes).set({ passwordHash: workerContainer.providers.mail.hashPassword(password) }).where(eq(mailboxes.subscriptionId, accepted.subscriptionId));
      const [row] = await tx.select().from(mailDomains).where(eq(mailDomains.subscriptionId, accepted.subscriptionId));
      const loaded = (await lockMailDomain(tx, row!.id))!;
      await workerContainer.providers.mail.forServer(loaded.server).applyDomain(await domainSpec(tx, t.env, loaded));
    });
    expect(await loginRefused(t.env, address, password)).toBe(false);

    const act = async (action: string, status: string) => {
      const res = await t.app.inject({ method: 'POST', url: `/api/subscriptions/${accepted.subscriptionId}/${action}`, headers, payload: {} });
      expect(res.statusCode, res.body).toBe(202);
      await eventually(async () => (await subscriptionStatus(accepted.subscriptionId)) === status, 60_000, `the subscription to be ${status}`);
    };

    await act('suspend', 'SUSPENDED');
    expect(await loginRefused(t.env, address, password)).toBe(true);
    const inbound = inboundSmtp(t.env);
    const title = `while suspended ${run}`;
    await inbound.sendMail({ from: 'someone@elsewhere.test', to: address, subject: title, text: 'kept' });

    await act('unsuspend', 'ACTIVE');
    expect(await receive(t.env, address, password, title)).toContain('kept');

    await act('terminate', 'TERMINATED');
    const refused = await smtpRefusal(inbound.sendMail({ from: 'someone@elsewhere.test', to: address, subject: 'x', text: 'x' }));
    expect(refused.command).toBe('RCPT TO');
    inbound.close();
    await expect(fs.access(path.join(t.env.MAIL_ROOT, domain))).rejects.toThrow();
    const rows = await withTenant(db(), tenant.id, (tx) => tx.select().from(jobs).where(eq(jobs.subscriptionId, accepted.subscriptionId)));
    const terminate = rows.find((row) => row.type === 'TERMINATE_MAIL')!;
    expect(terminate.status).toBe('SUCCEEDED');
    const archive = (terminate.result as { archive: string }).archive;
    await fs.access(archive);
    await fs.rm(archive);
    const state = await withTenant(db(), tenant.id, async (tx) => ({
      boxes: await tx.select().from(mailboxes).where(eq(mailboxes.subscriptionId, accepted.subscriptionId)),
      domain: (await tx.select().from(mailDomains).where(eq(mailDomains.subscriptionId, accepted.subscriptionId)))[0],
    }));
    expect(state.boxes.map((box) => box.status)).toEqual(['DELETED']);
    expect(state.domain?.status).toBe('DELETED');
  });
});
