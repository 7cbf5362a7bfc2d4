import { and, eq } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { servers, type Server } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { conflict, notFound, validationFailed, type FieldError } from '../../shared/errors/app-error.js';
import { findPgError } from '../../shared/errors/pg-errors.js';
import { addressKind } from '../../shared/ip-address.js';
import type { AuthContext } from '../auth/auth-context.js';
import { keyset, page } from '../../shared/http/pagination.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { createServerBody, type CreateServerInput, type ListServersQuery, type ServersPage, type ServerView, type UpdateServerBody } from './servers.types.js';

/**
 * Servers are the machines the workers act on (DESIGN.md "Providers"): web servers take the
 * sites, mail servers the mailboxes. Order intake picks the least loaded ACTIVE one of a role;
 * DRAINING keeps its sites but takes no new ones; DISABLED takes nothing and its queue is not consumed.
 */

const HOSTNAME_ROLE_UNIQUE = 'servers_tenant_hostname_role_unique';

type ServerFields = Pick<Server, 'hostname' | 'role' | 'driver' | 'status' | 'ipv4' | 'ipv6' | 'httpPort' | 'sshHost' | 'sshPort' | 'sshUser' | 'sshHostKey' | 'capacity'>;

export function serverView(server: Server): ServerView {
  return { id: server.id, ...serverAudit(server), createdAt: server.createdAt, updatedAt: server.updatedAt };
}

function serverAudit(server: ServerFields): ServerFields {
  return {
    hostname: server.hostname,
    role: server.role,
    driver: server.driver,
    status: server.status,
    ipv4: server.ipv4,
    ipv6: server.ipv6,
    httpPort: server.httpPort,
    sshHost: server.sshHost,
    sshPort: server.sshPort,
    sshUser: server.sshUser,
    sshHostKey: server.sshHostKey,
    capacity: server.capacity,
  };
}

/**
 * Rules across fields, on the server as it would be saved (create, or the row with a PATCH
 * applied): the SSH driver needs where and as whom to connect and the host key to pin; a web or
 * mail server needs an address, because DNS points the customers' names there and site
 * verification connects nowhere else.
 */
function crossFieldProblems(server: ServerFields, policy: ServerAddressPolicy): FieldError[] {
  const problems: FieldError[] = [...addressProblems(server, policy)];
  if (server.driver === 'SSH') {
    if (!server.sshHost) problems.push({ field: 'body/sshHost', message: 'is required for the SSH driver' });
    if (!server.sshUser) problems.push({ field: 'body/sshUser', message: 'is required for the SSH driver' });
    if (!server.sshHostKey) problems.push({ field: 'body/sshHostKey', message: 'is required for the SSH driver (its host key is pinned)' });
  }
  if ((server.role === 'WEB' || server.role === 'MAIL') && !server.ipv4 && !server.ipv6) {
    problems.push({ field: 'body/ipv4', message: `a ${server.role} server needs an IPv4 or IPv6 address` });
  }
  return problems;
}

/**
 * Where a server may be. The worker connects to its addresses (site check, SSH) and nginx's
 * `listen` lines are written from them, so none may be the unspecified address (listen on
 * everything), link-local (the cloud metadata endpoint 169.254.169.254), multicast or reserved
 * space; loopback (this machine's own PostgreSQL, Redis, PowerDNS API...) only on a development
 * or test install, where the services script's nginx is on 127.0.0.1. Private ranges are allowed:
 * servers on an internal network are normal.
 */
export interface ServerAddressPolicy {
  readonly allowLoopback: boolean;
}

/** Loopback servers are for development and the test suite (the quick start's demo server). */
export function serverAddressPolicy(env: Pick<Env, 'NODE_ENV'>): ServerAddressPolicy {
  return { allowLoopback: env.NODE_ENV !== 'production' };
}

const LOCALHOST = /^(localhost|.*\.localhost)$/;

function addressProblems(server: ServerFields, policy: ServerAddressPolicy): FieldError[] {
  const problems: FieldError[] = [];
  const check = (field: 'ipv4' | 'ipv6' | 'sshHost', value: string | null) => {
    if (value === null) return;
    const kind = addressKind(value) ?? (LOCALHOST.test(value) ? 'loopback' : 'public');
    if (kind === 'loopback' && !policy.allowLoopback) {
      problems.push({ field: `body/${field}`, message: 'must not be a loopback address outside a development install (NODE_ENV=production)' });
    } else if (kind === 'unspecified' || kind === 'link-local' || kind === 'multicast' || kind === 'reserved') {
      problems.push({ field: `body/${field}`, message: `must be a unicast address of the server, not a ${kind} address` });
    }
  };
  check('ipv4', server.ipv4);
  check('ipv6', server.ipv6);
  check('sshHost', server.sshHost);
  return problems;
}

async function uniqueHostname<T>(write: Promise<T>, hostname: string, role: string): Promise<T> {
  try {
    return await write;
  } catch (error) {
    const pg = findPgError(error);
    if (pg?.code === '23505' && pg.constraint === HOSTNAME_ROLE_UNIQUE) {
      throw conflict(`A ${role} server named ${hostname} is already registered`, [{ field: 'body/hostname', message: `is already registered as a ${role} server` }]);
    }
    throw error;
  }
}

