import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import { jobs, websites, type Job } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import { historyEntry } from '../../jobs/job-state.js';
import { serverQueue } from '../../jobs/queue.js';
import { lifecyclePayload } from './steps/site-lifecycle.js';

/**
 * A FAILED subscription's site is not served as if it were live. PROVISION_HOSTING puts the site
 * up before the later steps (mail, certificate, the final check) run, so when one of them fails for
 * good the site would keep answering for a service that is not delivered (and, if the order is
 * never put right, never billed). The failure therefore plans a *hold*: a SUSPEND_SITE job with
 * `hold: true` on the site's server, which makes the vhost answer the suspended page and moves no
 * subscription status. A retry that reopens the subscription plans the *release* (UNSUSPEND_SITE,
 * `hold: true`), after the hold and before VERIFY_AND_ACTIVATE, which then checks the live site.
 */

const holdPayload = (job: Pick<Job, 'payload'>) => lifecyclePayload.safeParse(job.payload);

/** Whether a job is a hold or its release (no subscription status follows from it). */
export function isSiteHold(job: Pick<Job, 'type' | 'payload'>): boolean {
  if (job.type !== 'SUSPEND_SITE' && job.type !== 'UNSUSPEND_SITE') return false;
  const parsed = holdPayload(job);
  return parsed.success && parsed.data.hold === true;
}

async function siteOf(tx: Tx, subscriptionId: string) {
  const [website] = await tx
    .select({ id: websites.id, serverId: websites.serverId })
    .from(websites)
    .where(and(eq(websites.subscriptionId, subscriptionId), ne(websites.status, 'TERMINATED')));
  return website;
}

async function insertHoldJob(tx: Tx, failed: Pick<Job, 'tenantId' | 'maxAttempts'>, subscriptionId: string, type: 'SUSPEND_SITE' | 'UNSUSPEND_SITE', websiteId: string, serverId: string, dependsOn: string[]) {
  const [job] = await tx
    .insert(jobs)
    .values({
      tenantId: failed.tenantId,
      subscriptionId,
      type,
      queue: serverQueue(serverId),
      maxAttempts: failed.maxAttempts,
      payload: lifecyclePayload.parse({ subscriptionId, websiteId, hold: true }),
      dependsOn,
      history: [historyEntry('PENDING')],
    })
    .returning();
  if (!job) throw new Error('insert into jobs returned no row');
  return job;
}

/** The subscription has just turned FAILED: its site (if it has one) answers the suspended page. */
export async function holdFailedSite(tx: Tx, failed: Job): Promise<Job | undefined> {
  if (!failed.subscriptionId) return undefined;
  const website = await siteOf(tx, failed.subscriptionId);
  if (!website) return undefined;
  return insertHoldJob(tx, failed, failed.subscriptionId, 'SUSPEND_SITE', website.id, website.serverId, []);
}

/**
 * A retry reopened the subscription (FAILED → PROVISIONING): the last hold, if it is not released
 * yet, is released after it has run, and the order's pending VERIFY_AND_ACTIVATE waits for that.
 * Returns the release job (the caller hands it to the queue when ready).
 */
export async function releaseFailedSiteHold(tx: Tx, retried: Job): Promise<Job | undefined> {
  const subscriptionId = retried.subscriptionId;
  if (!subscriptionId) return undefined;
  const holdJobs = await tx
    .select()
    .from(jobs)
    .where(and(eq(jobs.subscriptionId, subscriptionId), inArray(jobs.type, ['SUSPEND_SITE', 'UNSUSPEND_SITE']), sql`(${jobs.payload} ->> 'hold')::boolean is true`))
    .orderBy(jobs.createdAt);
  const last = holdJobs.at(-1);
  if (!last || last.type !== 'SUSPEND_SITE') return undefined;
  const website = await siteOf(tx, subscriptionId);
  if (!website) return undefined;
  // A hold that failed for good never suspended the site: nothing to wait for.
  const release = await insertHoldJob(tx, retried, subscriptionId, 'UNSUSPEND_SITE', website.id, website.serverId, last.status === 'FAILED' ? [] : [last.id]);
  if (retried.orderId) {
    await tx
      .update(jobs)
      .set({ dependsOn: sql`array_append(${jobs.dependsOn}, ${release.id}::uuid)` })
      .where(and(eq(jobs.orderId, retried.orderId), eq(jobs.type, 'VERIFY_AND_ACTIVATE'), eq(jobs.status, 'PENDING')));
  }
  return release;
}
