import { and, eq, ne } from 'drizzle-orm';
import { z } from 'zod';
import { backups, mailboxes, mailDomains, type MailboxStatus } from '../../../db/schema/index.js';
import { withTenant } from '../../../db/tenant-tx.js';
import { PermanentStepError } from '../../../jobs/runner.js';
import type { AuditAction } from '../../audit/audit-actions.js';
import { recordAudit, systemActor } from '../../audit/audit.service.js';
import { defineStep, type StepContext } from '../../step-services.js';
import { domainSpec, lockMailDomain } from '../mail-state.js';

/**
 * The subscription lifecycle on the mail server, planned beside the site's job by a staff action
 * (modules/subscriptions/lifecycle.service.ts): the site job waits for these, and moves the
 * subscription when it succeeds.
 * - SUSPEND_MAIL: the domain SUSPENDED; every login (IMAP, SMTP AUTH) refused, inbound mail still
 *   accepted and kept (README "Mail hosting").
 * - UNSUSPEND_MAIL: back to ACTIVE, the mailboxes' own state restored.
 * - TERMINATE_MAIL: the domain's lines and DKIM key removed (mail refused from then on), its
 *   maildirs archived to BACKUPS_DIR (a `backups` row, kind MAIL) and removed; rows DELETED.
 * Each is idempotent: the row moves only when it is not there yet, and applying the state or
 * removing the domain again writes nothing.
 */

export const mailLifecyclePayload = z.object({ subscriptionId: z.uuid(), mailDomainId: z.uuid() });

const actions: Record<MailboxStatus, AuditAction> = {
  PENDING: 'mail_domain.provisioned',
  ACTIVE: 'mail_domain.unsuspended',
  SUSPENDED: 'mail_domain.suspended',
  DELETED: 'mail_domain.terminated',
};

/** Sets the domain's status (audited, unless already so) and applies the resulting state to its server. */
async function moveAndApply(context: StepContext, mailDomainId: string, status: 'ACTIVE' | 'SUSPENDED') {
  const { env, mail } = context.services;
  const { spec, server } = await withTenant(context.db, context.job.tenantId, async (tx) => {
    const loaded = await lockMailDomain(tx, mailDomainId);
    if (!loaded) throw new PermanentStepError(`mail domain ${mailDomainId} does not exist`);
    if (loaded.mailDomain.status === 'DELETED') throw new PermanentStepError(`the mail of ${loaded.domain} is terminated`);
    if (loaded.mailDomain.status !== status) {
      await tx.update(mailDomains).set({ status }).where(eq(mailDomains.id, mailDomainId));
      await recordAudit(tx, {
        tenantId: context.job.tenantId,
        actor: systemActor,
        action: actions[status],
        targetType: 'mail_domain',
        targetId: mailDomainId,
        before: { status: loaded.mailDomain.status },
        after: { status },
        metadata: { jobId: context.job.id },
      });
    }
    return { spec: await domainSpec(tx, env, { ...loaded, mailDomain: { ...loaded.mailDomain, status } }), server: loaded.server };
  });
  const applied = await mail.forServer(server).applyDomain(spec);
  return { domain: spec.domain, server: server.hostname, status, reloaded: applied.reloaded };
}

export const suspendMail = defineStep({
  type: 'SUSPEND_MAIL',
  payload: mailLifecyclePayload,
  handle: (payload, context) => moveAndApply(context, payload.mailDomainId, 'SUSPENDED'),
});

export const unsuspendMail = defineStep({
  type: 'UNSUSPEND_MAIL',
  payload: mailLifecyclePayload,
  handle: (payload, context) => moveAndApply(context, payload.mailDomainId, 'ACTIVE'),
});

export const terminateMail = defineStep({
  type: 'TERMINATE_MAIL',
  payload: mailLifecyclePayload,
  async handle(payload, context) {
    const { env, mail } = context.services;
    const tenantId = context.job.tenantId;
    const loaded = await withTenant(context.db, tenantId, (tx) => lockMailDomain(tx, payload.mailDomainId));
    if (!loaded) throw new PermanentStepError(`mail domain ${payload.mailDomainId} does not exist`);
    // Removing is idempotent in the adapter: a re-run finds no lines and no maildir to archive.
    const removed = loaded.mailDomain.status === 'DELETED' ? { archive: null } : await mail.forServer(loaded.server).removeDomain(loaded.domain, env.BACKUPS_DIR);
    await withTenant(context.db, tenantId, async (tx) => {
      const [row] = await tx.update(mailDomains).set({ status: 'DELETED' }).where(and(eq(mailDomains.id, payload.mailDomainId), ne(mailDomains.status, 'DELETED'))).returning();
      if (!row) return;
      await tx.update(mailboxes).set({ status: 'DELETED' }).where(eq(mailboxes.domainId, row.domainId));
      if (removed.archive) {
        await tx.insert(backups).values({ tenantId, subscriptionId: payload.subscriptionId, kind: 'MAIL', status: 'COMPLETED', location: removed.archive, startedAt: new Date(), completedAt: new Date() });
      }
      await recordAudit(tx, {
        tenantId,
        actor: systemActor,
        action: 'mail_domain.terminated',
        targetType: 'mail_domain',
        targetId: row.id,
        before: { status: loaded.mailDomain.status },
        after: { status: 'DELETED', archive: removed.archive },
        metadata: { jobId: context.job.id },
      });
    });
    return { domain: loaded.domain, server: loaded.server.hostname, archive: removed.archive };
  },
});
