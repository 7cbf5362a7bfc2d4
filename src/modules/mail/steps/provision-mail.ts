import { randomBytes, randomUUID } from 'node:crypto';
import { and, eq, inArray, ne } from 'drizzle-orm';
import { z } from 'zod';
import { dnsRecords, dnsZones, mailboxes, mailDomains, products, servers, subscriptions, type Mailbox } from '../../../db/schema/index.js';
import { withTenant, type Tx } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import { MailServerError } from '../../../providers/mailserver.port.js';
import { recordAudit, systemActor } from '../../audit/audit.service.js';
import { dnsSettings } from '../../dns/dns-template.js';
import { putFeatureRecord } from '../../dns/dns.service.js';
import { recordEvent } from '../../events/domain-events.js';
import { requireStepDomain } from '../../domains/domains.service.js';
import { defineStep, type StepContext } from '../../step-services.js';
import { dkimKeyAad, dkimRecord, domainSpec, lockMailDomain, secretBoxOf } from '../mail-state.js';

/**
 * PROVISION_MAIL: the order's domain on the mail server chosen at intake (payload.mailServerId):
 * 1. rows: the mail_domains row with a new DKIM key (RSA 2048, the private key sealed with
 *    SECRETS_ENCRYPTION_KEY), the mailboxes the order asked for (or MAIL_DEFAULT_MAILBOXES) with the
 *    product's quota; each mailbox not yet verified gets a new random password, of which only the
 *    hash is stored (staff hand a password out with PATCH /api/mailboxes/:id);
 * 2. the server: the domain's whole state applied (users file, Postfix maps, OpenDKIM), then the
 *    standard folders;
 * 3. DNS: the DKIM TXT `<selector>._domainkey` (SPF naming the MX and DMARC come from PROVISION_DNS),
 *    and DMARC `p=none` when the zone has no DMARC record;
 * 4. verification: each new mailbox logs in over IMAP with its new password, and a test message
 *    handed to the server's inbound SMTP arrives in the first one's INBOX;
 * 5. the mailboxes and the mail domain become ACTIVE (audited).
 * Idempotent: verified mailboxes keep their password; a re-run applies the same state (no write)
 * and the same DNS record (no change). Passwords are never logged, returned or audited.
 */

export const provisionMailPayload = z.object({
  subscriptionId: z.uuid(),
  domainId: z.uuid(),
  domain: z.string(),
  mailboxes: z.array(z.string()).default([]),
  mailServerId: z.uuid().nullish(),
  /**
   * Planned by a plan change (modules/billing/plan-change-schedule.ts): creates nothing, brings
   * the existing mailboxes' quotas to the plan now in force and applies the domain again.
   * `previousQuotaMb`: the old plan's quota (null: it named none, MAIL_DEFAULT_QUOTA_MB).
   */
  planChange: z.object({ previousQuotaMb: z.number().int().positive().nullable() }).optional(),
});
export type ProvisionMailPayload = z.output<typeof provisionMailPayload>;

/** Created when an order names no mailbox (RFC 5321 §4.5.1: every mail domain has a postmaster). */
export const DEFAULT_MAILBOXES = ['postmaster'] as const;
export const STANDARD_FOLDERS = ['Drafts', 'Sent', 'Trash', 'Junk'] as const;

/** The plan's mail features: how many mailboxes, and each one's quota (the default and the maximum). */
export const mailFeatures = z.looseObject({ mailboxes: z.number().int().optional(), mailboxQuotaMb: z.number().int().positive().optional() });

export function newMailboxPassword(): string {
  return randomBytes(18).toString('base64url');
}

interface Prepared {
  mailDomainId: string;
  /** Mailboxes not verified yet, with the password this run gave them (memory only). */
  fresh: { localPart: string; password: string }[];
  publicKey: string;
  selector: string;
}

