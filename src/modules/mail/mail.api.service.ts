import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, count, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { backups, dnsRecords, dnsZones, domains, mailAliases, mailboxes, mailDomains, products, servers, subscriptions, type MailAlias, type Mailbox } from '../../db/schema/index.js';
import { withCustomer, withTenant, type Tx } from '../../db/tenant-tx.js';
import { MailServerError, type MailDomainSpec, type MailProvider, type MailServerPort } from '../../providers/mailserver.port.js';
import { AppError, conflict, notFound, validationFailed } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { recordEvent } from '../events/domain-events.js';
import { listPage } from '../list-page.js';
import { dkimRecord, domainSpec, lockMailDomain, type LoadedMailDomain } from './mail-state.js';
import { mailFeatures, newMailboxPassword, STANDARD_FOLDERS } from './steps/provision-mail.js';
import type {
  AliasView,
  CreateAliasBody,
  CreateMailboxBody,
  ListAliasesQuery,
  ListMailboxesQuery,
  ListMailDomainsQuery,
  MailboxDeletedView,
  MailboxDetailView,
  MailboxView,
  MailboxWithPassword,
  MailDomainDetailView,
  MailDomainView,
  UpdateMailboxBody,
} from './mail.types.js';

/**
 * The staff API of mail hosting: mail domains (read, with usage), mailboxes and aliases.
 *
 * A change is made like a DNS record change (modules/dns/dns.service.ts): inside ONE tenant
 * transaction the mail domain's row is locked (so changes to one domain are serialised and the
 * plan's limits are checked against what is really there), the rows are written and audited, the
 * domain's whole state is read back from the rows and applied to its mail server through the port
 * (the same idempotent `applyDomain` every mail operation uses), and only then does the
 * transaction commit. When the mail server refuses or cannot be reached the transaction rolls
 * back and the caller is told (422 / 503): nothing changed in the database, and a server already
 * written is given the previous state back. Because the files are always rewritten from the rows,
 * a retry (of the request, or any later change) converges.
 *
 * Passwords: a generated one is returned once in the response; a chosen one is checked for
 * strength; either is hashed in this process (SHA512-CRYPT) and only the hash is stored. No
 * password is logged, audited, or put in an event.
 */

export interface MailApiDeps {
  readonly db: Database;
  readonly env: Env;
  readonly mail: MailProvider;
  readonly logger: Logger;
}

export interface MailCaller {
  readonly tenantId: string;
  /**
   * Set by the client portal (modules/portal/portal-mail.router.ts): only this customer's mail
   * domains exist for the call. Scoped twice: the transaction runs under the customer RLS policy
   * (withCustomer) and every lookup checks the domain's customer.
   */
  readonly customerId?: string | undefined;
  readonly actor: AuditActor;
}

type MailScope = Pick<MailCaller, 'tenantId' | 'customerId'>;

const inScope = <T>(db: Database, scope: MailScope, fn: (tx: Tx) => Promise<T>): Promise<T> =>
  scope.customerId ? withCustomer(db, scope.tenantId, scope.customerId, fn) : withTenant(db, scope.tenantId, fn);

/** The customer's filter on a query joined with `domains` (none for staff). */
const ownedBy = (scope: MailScope) => (scope.customerId ? eq(domains.customerId, scope.customerId) : undefined);

// ---------------------------------------------------------------------------------------------
// Views

