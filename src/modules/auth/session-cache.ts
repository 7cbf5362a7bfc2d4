import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Database } from '../../config/database.js';
import { refreshTokens, tenants, users, type UserRole } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { createRedis } from '../../config/redis.js';

/**
 * What every authenticated request needs to know about its caller, kept in process memory: the
 * user (role, active, not deleted), the home tenant (active) and the session (not ended).
 *
 * A session is the refresh-token family of one login (`sid` in the access token). It has ended
 * when every refresh token of the family is revoked: logout, refresh-token reuse, a password
 * change, disabling or deleting the user all revoke them, so each of those ends the access tokens
 * of the session at once, and re-enabling a user does not bring them back. (A family with no rows
 * at all is taken as alive: the server only signs tokens for families it has written.)
 *
 * Staleness, bounded three ways, fastest first:
 * 1. A change made by this process drops the affected entries before its response is sent.
 * 2. The same call publishes the change on `<prefix>:auth:invalidate`; every API process
 *    subscribes (its own connection, as the catalog cache does) and drops its entries.
 * 3. An entry is used for at most `ttlMs` (AUTH_CACHE_TTL_MS, 1 s) after it was read, so a lost
 *    message (Redis down, a reconnect) leaves a change unseen for at most that long.
 * A read that raced with an invalidation is not stored (a generation counter), so an entry never
 * outlives a change it did not see by more than the TTL.
 */
export interface SessionState {
  readonly userId: string;
  readonly tenantId: string;
  readonly email: string;
  readonly name: string;
  readonly role: UserRole;
  readonly userActive: boolean;
  readonly tenantActive: boolean;
  readonly sessionEnded: boolean;
}

interface Entry {
  readonly state: SessionState | undefined;
  readonly loadedAt: number;
}

export type SessionChange = { user: string } | { tenant: string } | { session: string };

/** The writers' side: what changed, after its transaction committed. */
export interface SessionInvalidator {
  invalidate(change: SessionChange): Promise<void>;
}

export interface SessionCacheOptions {
  db: Database;
  /** Fail-fast command connection (config/redis.ts): PUBLISH. */
  redis: Redis;
  keyPrefix: string;
  logger: Logger;
  ttlMs: number;
  /** Entries kept at most (oldest dropped first). */
  maxEntries?: number;
  now?: () => number;
}

const MAX_ENTRIES = 50_000;

/** The state of (user, tenant, session) from the database: one query, in the user's tenant. */
async function loadSessionState(db: Database, claims: { sub: string; tid: string; sid: string }): Promise<SessionState | undefined> {
  return withTenant(db, claims.tid, async (tx) => {
    const [row] = await tx
      .select({
        userId: users.id,
        tenantId: users.tenantId,
        email: users.email,
        name: users.name,
        role: users.role,
        userActive: users.isActive,
        tenantActive: tenants.isActive,
        // NULL when the family has no rows; true when every token of it is revoked.
        sessionEnded: sql<boolean | null>`(select bool_and(${refreshTokens.revokedAt} is not null) from ${refreshTokens} where ${refreshTokens.familyId} = ${claims.sid}::uuid)`,
      })
      .from(users)
      .innerJoin(tenants, eq(tenants.id, users.tenantId))
      .where(and(eq(users.id, claims.sub), isNull(users.deletedAt)));
    return row ? { ...row, sessionEnded: row.sessionEnded === true } : undefined;
  });
}