async function prepareRows(context: StepContext, payload: ProvisionMailPayload, serverId: string): Promise<Prepared> {
  const { env, mail } = context.services;
  const tenantId = context.job.tenantId;
  return withTenant(context.db, tenantId, async (tx) => {
    const domain = await requireStepDomain(tx, payload.domainId, payload.domain);
    const [server] = await tx.select().from(servers).where(eq(servers.id, serverId));
    if (!server) throw new PermanentStepError(`the mail server ${serverId} of this order does not exist`);
    if (server.role !== 'MAIL') throw new PermanentStepError(`server ${server.hostname} is a ${server.role} server, not a MAIL server`);
    if (server.status === 'DISABLED') throw new PermanentStepError(`the mail server ${server.hostname} is DISABLED`);
    const [product] = await tx
      .select({ features: products.features })
      .from(subscriptions)
      .innerJoin(products, eq(products.id, subscriptions.productId))
      .where(eq(subscriptions.id, payload.subscriptionId));
    const features = mailFeatures.safeParse(product?.features ?? {});
    const quotaMb = (features.success ? features.data.mailboxQuotaMb : undefined) ?? env.MAIL_DEFAULT_QUOTA_MB;
    const limit = features.success ? features.data.mailboxes : undefined;
    if (payload.planChange) {
      const mailDomain = await upsertMailDomain(tx, context, payload, serverId);
      await applyPlanQuotas(tx, context, domain.id, payload.planChange.previousQuotaMb ?? env.MAIL_DEFAULT_QUOTA_MB, quotaMb);
      return { mailDomainId: mailDomain.id, fresh: [], publicKey: mailDomain.dkimPublicKey, selector: mailDomain.dkimSelector };
    }
    const wanted = payload.mailboxes.length > 0 ? payload.mailboxes : [...DEFAULT_MAILBOXES];
    if (limit !== undefined && wanted.length > Math.max(limit, 1)) throw new PermanentStepError(`the order asks for ${wanted.length} mailboxes; the product allows ${limit}`);

    const mailDomain = await upsertMailDomain(tx, context, payload, serverId);
    const inserted = await tx
      .insert(mailboxes)
      .values(wanted.map((localPart) => ({ tenantId, domainId: domain.id, subscriptionId: payload.subscriptionId, localPart, quotaMb, status: 'PENDING' as const })))
      .onConflictDoNothing()
      .returning();
    for (const row of inserted) {
      await auditMailbox(tx, context, row, 'mailbox.created');
      await recordEvent(tx, tenantId, { type: 'mailbox.created', subject: { type: 'mailbox', id: row.id }, payload: { mailboxId: row.id, subscriptionId: row.subscriptionId, address: `${row.localPart}@${payload.domain}` } });
    }
    const pending = await tx
      .select()
      .from(mailboxes)
      .where(and(eq(mailboxes.domainId, domain.id), eq(mailboxes.status, 'PENDING'), inArray(mailboxes.localPart, wanted)));
    const fresh: Prepared['fresh'] = [];
    for (const row of pending) {
      const password = newMailboxPassword();
      await tx.update(mailboxes).set({ passwordHash: mail.hashPassword(password) }).where(eq(mailboxes.id, row.id));
      fresh.push({ localPart: row.localPart, password });
    }
    return { mailDomainId: mailDomain.id, fresh, publicKey: mailDomain.dkimPublicKey, selector: mailDomain.dkimSelector };
  });
}

/**
 * A plan change's quotas: a mailbox that had the old plan's quota (its default) gets the new
 * plan's; one above the new plan's quota (its maximum) is lowered to it; any other keeps the quota
 * staff or the customer chose. Each change is audited.
 */
async function applyPlanQuotas(tx: Tx, context: StepContext, domainId: string, previousQuotaMb: number, quotaMb: number): Promise<void> {
  const rows = await tx.select().from(mailboxes).where(and(eq(mailboxes.domainId, domainId), ne(mailboxes.status, 'DELETED')));
  for (const row of rows) {
    const wanted = row.quotaMb === previousQuotaMb ? quotaMb : Math.min(row.quotaMb, quotaMb);
    if (wanted === row.quotaMb) continue;
    await tx.update(mailboxes).set({ quotaMb: wanted, updatedAt: new Date() }).where(eq(mailboxes.id, row.id));
    await recordAudit(tx, {
      tenantId: context.job.tenantId,
      actor: systemActor,
      action: 'mailbox.updated',
      targetType: 'mailbox',
      targetId: row.id,
      before: { localPart: row.localPart, quotaMb: row.quotaMb },
      after: { localPart: row.localPart, quotaMb: wanted },
      metadata: { jobId: context.job.id, reason: 'plan change' },
    });
  }
}