export function mailboxView(row: Mailbox, domain: string, mailDomainId: string | null): MailboxView {
  return {
    id: row.id,
    mailDomainId,
    domainId: row.domainId,
    subscriptionId: row.subscriptionId,
    address: `${row.localPart}@${domain}`,
    localPart: row.localPart,
    quotaMb: row.quotaMb,
    status: row.status,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function aliasView(row: MailAlias, domain: string): AliasView {
  return { id: row.id, mailDomainId: row.mailDomainId, address: `${row.localPart}@${domain}`, localPart: row.localPart, targets: row.targets, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

/** What an audit row says about a mailbox: never a password or its hash. */
const mailboxAudit = (row: Mailbox, domain: string) => ({ address: `${row.localPart}@${domain}`, quotaMb: row.quotaMb, status: row.status });

// ---------------------------------------------------------------------------------------------
// The plan

export interface MailLimits {
  /** null: no limit. */
  readonly mailboxes: number | null;
  readonly mailboxQuotaMb: number;
}

/** The limits of the plan the mail domain was ordered with (product features `mailboxes`, `mailboxQuotaMb`). */
async function limitsOf(tx: Tx, env: Pick<Env, 'MAIL_DEFAULT_QUOTA_MB'>, subscriptionId: string | null): Promise<MailLimits> {
  const [product] = subscriptionId
    ? await tx.select({ features: products.features }).from(subscriptions).innerJoin(products, eq(products.id, subscriptions.productId)).where(eq(subscriptions.id, subscriptionId))
    : [];
  const features = mailFeatures.safeParse(product?.features ?? {});
  return {
    mailboxes: (features.success ? features.data.mailboxes : undefined) ?? null,
    mailboxQuotaMb: (features.success ? features.data.mailboxQuotaMb : undefined) ?? env.MAIL_DEFAULT_QUOTA_MB,
  };
}

// ---------------------------------------------------------------------------------------------
// Applying a change

/** A mail-server failure as the API tells it: nothing was changed. */
function mailServerProblem(error: unknown): unknown {
  if (!(error instanceof MailServerError)) return error;
  if (error.permanent) return new AppError('UPSTREAM_REJECTED', `The mail server refused the change, so nothing was changed: ${error.message}`, { cause: error });
  return new AppError('DEPENDENCY_UNAVAILABLE', 'The mail server is unavailable, so nothing was changed; retry later', { retryAfterSeconds: 5, cause: error });
}

/**
 * Changes of one mail domain wait for each other HERE, in memory, before they take a database
 * connection: the transaction holds its connection while the mail server applies the change
 * (~0.5 s), so 20 requests queued on the row lock would hold 20 connections and starve the pool
 * (seen: 9 of 20 concurrent creates failed on pool timeouts). Across API processes the row lock
 * still serialises them.
 */
const domainQueues = new Map<string, Promise<unknown>>();

async function oneAtATime<T>(mailDomainId: string, work: () => Promise<T>): Promise<T> {
  const previous = domainQueues.get(mailDomainId) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(work);
  domainQueues.set(mailDomainId, run);
  try {
    return await run;
  } finally {
    if (domainQueues.get(mailDomainId) === run) domainQueues.delete(mailDomainId);
  }
}

/** The mail domain an object belongs to (a short read, before queueing on that domain); undefined when the caller cannot see it. */
async function mailDomainOf(deps: MailApiDeps, scope: MailScope, object: { mailboxId: string } | { aliasId: string }): Promise<string | undefined> {
  const { tenantId } = scope;
  return inScope(deps.db, scope, async (tx) => {
    if ('aliasId' in object) {
      const [row] = await tx
        .select({ id: mailAliases.mailDomainId })
        .from(mailAliases)
        .innerJoin(mailDomains, eq(mailDomains.id, mailAliases.mailDomainId))
        .innerJoin(domains, eq(domains.id, mailDomains.domainId))
        .where(and(eq(mailAliases.tenantId, tenantId), eq(mailAliases.id, object.aliasId), ownedBy(scope)));
      return row?.id;
    }
    const [row] = await tx
      .select({ id: mailDomains.id })
      .from(mailboxes)
      .innerJoin(mailDomains, eq(mailDomains.domainId, mailboxes.domainId))
      .innerJoin(domains, eq(domains.id, mailboxes.domainId))
      .where(and(eq(mailboxes.tenantId, tenantId), eq(mailboxes.id, object.mailboxId), ownedBy(scope)));
    return row?.id;
  });
}

/** The mail domain, locked, in a state mailboxes and aliases may change in (ACTIVE or SUSPENDED). */
async function lockChangeable(tx: Tx, scope: MailScope, mailDomainId: string, field?: string): Promise<LoadedMailDomain> {
  const loaded = await lockMailDomain(tx, mailDomainId);
  const owned =
    loaded !== undefined &&
    (!scope.customerId || (await tx.select({ id: domains.id }).from(domains).where(and(eq(domains.id, loaded.mailDomain.domainId), ownedBy(scope)))).length > 0);
  if (!loaded || !owned) {
    if (field) throw validationFailed([{ field, message: 'no such mail domain' }]);
    throw notFound('Mail domain');
  }
  if (loaded.mailDomain.status === 'PENDING') throw conflict(`The mail of ${loaded.domain} is still being provisioned; try again when it is ACTIVE`);
  if (loaded.mailDomain.status === 'DELETED') throw conflict(`The mail of ${loaded.domain} is terminated`);
  return loaded;
}

/**
 * Runs `change` (row writes, audit) on the locked domain, applies the domain's resulting state to
 * its server, then `afterApply` (folders, a login check, an archive) — all before the
 * transaction commits. When anything fails after the server was written, the previous state is
 * applied back (best effort: the rows are the truth, and the next change converges anyway).
 */
async function applyChange<T>(
  deps: MailApiDeps,
  tx: Tx,
  loaded: LoadedMailDomain,
  change: () => Promise<T>,
  afterApply?: (port: MailServerPort, result: T) => Promise<void>,
): Promise<T> {
  const before = await domainSpec(tx, deps.env, loaded);
  const result = await change();
  const spec = await domainSpec(tx, deps.env, loaded);
  const port = deps.mail.forServer(loaded.server);
  try {
    await port.applyDomain(spec);
    await afterApply?.(port, result);
  } catch (error) {
    deps.logger.warn({ err: error, domain: loaded.domain, server: loaded.server.hostname }, `a mail change of ${loaded.domain} failed on ${loaded.server.hostname}; putting the previous state back`);
    await restore(deps, port, before);
    throw mailServerProblem(error);
  }
  return result;
}

async function restore(deps: MailApiDeps, port: MailServerPort, before: MailDomainSpec): Promise<void> {
  try {
    await port.applyDomain(before);
  } catch (error) {
    deps.logger.error({ err: error, domain: before.domain }, `could not put the previous mail state of ${before.domain} back; the next change of the domain rewrites it`);
  }
}

// ---------------------------------------------------------------------------------------------
// Mail domains

const nonDeleted = ne(mailboxes.status, 'DELETED');

async function domainViews(tx: Tx, env: Env, rows: { mailDomain: typeof mailDomains.$inferSelect; domain: string }[]): Promise<MailDomainView[]> {
  const domainIds = rows.map((row) => row.mailDomain.domainId);
  const ids = rows.map((row) => row.mailDomain.id);
  const boxes =
    domainIds.length === 0
      ? []
      : await tx
          .select({ domainId: mailboxes.domainId, used: count(), allocated: sql<string>`coalesce(sum(${mailboxes.quotaMb}), 0)` })
          .from(mailboxes)
          .where(and(inArray(mailboxes.domainId, domainIds), nonDeleted))
          .groupBy(mailboxes.domainId);
  const aliases = ids.length === 0 ? [] : await tx.select({ id: mailAliases.mailDomainId, n: count() }).from(mailAliases).where(inArray(mailAliases.mailDomainId, ids)).groupBy(mailAliases.mailDomainId);
  const views: MailDomainView[] = [];
  for (const { mailDomain, domain } of rows) {
    const usage = boxes.find((row) => row.domainId === mailDomain.domainId);
    const limits = await limitsOf(tx, env, mailDomain.subscriptionId);
    views.push({
      id: mailDomain.id,
      domainId: mailDomain.domainId,
      domain,
      subscriptionId: mailDomain.subscriptionId,
      serverId: mailDomain.serverId,
      status: mailDomain.status,
      dkimSelector: mailDomain.dkimSelector,
      mailboxes: { used: usage?.used ?? 0, limit: limits.mailboxes },
      aliases: aliases.find((row) => row.id === mailDomain.id)?.n ?? 0,
      storage: { allocatedMb: Number(usage?.allocated ?? 0), mailboxQuotaMaxMb: limits.mailboxQuotaMb },
      createdAt: mailDomain.createdAt,
      updatedAt: mailDomain.updatedAt,
    });
  }
  return views;
}

export async function listMailDomains(deps: MailApiDeps, tenantId: string, query: ListMailDomainsQuery, customerId?: string) {
  const scope = { tenantId, customerId };
  const page = await listPage(deps.db, tenantId, query, {
    customerId,
    table: mailDomains,
    filters: [query.status ? eq(mailDomains.status, query.status) : undefined, ownedBy(scope)],
    rows: (tx, q) =>
      tx
        .select({ mailDomain: mailDomains, domain: domains.name, createdAt: mailDomains.createdAt, id: mailDomains.id })
        .from(mailDomains)
        .innerJoin(domains, eq(domains.id, mailDomains.domainId))
        .where(q.where)
        .orderBy(...q.orderBy)
        .limit(q.limit),
    view: (row) => row,
  });
  const items = await inScope(deps.db, scope, (tx) => domainViews(tx, deps.env, page.items));
  return { items, nextCursor: page.nextCursor };
}

/** Usage of many mailboxes, a few at a time; the first failure is reported, not thrown. */
async function usageOf(port: MailServerPort, addresses: readonly string[]): Promise<{ usedBytes: number | null; error: string | null }> {
  let used = 0;
  for (let i = 0; i < addresses.length; i += 4) {
    try {
      const usages = await Promise.all(addresses.slice(i, i + 4).map((address) => settled(() => port.quota(address))));
      for (const usage of usages) used += usage.usedBytes;
    } catch (error) {
      return { usedBytes: null, error: error instanceof Error ? error.message : String(error) };
    }
  }
  return { usedBytes: used, error: null };
}

export async function getMailDomain(deps: MailApiDeps, tenantId: string, id: string): Promise<MailDomainDetailView> {
  const state = await withTenant(deps.db, tenantId, async (tx) => {
    const [row] = await tx
      .select({ mailDomain: mailDomains, domain: domains.name, server: servers })
      .from(mailDomains)
      .innerJoin(domains, eq(domains.id, mailDomains.domainId))
      .innerJoin(servers, eq(servers.id, mailDomains.serverId))
      .where(and(eq(mailDomains.tenantId, tenantId), eq(mailDomains.id, id)));
    if (!row) throw notFound('Mail domain');
    const [view] = await domainViews(tx, deps.env, [row]);
    if (!view) throw new Error('no view of the mail domain');
    const boxes = await tx
      .select({ localPart: mailboxes.localPart })
      .from(mailboxes)
      .where(and(eq(mailboxes.domainId, row.mailDomain.domainId), nonDeleted));
    const records = await tx
      .select({ name: dnsRecords.name, type: dnsRecords.type, content: dnsRecords.content })
      .from(dnsRecords)
      .innerJoin(dnsZones, eq(dnsZones.id, dnsRecords.zoneId))
      .where(and(eq(dnsZones.domainId, row.mailDomain.domainId), ne(dnsZones.status, 'DELETED')));
    return { row, view, addresses: boxes.map((box) => `${box.localPart}@${row.domain}`), records };
  });
  const { row, view, records } = state;
  // Read outside the transaction: no row stays locked while the mail server answers.
  const usage = row.mailDomain.status === 'DELETED' ? { usedBytes: 0, error: null } : await usageOf(deps.mail.forServer(row.server), state.addresses);
  return { ...view, storage: { ...view.storage, usedBytes: usage.usedBytes }, usageError: usage.error, dns: expectedRecords(deps.env, row.domain, row.mailDomain, records) };
}

/** The records mail needs in the domain's zone (MX, SPF, DKIM, DMARC), and whether the zone has them. */
function expectedRecords(
  env: Pick<Env, 'DNS_MAIL_HOST'>,
  domain: string,
  mailDomain: { dkimSelector: string; dkimPublicKey: string },
  records: readonly { name: string; type: string; content: string }[],
): MailDomainDetailView['dns'] {
  const has = (name: string, type: string, test: (content: string) => boolean) => records.some((record) => record.name === name && record.type === type && test(record.content));
  const mailHost = env.DNS_MAIL_HOST.replaceAll('{domain}', domain);
  const dkimName = `${mailDomain.dkimSelector}._domainkey.${domain}`;
  const dkim = dkimRecord(mailDomain.dkimPublicKey);
  return [
    { name: domain, type: 'MX', purpose: 'MX', expected: mailHost, inZone: has(domain, 'MX', (content) => content.replace(/\.$/, '') === mailHost) },
    { name: domain, type: 'TXT', purpose: 'SPF', expected: 'v=spf1 … (naming the mail server)', inZone: has(domain, 'TXT', (content) => content.startsWith('v=spf1')) },
    { name: dkimName, type: 'TXT', purpose: 'DKIM', expected: dkim, inZone: has(dkimName, 'TXT', (content) => content === dkim) },
    { name: `_dmarc.${domain}`, type: 'TXT', purpose: 'DMARC', expected: 'v=DMARC1; p=none (or stricter)', inZone: has(`_dmarc.${domain}`, 'TXT', (content) => content.startsWith('v=DMARC1')) },
  ];
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

/** A mailbox with its domain's name and its mail domain (null for a mailbox no mail domain holds). */
async function findMailbox(tx: Tx, tenantId: string, id: string) {
  const [row] = await tx
    .select({ mailbox: mailboxes, domain: domains.name, mailDomainId: mailDomains.id })
    .from(mailboxes)
    .innerJoin(domains, eq(domains.id, mailboxes.domainId))
    .leftJoin(mailDomains, eq(mailDomains.domainId, mailboxes.domainId))
    .where(and(eq(mailboxes.tenantId, tenantId), eq(mailboxes.id, id)));
  if (!row) throw notFound('Mailbox');
  return row;
}

/** The mailbox to change: its mail domain locked first (the lock order of every change), then the row. */
async function lockMailbox(tx: Tx, scope: MailScope, id: string): Promise<{ loaded: LoadedMailDomain; mailbox: Mailbox }> {
  const found = await findMailbox(tx, scope.tenantId, id);
  if (!found.mailDomainId || found.mailbox.status === 'DELETED') throw notFound('Mailbox');
  const loaded = await lockChangeable(tx, scope, found.mailDomainId);
  const [mailbox] = await tx.select().from(mailboxes).where(eq(mailboxes.id, id)).for('update');
  if (!mailbox || mailbox.status === 'DELETED') throw notFound('Mailbox');
  return { loaded, mailbox };
}

/** A chosen password must not contain the mailbox's own name: the first thing a guesser tries. */
function checkPasswordAgainst(password: string, localPart: string, domain: string): void {
  const lower = password.toLowerCase();
  const names = [localPart, domain.split('.')[0] ?? ''].filter((name) => name.length >= 3);
  if (names.some((name) => lower.includes(name))) throw validationFailed([{ field: 'body/password', message: "must not contain the mailbox's name or domain" }]);
}

/** Aliases of the tenant that deliver to `address` (deleting it would leave them pointing nowhere). */
async function aliasesTargeting(tx: Tx, tenantId: string, address: string): Promise<string[]> {
  const rows = await tx
    .select({ localPart: mailAliases.localPart, domain: domains.name })
    .from(mailAliases)
    .innerJoin(mailDomains, eq(mailDomains.id, mailAliases.mailDomainId))
    .innerJoin(domains, eq(domains.id, mailDomains.domainId))
    .where(and(eq(mailAliases.tenantId, tenantId), sql`${mailAliases.targets} @> array[${address}]::text[]`));
  return rows.map((row) => `${row.localPart}@${row.domain}`);
}

/**
 * A check right after a write, tried up to three times: every users-file change anywhere on the
 * server (another process, another domain) runs `doveadm reload`, which drops Dovecot's auth
 * connections in flight, so a login or `doveadm` lookup at that moment fails with "Unexpected
 * close" / "Disconnected unexpectedly" (seen with two writers at once). A permanent error is not retried.
 */
async function settled<T>(work: () => Promise<T>, accept: (value: T) => boolean = () => true): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await work();
      if (accept(value) || attempt >= 3) return value;
    } catch (error) {
      if (attempt >= 3 || !(error instanceof MailServerError) || error.permanent) throw error;
    }
    await sleep(150 * attempt);
  }
}

/** After a password change: the new password logs in over IMAP (unless logins are off anyway). */
async function checkNewPassword(port: MailServerPort, address: string, password: string): Promise<void> {
  if (!(await settled(() => port.checkLogin(address, password), Boolean))) throw new MailServerError(`the mailbox ${address} refused its new password over IMAP`, false);
}

export async function listMailboxes(deps: MailApiDeps, tenantId: string, query: ListMailboxesQuery, customerId?: string) {
  return listPage(deps.db, tenantId, query, {
    customerId,
    table: mailboxes,
    filters: [
      ownedBy({ tenantId, customerId }),
      query.status ? eq(mailboxes.status, query.status) : undefined,
      query.mailDomainId ? eq(mailDomains.id, query.mailDomainId) : undefined,
    ],
    rows: (tx, q) =>
      tx
        .select({ mailbox: mailboxes, domain: domains.name, mailDomainId: mailDomains.id, createdAt: mailboxes.createdAt, id: mailboxes.id })
        .from(mailboxes)
        .innerJoin(domains, eq(domains.id, mailboxes.domainId))
        .leftJoin(mailDomains, eq(mailDomains.domainId, mailboxes.domainId))
        .where(q.where)
        .orderBy(...q.orderBy)
        .limit(q.limit),
    view: (row) => mailboxView(row.mailbox, row.domain, row.mailDomainId),
  });
}

export async function getMailbox(deps: MailApiDeps, tenantId: string, id: string): Promise<MailboxDetailView> {
  const { found, server, domainStatus } = await withTenant(deps.db, tenantId, async (tx) => {
    const row = await findMailbox(tx, tenantId, id);
    const [hosted] = row.mailDomainId
      ? await tx.select({ server: servers, status: mailDomains.status }).from(mailDomains).innerJoin(servers, eq(servers.id, mailDomains.serverId)).where(eq(mailDomains.id, row.mailDomainId))
      : [];
    return { found: row, server: hosted?.server ?? null, domainStatus: hosted?.status ?? null };
  });
  const view = mailboxView(found.mailbox, found.domain, found.mailDomainId);
  if (!server || found.mailbox.status === 'DELETED' || domainStatus === 'DELETED' || domainStatus === 'PENDING') return { ...view, usage: null, usageError: 'the mailbox is not on a mail server' };
  try {
    return { ...view, usage: await settled(() => deps.mail.forServer(server).quota(view.address)), usageError: null };
  } catch (error) {
    deps.logger.warn({ err: error, mailboxId: id }, `the usage of ${view.address} could not be read`);
    return { ...view, usage: null, usageError: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * A new mailbox on a hosted mail domain, within the plan: the count (`mailboxes`) and the quota
 * (`mailboxQuotaMb`, also the default). Standard folders are made and, while the domain is
 * ACTIVE, the new password is checked over IMAP before the mailbox is reported created.
 */
export async function createMailbox(deps: MailApiDeps, caller: MailCaller, body: CreateMailboxBody): Promise<MailboxWithPassword> {
  const { tenantId } = caller;
  return oneAtATime(body.mailDomainId, () =>
    inScope(deps.db, caller, async (tx) => {
      const loaded = await lockChangeable(tx, caller, body.mailDomainId);
      const { mailDomain, domain } = loaded;
      const limits = await limitsOf(tx, deps.env, mailDomain.subscriptionId);
      const quotaMb = body.quotaMb ?? limits.mailboxQuotaMb;
      if (quotaMb > limits.mailboxQuotaMb) throw validationFailed([{ field: 'body/quotaMb', message: `must be at most ${limits.mailboxQuotaMb} (the plan's mailbox quota, MB)` }]);
      const address = `${body.localPart}@${domain}`;
      const [taken] = await tx.select({ id: mailboxes.id }).from(mailboxes).where(and(eq(mailboxes.domainId, mailDomain.domainId), eq(mailboxes.localPart, body.localPart)));
      if (taken) throw conflict(`${address} already exists`, [{ field: 'body/localPart', message: 'a mailbox has that name' }]);
      const [alias] = await tx.select({ id: mailAliases.id }).from(mailAliases).where(and(eq(mailAliases.mailDomainId, mailDomain.id), eq(mailAliases.localPart, body.localPart)));
      if (alias) throw conflict(`${address} is an alias`, [{ field: 'body/localPart', message: 'an alias has that name' }]);
      const [used] = await tx.select({ n: count() }).from(mailboxes).where(and(eq(mailboxes.domainId, mailDomain.domainId), nonDeleted));
      if (limits.mailboxes !== null && (used?.n ?? 0) >= limits.mailboxes) throw conflict(`The plan allows ${limits.mailboxes} mailboxes on ${domain}, and all are in use`);
      if (body.password !== undefined) checkPasswordAgainst(body.password, body.localPart, domain);
      const password = body.password ?? newMailboxPassword();

      const created = await applyChange(
        deps,
        tx,
        loaded,
        async () => {
          const [row] = await tx
            .insert(mailboxes)
            .values({ id: randomUUID(), tenantId, domainId: mailDomain.domainId, subscriptionId: mailDomain.subscriptionId, localPart: body.localPart, passwordHash: deps.mail.hashPassword(password), quotaMb, status: 'ACTIVE' })
            .returning();
          if (!row) throw new Error('insert into mailboxes returned no row');
          await recordAudit(tx, {
            tenantId,
            actor: caller.actor,
            action: 'mailbox.created',
            targetType: 'mailbox',
            targetId: row.id,
            after: { ...mailboxAudit(row, domain), password: body.password === undefined ? 'generated' : 'chosen' },
            metadata: { mailDomainId: mailDomain.id },
          });
          await recordEvent(tx, tenantId, { type: 'mailbox.created', subject: { type: 'mailbox', id: row.id }, payload: { mailboxId: row.id, subscriptionId: row.subscriptionId, address } });
          return row;
        },
        async (port) => {
          await settled(() => port.ensureFolders(address, STANDARD_FOLDERS));
          if (mailDomain.status === 'ACTIVE') await checkNewPassword(port, address, password);
        },
      );
      deps.logger.info({ mailboxId: created.id, mailDomainId: mailDomain.id }, `mailbox ${address} created`);
      return { mailbox: mailboxView(created, domain, mailDomain.id), generatedPassword: body.password === undefined ? password : null };
    }),
  );
}

/** Quota (within the plan), enabled/disabled, a chosen or a generated password: one change, applied at once. */
export async function updateMailbox(deps: MailApiDeps, caller: MailCaller, id: string, body: UpdateMailboxBody): Promise<MailboxWithPassword> {
  const { tenantId } = caller;
  const mailDomainId = await mailDomainOf(deps, caller, { mailboxId: id });
  if (!mailDomainId) throw notFound('Mailbox');
  return oneAtATime(mailDomainId, () =>
    inScope(deps.db, caller, async (tx) => {
      const { loaded, mailbox } = await lockMailbox(tx, caller, id);
      const { mailDomain, domain } = loaded;
      const address = `${mailbox.localPart}@${domain}`;
      if (body.quotaMb !== undefined) {
        const limits = await limitsOf(tx, deps.env, mailDomain.subscriptionId);
        if (body.quotaMb > limits.mailboxQuotaMb) throw validationFailed([{ field: 'body/quotaMb', message: `must be at most ${limits.mailboxQuotaMb} (the plan's mailbox quota, MB)` }]);
      }
      if (body.password !== undefined) checkPasswordAgainst(body.password, mailbox.localPart, domain);
      const password = body.resetPassword ? newMailboxPassword() : body.password;
      const status = body.enabled === undefined ? mailbox.status : body.enabled ? 'ACTIVE' : 'SUSPENDED';

      const updated = await applyChange(
        deps,
        tx,
        loaded,
        async () => {
          const [row] = await tx
            .update(mailboxes)
            .set({ quotaMb: body.quotaMb ?? mailbox.quotaMb, status, ...(password === undefined ? {} : { passwordHash: deps.mail.hashPassword(password) }), updatedAt: new Date() })
            .where(eq(mailboxes.id, mailbox.id))
            .returning();
          if (!row) throw new Error('update of mailboxes returned no row');
          await recordAudit(tx, {
            tenantId,
            actor: caller.actor,
            action: 'mailbox.updated',
            targetType: 'mailbox',
            targetId: row.id,
            before: mailboxAudit(mailbox, domain),
            after: { ...mailboxAudit(row, domain), ...(password === undefined ? {} : { password: body.resetPassword ? 'generated' : 'chosen' }) },
            metadata: { mailDomainId: mailDomain.id },
          });
          return row;
        },
        async (port, row) => {
          if (password !== undefined && row.status === 'ACTIVE' && mailDomain.status === 'ACTIVE') await checkNewPassword(port, address, password);
        },
      );
      return { mailbox: mailboxView(updated, domain, mailDomain.id), generatedPassword: body.resetPassword ? (password ?? null) : null };
    }),
  );
}

/**
 * Deletes a mailbox: its line leaves the server first (from then on its mail is refused at RCPT),
 * then its maildir is archived to BACKUPS_DIR (a `backups` row, kind MAIL) and removed, then the
 * row goes (so the name can be used again). Refused while an alias still delivers to it.
 */
export async function deleteMailbox(deps: MailApiDeps, caller: MailCaller, id: string): Promise<MailboxDeletedView> {
  const { tenantId } = caller;
  const mailDomainId = await mailDomainOf(deps, caller, { mailboxId: id });
  if (!mailDomainId) throw notFound('Mailbox');
  return oneAtATime(mailDomainId, () =>
    inScope(deps.db, caller, async (tx) => {
      const { loaded, mailbox } = await lockMailbox(tx, caller, id);
      const { mailDomain, domain } = loaded;
      const address = `${mailbox.localPart}@${domain}`;
      const referring = await aliasesTargeting(tx, tenantId, address);
      if (referring.length > 0) throw conflict(`${referring.join(', ')} still deliver${referring.length === 1 ? 's' : ''} to ${address}: change or delete ${referring.length === 1 ? 'it' : 'them'} first`);
      let archive: string | null = null;
      await applyChange(
        deps,
        tx,
        loaded,
        () => tx.delete(mailboxes).where(eq(mailboxes.id, mailbox.id)),
        async (port) => {
          archive = await port.archiveMailbox(address, deps.env.BACKUPS_DIR);
        },
      );
      if (archive) {
        await tx.insert(backups).values({ tenantId, subscriptionId: mailbox.subscriptionId, kind: 'MAIL', status: 'COMPLETED', location: archive, startedAt: new Date(), completedAt: new Date() });
      }
      await recordAudit(tx, {
        tenantId,
        actor: caller.actor,
        action: 'mailbox.deleted',
        targetType: 'mailbox',
        targetId: mailbox.id,
        before: mailboxAudit(mailbox, domain),
        after: { status: 'DELETED', archive },
        metadata: { mailDomainId: mailDomain.id },
      });
      return { id: mailbox.id, address, archive };
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Aliases

export async function listAliases(deps: MailApiDeps, tenantId: string, query: ListAliasesQuery, customerId?: string) {
  return listPage(deps.db, tenantId, query, {
    customerId,
    table: mailAliases,
    filters: [query.mailDomainId ? eq(mailAliases.mailDomainId, query.mailDomainId) : undefined, ownedBy({ tenantId, customerId })],
    rows: (tx, q) =>
      tx
        .select({ alias: mailAliases, domain: domains.name, createdAt: mailAliases.createdAt, id: mailAliases.id })
        .from(mailAliases)
        .innerJoin(mailDomains, eq(mailDomains.id, mailAliases.mailDomainId))
        .innerJoin(domains, eq(domains.id, mailDomains.domainId))
        .where(q.where)
        .orderBy(...q.orderBy)
        .limit(q.limit),
    view: (row) => aliasView(row.alias, row.domain),
  });
}

/**
 * Where each address of the tenant's hosted mail goes: 'mailbox', or an alias's targets. Targets
 * in these domains must exist, and following them must never lead back to the alias (Postfix
 * would expand a loop until it gives up and bounces every message).
 */
async function tenantMailMap(tx: Tx, tenantId: string) {
  const hosted = await tx
    .select({ id: mailDomains.id, domainId: mailDomains.domainId, name: domains.name })
    .from(mailDomains)
    .innerJoin(domains, eq(domains.id, mailDomains.domainId))
    .where(and(eq(mailDomains.tenantId, tenantId), ne(mailDomains.status, 'DELETED')));
  const names = new Map(hosted.map((row) => [row.domainId, row.name]));
  const byId = new Map(hosted.map((row) => [row.id, row.name]));
  const boxes = await tx.select({ localPart: mailboxes.localPart, domainId: mailboxes.domainId }).from(mailboxes).where(and(eq(mailboxes.tenantId, tenantId), nonDeleted));
  const aliases = await tx.select().from(mailAliases).where(eq(mailAliases.tenantId, tenantId));
  const routes = new Map<string, 'mailbox' | readonly string[]>();
  for (const box of boxes) {
    const name = names.get(box.domainId);
    if (name) routes.set(`${box.localPart}@${name}`, 'mailbox');
  }
  for (const alias of aliases) {
    const name = byId.get(alias.mailDomainId);
    if (name) routes.set(`${alias.localPart}@${name}`, alias.targets);
  }
  return { domains: new Set(byId.values()), routes };
}

/** true when following `targets` through the aliases reaches `address`. */
export function leadsBackTo(address: string, targets: readonly string[], routes: ReadonlyMap<string, 'mailbox' | readonly string[]>): boolean {
  const seen = new Set<string>();
  const queue = [...targets];
  while (queue.length > 0) {
    const next = queue.pop()!;
    if (next === address) return true;
    if (seen.has(next)) continue;
    seen.add(next);
    const route = routes.get(next);
    if (route && route !== 'mailbox') queue.push(...route);
  }
  return false;
}

export async function createAlias(deps: MailApiDeps, caller: MailCaller, body: CreateAliasBody): Promise<AliasView> {
  const { tenantId } = caller;
  return oneAtATime(body.mailDomainId, () =>
    inScope(deps.db, caller, async (tx) => {
      const loaded = await lockChangeable(tx, caller, body.mailDomainId);
      const { mailDomain, domain } = loaded;
      const address = `${body.localPart}@${domain}`;
      const targets = [...new Set(body.targets)];
      const [box] = await tx.select({ id: mailboxes.id }).from(mailboxes).where(and(eq(mailboxes.domainId, mailDomain.domainId), eq(mailboxes.localPart, body.localPart)));
      if (box) throw conflict(`${address} is a mailbox`, [{ field: 'body/localPart', message: 'a mailbox has that name' }]);
      const [taken] = await tx.select({ id: mailAliases.id }).from(mailAliases).where(and(eq(mailAliases.mailDomainId, mailDomain.id), eq(mailAliases.localPart, body.localPart)));
      if (taken) throw conflict(`${address} already exists`, [{ field: 'body/localPart', message: 'an alias has that name' }]);

      const map = await tenantMailMap(tx, tenantId);
      const problems = targets.flatMap((target, index) => {
        const field = `body/targets/${body.targets.indexOf(target) >= 0 ? body.targets.indexOf(target) : index}`;
        if (target === address) return [{ field, message: 'an alias cannot deliver to itself' }];
        const targetDomain = target.slice(target.lastIndexOf('@') + 1);
        if (map.domains.has(targetDomain) && !map.routes.has(target)) return [{ field, message: `no mailbox or alias ${target} on this hosted domain` }];
        return [];
      });
      if (problems.length > 0) throw validationFailed(problems);
      if (leadsBackTo(address, targets, map.routes)) throw validationFailed([{ field: 'body/targets', message: `would loop: the targets lead back to ${address}` }]);

      const created = await applyChange(deps, tx, loaded, async () => {
        const [row] = await tx.insert(mailAliases).values({ tenantId, mailDomainId: mailDomain.id, localPart: body.localPart, targets }).returning();
        if (!row) throw new Error('insert into mail_aliases returned no row');
        await recordAudit(tx, { tenantId, actor: caller.actor, action: 'mail_alias.created', targetType: 'mail_alias', targetId: row.id, after: { address, targets }, metadata: { mailDomainId: mailDomain.id } });
        return row;
      });
      return aliasView(created, domain);
    }),
  );
}

export async function deleteAlias(deps: MailApiDeps, caller: MailCaller, id: string): Promise<AliasView> {
  const { tenantId } = caller;
  const mailDomainId = await mailDomainOf(deps, caller, { aliasId: id });
  if (!mailDomainId) throw notFound('Mail alias');
  return oneAtATime(mailDomainId, () =>
    inScope(deps.db, caller, async (tx) => {
      const [found] = await tx.select({ mailDomainId: mailAliases.mailDomainId }).from(mailAliases).where(and(eq(mailAliases.tenantId, tenantId), eq(mailAliases.id, id)));
      if (!found) throw notFound('Mail alias');
      const loaded = await lockChangeable(tx, caller, found.mailDomainId);
      const [alias] = await tx.select().from(mailAliases).where(eq(mailAliases.id, id)).for('update');
      if (!alias) throw notFound('Mail alias');
      const address = `${alias.localPart}@${loaded.domain}`;
      const referring = (await aliasesTargeting(tx, tenantId, address)).filter((other) => other !== address);
      if (referring.length > 0) throw conflict(`${referring.join(', ')} still deliver${referring.length === 1 ? 's' : ''} to ${address}: change or delete ${referring.length === 1 ? 'it' : 'them'} first`);
      await applyChange(deps, tx, loaded, async () => {
        await tx.delete(mailAliases).where(eq(mailAliases.id, id));
        await recordAudit(tx, { tenantId, actor: caller.actor, action: 'mail_alias.deleted', targetType: 'mail_alias', targetId: id, before: { address, targets: alias.targets }, metadata: { mailDomainId: loaded.mailDomain.id } });
      });
      return aliasView(alias, loaded.domain);
    }),
  );
}
