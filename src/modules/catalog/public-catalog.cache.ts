import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * In-process cache of the public catalog's response bodies, shared invalidation through Redis.
 *
 * What is cached: per (tenant, endpoint), the serialised JSON body and its strong ETag, so a hit
 * is a Map lookup and a write of a ready string: no database, no serialisation.
 *
 * How entries go stale, three ways, from fastest to the safety net:
 * 1. A catalog write in this process drops the tenant's entries before the write's response
 *    is sent (`invalidate`), so the writer's next public read is fresh.
 * 2. The same call INCRs the tenant's version key `<prefix>:catalog:version:<tenantId>` and
 *    publishes the tenant id on `<prefix>:catalog:invalidate`; every API process subscribes
 *    (a dedicated connection: a subscribed connection can do nothing else) and drops its entries.
 * 3. Pub/sub is fire-and-forget (a process that is reconnecting misses messages), so an entry
 *    is served without a check only for RECHECK_MS after it was last confirmed; after that one
 *    GET of the version key confirms it (same version: served and re-confirmed) or drops it.
 *    An entry is rebuilt after MAX_AGE_MS whatever the version says, which bounds staleness
 *    even when a write's INCR was lost to a Redis outage.
 *
 * An entry is only stored with the version read BEFORE its database read, so a write that lands
 * during the rebuild leaves it with an older version (caught by 3); a local generation counter
 * per tenant keeps a rebuild that raced with an invalidation message from being stored at all.
 * When Redis is down no entry can be confirmed: bodies are rendered from the database on every
 * request (nothing is stored) rather than served stale or failed.
 */

export const PUBLIC_ENDPOINTS = ['products', 'plans'] as const;
export type PublicEndpoint = (typeof PUBLIC_ENDPOINTS)[number];

/** A rendered body and its strong ETag. */
export interface CachedBody {
  readonly body: string;
  readonly etag: string;
}

interface Entry extends CachedBody {
  readonly version: string;
  readonly storedAt: number;
  checkedAt: number;
}

export interface PublicCatalogCacheOptions {
  /** Fail-fast command connection (config/redis.ts): GET, INCR, PUBLISH. */
  redis: Redis;
  keyPrefix: string;
  logger: Logger;
  recheckMs?: number;
  maxAgeMs?: number;
  now?: () => number;
}

export const RECHECK_MS = 5_000;
export const MAX_AGE_MS = 60_000;

/** Strong ETag: a quoted, truncated base64url SHA-256 of the exact body bytes. */
export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** If-None-Match (a list, `*`, possibly weak validators: RFC 9110 uses weak comparison here). */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

export class PublicCatalogCache {
  readonly channel: string;
  private readonly redis: Redis;
  private readonly keyPrefix: string;
  private readonly logger: Logger;
  private readonly recheckMs: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<CachedBody>>();
  private readonly generations = new Map<string, number>();
  private redisFailing = false;

  constructor(options: PublicCatalogCacheOptions) {
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix;
    this.logger = options.logger;
    this.recheckMs = options.recheckMs ?? RECHECK_MS;
    this.maxAgeMs = options.maxAgeMs ?? MAX_AGE_MS;
    this.now = options.now ?? Date.now;
    this.channel = `${this.keyPrefix}:catalog:invalidate`;
  }

  versionKey(tenantId: string): string {
    return `${this.keyPrefix}:catalog:version:${tenantId}`;
  }

  /** The body for (tenant, endpoint): from memory when confirmed fresh, else from `render`. */
  get(tenantId: string, endpoint: PublicEndpoint, render: () => Promise<string>): CachedBody | Promise<CachedBody> {
    const key = `${tenantId}:${endpoint}`;
    const entry = this.entries.get(key);
    const now = this.now();
    if (entry && now - entry.checkedAt < this.recheckMs && now - entry.storedAt < this.maxAgeMs) return entry;
    // Concurrent misses share one rebuild instead of each querying the database.
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const rebuild = this.rebuild(key, tenantId, entry, render).finally(() => {
      if (this.inflight.get(key) === rebuild) this.inflight.delete(key);
    });
    this.inflight.set(key, rebuild);
    return rebuild;
  }