async function upsertMailDomain(tx: Tx, context: StepContext, payload: ProvisionMailPayload, serverId: string) {
  const tenantId = context.job.tenantId;
  const [existing] = await tx.select().from(mailDomains).where(eq(mailDomains.domainId, payload.domainId)).for('update');
  if (existing) {
    if (existing.serverId !== serverId) throw new PermanentStepError(`the domain ${payload.domain} is already hosted on another mail server (${existing.serverId})`);
    return existing;
  }
  const id = randomUUID();
  const key = context.services.mail.generateDkimKey();
  const [row] = await tx
    .insert(mailDomains)
    .values({
      id,
      tenantId,
      domainId: payload.domainId,
      subscriptionId: payload.subscriptionId,
      serverId,
      dkimSelector: context.services.env.MAIL_DKIM_SELECTOR,
      dkimPrivateKeyEncrypted: secretBoxOf(context.services.env).seal(key.privateKeyPem, dkimKeyAad(id)),
      dkimPublicKey: key.publicKeyBase64,
      status: 'PENDING',
    })
    .returning();
  if (!row) throw new Error('insert into mail_domains returned no row');
  await recordAudit(tx, {
    tenantId,
    actor: systemActor,
    action: 'mail_domain.created',
    targetType: 'mail_domain',
    targetId: row.id,
    after: { domain: payload.domain, serverId, dkimSelector: row.dkimSelector, status: row.status },
    metadata: { jobId: context.job.id, subscriptionId: payload.subscriptionId },
  });
  return row;
}

async function auditMailbox(tx: Tx, context: StepContext, row: Mailbox, action: 'mailbox.created' | 'mailbox.activated'): Promise<void> {
  await recordAudit(tx, {
    tenantId: context.job.tenantId,
    actor: systemActor,
    action,
    targetType: 'mailbox',
    targetId: row.id,
    after: { localPart: row.localPart, domainId: row.domainId, quotaMb: row.quotaMb, status: action === 'mailbox.created' ? row.status : 'ACTIVE' },
    metadata: { jobId: context.job.id },
  });
}

/** What a mail domain's zone gets when it has no DMARC policy at all: report only, nothing refused. */
export const DEFAULT_DMARC = 'v=DMARC1; p=none';

/**
 * A DMARC record beside SPF and DKIM: PROVISION_DNS writes DNS_DMARC_RECORD unless DNS_DMARC is
 * off, and staff may have removed it; when the zone has no `v=DMARC1` TXT at `_dmarc`, `p=none` is
 * added (a policy that only asks for reports cannot lose anyone's mail). One already there, of any
 * policy, is left alone. Returns whether it added one.
 */
async function ensureDmarc(tx: Tx, context: StepContext, domain: string): Promise<boolean> {
  const name = `_dmarc.${domain}`;
  const existing = await tx
    .select({ content: dnsRecords.content })
    .from(dnsRecords)
    .innerJoin(dnsZones, eq(dnsZones.id, dnsRecords.zoneId))
    .where(and(eq(dnsZones.name, domain), eq(dnsZones.status, 'ACTIVE'), eq(dnsRecords.name, name), eq(dnsRecords.type, 'TXT')));
  if (existing.some((record) => record.content.startsWith('v=DMARC1'))) return false;
  const { env, dns } = context.services;
  const result = await putFeatureRecord(tx, { dns, logger: context.logger, settings: dnsSettings(env) }, { tenantId: context.job.tenantId, actor: systemActor }, domain, { name, type: 'TXT', content: DEFAULT_DMARC });
  return result.changed;
}