/** Registers a server in the transaction's tenant, audited (API, `mpanel servers add`, `mpanel seed`). */
export async function createServer(tx: Tx, tenantId: string, input: CreateServerInput, actor: AuditActor, policy: ServerAddressPolicy): Promise<Server> {
  const data = createServerBody.parse(input);
  const fields: ServerFields = {
    hostname: data.hostname,
    role: data.role,
    driver: data.driver,
    status: data.status,
    ipv4: data.ipv4 ?? null,
    ipv6: data.ipv6 ?? null,
    httpPort: data.httpPort,
    sshHost: data.sshHost ?? null,
    sshPort: data.driver === 'SSH' ? (data.sshPort ?? 22) : (data.sshPort ?? null),
    sshUser: data.sshUser ?? null,
    sshHostKey: data.sshHostKey ?? null,
    capacity: data.capacity ?? null,
  };
  const problems = crossFieldProblems(fields, policy);
  if (problems.length > 0) throw validationFailed(problems, 'The server is not valid');
  const [server] = await uniqueHostname(tx.insert(servers).values({ tenantId, ...fields }).returning(), fields.hostname, fields.role);
  if (!server) throw new Error('insert into servers returned no row');
  await recordAudit(tx, { tenantId, actor, action: 'server.created', targetType: 'server', targetId: server.id, after: serverAudit(server) });
  return server;
}

/** The server of that hostname and role, created when absent (idempotent: `mpanel seed`). */
export async function ensureServer(
  tx: Tx,
  tenantId: string,
  input: CreateServerInput,
  actor: AuditActor,
  policy: ServerAddressPolicy,
): Promise<{ server: Server; created: boolean }> {
  const data = createServerBody.parse(input);
  const [existing] = await tx
    .select()
    .from(servers)
    .where(and(eq(servers.hostname, data.hostname), eq(servers.role, data.role)));
  if (existing) return { server: existing, created: false };
  return { server: await createServer(tx, tenantId, data, actor, policy), created: true };
}

export async function listServerRows(tx: Tx, tenantId: string, query: ListServersQuery): Promise<{ items: Server[]; nextCursor: string | null }> {
  const { where: after, orderBy } = keyset(servers.createdAt, servers.id, query.cursor);
  const rows = await tx
    .select()
    .from(servers)
    .where(
      and(
        eq(servers.tenantId, tenantId),
        query.role === undefined ? undefined : eq(servers.role, query.role),
        query.driver === undefined ? undefined : eq(servers.driver, query.driver),
        query.status === undefined ? undefined : eq(servers.status, query.status),
        after,
      ),
    )
    .orderBy(...orderBy)
    .limit(query.limit + 1);
  return page(rows, query.limit);
}

export async function listServers(db: Database, auth: AuthContext, query: ListServersQuery): Promise<ServersPage> {
  const { items, nextCursor } = await withTenant(db, auth.tenantId, (tx) => listServerRows(tx, auth.tenantId, query));
  return { items: items.map(serverView), nextCursor };
}

async function findServer(tx: Tx, tenantId: string, id: string, lock = false): Promise<Server> {
  const query = tx
    .select()
    .from(servers)
    .where(and(eq(servers.tenantId, tenantId), eq(servers.id, id)));
  const [server] = lock ? await query.for('update') : await query;
  if (!server) throw notFound('Server');
  return server;
}

export async function getServer(db: Database, auth: AuthContext, id: string): Promise<ServerView> {
  return serverView(await withTenant(db, auth.tenantId, (tx) => findServer(tx, auth.tenantId, id)));
}

export async function addServer(db: Database, auth: AuthContext, input: CreateServerInput, actor: AuditActor, policy: ServerAddressPolicy): Promise<ServerView> {
  return serverView(await withTenant(db, auth.tenantId, (tx) => createServer(tx, auth.tenantId, input, actor, policy)));
}

/** A PATCH field: absent keeps the current value, null clears it. */
const changed = <T>(change: T | undefined, current: T): T => (change === undefined ? current : change);

/**
 * PATCH /servers/:id. The role is fixed (a web server's sites cannot become mailboxes); the
 * cross-field rules apply to the result. Changing the driver or SSH details takes effect at the
 * next step run on that server (the driver cache compares the row).
 */
export async function updateServer(
  db: Database,
  auth: AuthContext,
  id: string,
  changes: UpdateServerBody,
  actor: AuditActor,
  policy: ServerAddressPolicy,
): Promise<ServerView> {
  return withTenant(db, auth.tenantId, async (tx) => {
    const before = await findServer(tx, auth.tenantId, id, true);
    const merged: ServerFields = {
      hostname: changed(changes.hostname, before.hostname),
      role: before.role,
      driver: changed(changes.driver, before.driver),
      status: changed(changes.status, before.status),
      ipv4: changed(changes.ipv4, before.ipv4),
      ipv6: changed(changes.ipv6, before.ipv6),
      httpPort: changed(changes.httpPort, before.httpPort),
      sshHost: changed(changes.sshHost, before.sshHost),
      sshPort: changed(changes.sshPort, before.sshPort),
      sshUser: changed(changes.sshUser, before.sshUser),
      sshHostKey: changed(changes.sshHostKey, before.sshHostKey),
      capacity: changed(changes.capacity, before.capacity),
    };
    if (merged.driver === 'SSH' && merged.sshPort === null) merged.sshPort = 22;
    const problems = crossFieldProblems(merged, policy);
    if (problems.length > 0) throw validationFailed(problems, 'The server is not valid');

    const [after] = await uniqueHostname(tx.update(servers).set(merged).where(eq(servers.id, before.id)).returning(), merged.hostname, merged.role);
    if (!after) throw new Error('update of servers returned no row');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'server.updated', targetType: 'server', targetId: before.id, before: serverAudit(before), after: serverAudit(after) });
    return serverView(after);
  });
}