  private async rebuild(key: string, tenantId: string, entry: Entry | undefined, render: () => Promise<string>): Promise<CachedBody> {
    const generation = this.generations.get(tenantId) ?? 0;
    const version = await this.readVersion(tenantId);
    if (version === undefined) {
      this.entries.delete(key);
      const body = await render();
      return { body, etag: etagOf(body) };
    }
    if (entry && entry.version === version && this.now() - entry.storedAt < this.maxAgeMs && this.entries.get(key) === entry) {
      entry.checkedAt = this.now();
      return entry;
    }
    const body = await render();
    const now = this.now();
    const fresh: Entry = { body, etag: etagOf(body), version, storedAt: now, checkedAt: now };
    if ((this.generations.get(tenantId) ?? 0) === generation) this.entries.set(key, fresh);
    return fresh;
  }

  /** The tenant's catalog version, or undefined when Redis cannot say (then nothing is cached). */
  private async readVersion(tenantId: string): Promise<string | undefined> {
    try {
      const version = (await this.redis.get(this.versionKey(tenantId))) ?? '0';
      if (this.redisFailing) this.logger.info('public catalog cache: Redis answers again, caching resumes');
      this.redisFailing = false;
      return version;
    } catch (error) {
      if (!this.redisFailing) this.logger.warn({ err: error }, 'public catalog cache: Redis unavailable, serving from the database');
      this.redisFailing = true;
      return undefined;
    }
  }

  /** Forgets the tenant's entries in this process (and any rebuild in flight for them). */
  drop(tenantId: string): void {
    this.generations.set(tenantId, (this.generations.get(tenantId) ?? 0) + 1);
    for (const endpoint of PUBLIC_ENDPOINTS) {
      this.entries.delete(`${tenantId}:${endpoint}`);
      this.inflight.delete(`${tenantId}:${endpoint}`);
    }
  }

  /** Forgets everything (after the subscriber reconnects: messages may have been missed). */
  clear(): void {
    const tenantIds = new Set<string>();
    for (const key of [...this.entries.keys(), ...this.inflight.keys()]) tenantIds.add(key.slice(0, key.indexOf(':')));
    for (const tenantId of tenantIds) this.drop(tenantId);
  }

  /**
   * After a committed catalog write: drops the local entries at once, then tells the other
   * processes. A Redis failure is logged, not thrown: the write is already committed, and other
   * processes catch up through the version re-check or the maximum age.
   */
  async invalidate(tenantId: string): Promise<void> {
    this.drop(tenantId);
    try {
      await this.redis.multi().incr(this.versionKey(tenantId)).publish(this.channel, tenantId).exec();
    } catch (error) {
      this.logger.warn({ err: error, tenantId }, 'public catalog cache: could not publish an invalidation');
    }
  }

  /**
   * Subscribes `subscriber` (a dedicated connection) to invalidations from every process.
   * Resolves once subscribed, or after `timeoutMs` (Redis down at start: ioredis subscribes when
   * it connects, and entries are not stored until Redis answers anyway).
   */
  async listen(subscriber: Redis, timeoutMs = 2_000): Promise<void> {
    subscriber.on('message', (channel: string, tenantId: string) => {
      if (channel === this.channel) this.drop(tenantId);
    });
    subscriber.on('ready', () => this.clear());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.logger.warn(`public catalog cache: not yet subscribed to ${this.channel} after ${timeoutMs} ms; continuing`);
        resolve();
      }, timeoutMs);
    });
    const subscribed = subscriber.subscribe(this.channel).then(
      () => undefined,
      (error: unknown) => this.logger.warn({ err: error }, 'public catalog cache: subscribe failed'),
    );
    await Promise.race([subscribed, timeout]);
    clearTimeout(timer);
  }
}