export class SessionCache implements SessionInvalidator {
  readonly channel: string;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<SessionState | undefined>>();
  private generation = 0;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: SessionCacheOptions) {
    this.channel = `${options.keyPrefix}:auth:invalidate`;
    this.maxEntries = options.maxEntries ?? MAX_ENTRIES;
    this.now = options.now ?? Date.now;
  }

  /** The caller's state: from memory when read less than `ttlMs` ago, else from the database. */
  get(claims: { sub: string; tid: string; sid: string }): SessionState | undefined | Promise<SessionState | undefined> {
    const key = `${claims.sid}:${claims.sub}`;
    const entry = this.entries.get(key);
    if (entry && this.now() - entry.loadedAt < this.options.ttlMs) return entry.state;
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const generation = this.generation;
    const load = loadSessionState(this.options.db, claims)
      .then((state) => {
        if (this.generation === generation && (!state || state.tenantId === claims.tid)) this.store(key, state);
        return state;
      })
      .finally(() => {
        if (this.inflight.get(key) === load) this.inflight.delete(key);
      });
    this.inflight.set(key, load);
    return load;
  }

  private store(key: string, state: SessionState | undefined): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { state, loadedAt: this.now() });
  }

  /** Forgets, in this process, every entry the change touches (and any read in flight). */
  drop(change: SessionChange): void {
    this.generation += 1;
    this.inflight.clear();
    for (const [key, entry] of this.entries) {
      const hit =
        'session' in change ? key.startsWith(`${change.session}:`) : 'user' in change ? key.endsWith(`:${change.user}`) : entry.state?.tenantId === change.tenant;
      if (hit) this.entries.delete(key);
    }
  }

  clear(): void {
    this.generation += 1;
    this.inflight.clear();
    this.entries.clear();
  }

  /**
   * After a committed change: drops the local entries at once, then tells the other processes. A
   * Redis failure is logged, not thrown: the change is committed, and the TTL bounds what the
   * other processes miss.
   */
  async invalidate(change: SessionChange): Promise<void> {
    this.drop(change);
    try {
      await this.options.redis.publish(this.channel, JSON.stringify(change));
    } catch (error) {
      this.options.logger.warn({ err: error }, 'session cache: could not publish an invalidation');
    }
  }

  /** Subscribes `subscriber` (a dedicated connection) to other processes' changes. */
  async listen(subscriber: Redis, timeoutMs = 2_000): Promise<void> {
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const change = parseChange(message);
      if (change) this.drop(change);
      else this.clear();
    });
    // Messages may have been missed while disconnected.
    subscriber.on('ready', () => this.clear());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.options.logger.warn(`session cache: not yet subscribed to ${this.channel} after ${timeoutMs} ms; continuing (entries live ${this.options.ttlMs} ms)`);
        resolve();
      }, timeoutMs);
    });
    const subscribed = subscriber.subscribe(this.channel).then(
      () => undefined,
      (error: unknown) => this.options.logger.warn({ err: error }, 'session cache: subscribe failed'),
    );
    await Promise.race([subscribed, timeout]);
    clearTimeout(timer);
  }
}

function parseChange(message: string): SessionChange | undefined {
  try {
    const value: unknown = JSON.parse(message);
    if (typeof value !== 'object' || value === null) return undefined;
    if ('session' in value && typeof value.session === 'string') return { session: value.session };
    if ('user' in value && typeof value.user === 'string') return { user: value.user };
    if ('tenant' in value && typeof value.tenant === 'string') return { tenant: value.tenant };
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * The API's session cache: built once per app, subscribed on its own Redis connection (a
 * subscribed connection can do nothing else), closed with the app.
 */
export async function startSessionCache(
  app: { addHook(name: 'onClose', hook: () => Promise<void>): unknown },
  deps: { db: Database; redis: Redis; redisUrl: string; keyPrefix: string; logger: Logger; ttlMs: number },
): Promise<SessionCache> {
  const cache = new SessionCache({ db: deps.db, redis: deps.redis, keyPrefix: deps.keyPrefix, logger: deps.logger, ttlMs: deps.ttlMs });
  const subscriber = createRedis(deps.redisUrl, 'worker');
  let down = false;
  subscriber.on('error', (error) => {
    if (!down) deps.logger.warn({ err: error }, 'session cache: invalidation subscriber lost Redis; retrying (entries live at most AUTH_CACHE_TTL_MS)');
    down = true;
  });
  subscriber.on('ready', () => {
    down = false;
  });
  app.addHook('onClose', async () => {
    subscriber.disconnect();
  });
  await cache.listen(subscriber);
  return cache;
}