export const provisionMail = defineStep({
  type: 'PROVISION_MAIL',
  payload: provisionMailPayload,
  async handle(payload, context) {
    const { env, mail, dns } = context.services;
    const tenantId = context.job.tenantId;
    if (!payload.mailServerId) {
      throw new PermanentStepError('no mail server registered when the order was placed (register one with `mpanel servers add --role MAIL` or POST /api/servers)');
    }
    const prepared = await prepareRows(context, payload, payload.mailServerId);

    // The server: the whole state of the domain, as the rows now say (the fresh passwords included).
    const { spec, server } = await withTenant(context.db, tenantId, async (tx) => {
      const loaded = await lockMailDomain(tx, prepared.mailDomainId);
      if (!loaded) throw new Error(`mail domain ${prepared.mailDomainId} vanished`);
      return { spec: await domainSpec(tx, env, loaded), server: loaded.server };
    });
    const port = mail.forServer(server);
    await port.applyDomain(spec);
    for (const box of prepared.fresh) await port.ensureFolders(`${box.localPart}@${payload.domain}`, STANDARD_FOLDERS);
    // A plan change only moves quotas: DNS and the mailboxes' credentials are as they were.
    if (payload.planChange) {
      context.logger.info({ domain: payload.domain, server: server.hostname }, `mail quotas of ${payload.domain} follow the new plan`);
      return { mailDomainId: prepared.mailDomainId, server: server.hostname, planChange: true, mailboxes: spec.mailboxes.map((box) => ({ address: `${box.localPart}@${payload.domain}`, quotaMb: box.quotaMb })) };
    }

    const record = await withTenant(context.db, tenantId, (tx) =>
      putFeatureRecord(tx, { dns, logger: context.logger, settings: dnsSettings(env) }, { tenantId, actor: systemActor }, payload.domain, {
        name: `${prepared.selector}._domainkey.${payload.domain}`,
        type: 'TXT',
        content: dkimRecord(prepared.publicKey),
      }),
    );
    if (!record.zoneFound) throw new PermanentStepError(`the DNS zone ${payload.domain} is not ACTIVE: PROVISION_DNS must succeed first`);
    const dmarc = await withTenant(context.db, tenantId, (tx) => ensureDmarc(tx, context, payload.domain));

    // Verification: the new credentials log in, and mail from outside reaches the INBOX.
    const verified: string[] = [];
    for (const box of prepared.fresh) {
      const address = `${box.localPart}@${payload.domain}`;
      if (!(await port.checkLogin(address, box.password))) throw new MailServerError(`the new mailbox ${address} refused its new password over IMAP`, false);
      verified.push(address);
    }
    const first = prepared.fresh[0];
    let testMessage: string | null = null;
    if (first) {
      const address = `${first.localPart}@${payload.domain}`;
      const subject = `mPanel: ${payload.domain} is ready (${context.job.id})`;
      await port.sendInbound({ from: env.EMAIL_FROM, to: address, subject, text: `Your mailbox ${address} is set up.\r\n` });
      if (!(await port.inboxHas(address, first.password, subject, env.MAIL_VERIFY_TIMEOUT_MS))) {
        throw new MailServerError(`the test message to ${address} did not reach its INBOX within ${env.MAIL_VERIFY_TIMEOUT_MS} ms`, false);
      }
      testMessage = subject;
    }

    await withTenant(context.db, tenantId, async (tx) => {
      const fresh = prepared.fresh.map((box) => box.localPart);
      const activated =
        fresh.length === 0
          ? []
          : await tx
              .update(mailboxes)
              .set({ status: 'ACTIVE' })
              .where(and(eq(mailboxes.domainId, payload.domainId), eq(mailboxes.status, 'PENDING'), inArray(mailboxes.localPart, fresh)))
              .returning();
      for (const row of activated) await auditMailbox(tx, context, row, 'mailbox.activated');
      const [domainRow] = await tx.update(mailDomains).set({ status: 'ACTIVE' }).where(and(eq(mailDomains.id, prepared.mailDomainId), eq(mailDomains.status, 'PENDING'))).returning();
      if (domainRow) {
        await recordAudit(tx, {
          tenantId,
          actor: systemActor,
          action: 'mail_domain.provisioned',
          targetType: 'mail_domain',
          targetId: domainRow.id,
          before: { status: 'PENDING' },
          after: { status: 'ACTIVE', mailboxes: spec.mailboxes.length },
          metadata: { jobId: context.job.id, server: server.hostname },
        });
      }
    });
    context.logger.info({ domain: payload.domain, server: server.hostname, mailboxes: spec.mailboxes.length, verified: verified.length }, `mail for ${payload.domain} is set up on ${server.hostname}`);
    return { mailDomainId: prepared.mailDomainId, server: server.hostname, mailboxes: spec.mailboxes.map((box) => `${box.localPart}@${payload.domain}`), verified, testMessage, dkimRecordChanged: record.changed, dmarcRecordAdded: dmarc };
  },
});
