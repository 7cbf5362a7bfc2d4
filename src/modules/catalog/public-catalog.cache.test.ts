import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../config/redis.js';
import { etagOf, matchesIfNoneMatch, PublicCatalogCache } from './public-catalog.cache.js';

const prefix = process.env.REDIS_KEY_PREFIX ?? 'mpanel-test';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const logger = pino({ level: 'silent' });

let redis: Redis;
beforeAll(() => {
  redis = createRedis(redisUrl, 'worker');
});
afterAll(() => {
  redis.disconnect();
});

/** A cache on a fake clock, and a render function that counts its calls. */
function setup(options: { redis?: Redis } = {}) {
  let now = 1_000_000;
  const cache = new PublicCatalogCache({ redis: options.redis ?? redis, keyPrefix: prefix, logger, recheckMs: 5_000, maxAgeMs: 60_000, now: () => now });
  let renders = 0;
  const render = async () => `{"render":${++renders}}`;
  return {
    cache,
    tenantId: randomUUID(),
    render,
    renders: () => renders,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('PublicCatalogCache', () => {
  it('renders once, then serves the same body and ETag from memory', async () => {
    const { cache, tenantId, render, renders } = setup();
    const first = await cache.get(tenantId, 'plans', render);
    const second = await cache.get(tenantId, 'plans', render);
    expect(second).toEqual(first);
    expect(first.etag).toBe(etagOf(first.body));
    expect(renders()).toBe(1);
    // Endpoints are cached apart.
    await cache.get(tenantId, 'products', render);
    expect(renders()).toBe(2);
  });

  it('a missed invalidation is caught by the version re-check once the entry is RECHECK_MS old', async () => {
    const { cache, tenantId, render, advance } = setup();
    await cache.get(tenantId, 'plans', render);
    await redis.incr(cache.versionKey(tenantId)); // another process wrote, and its message was lost
    advance(4_999);
    expect((await cache.get(tenantId, 'plans', render)).body).toBe('{"render":1}');
    advance(2);
    expect((await cache.get(tenantId, 'plans', render)).body).toBe('{"render":2}');
  });

  it('an unchanged version re-confirms the entry without rendering; MAX_AGE_MS forces a rebuild', async () => {
    const { cache, tenantId, render, renders, advance } = setup();
    await cache.get(tenantId, 'plans', render);
    for (let step = 0; step < 11; step++) {
      advance(5_001);
      await cache.get(tenantId, 'plans', render);
    }
    expect(renders()).toBe(1);
    advance(5_001); // now older than 60 s
    await cache.get(tenantId, 'plans', render);
    expect(renders()).toBe(2);
  });

  it('invalidate drops the local entries at once and bumps the version for the other processes', async () => {
    const { cache, tenantId, render, renders } = setup();
    const subscriber = createRedis(redisUrl, 'worker');
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await subscriber.subscribe(cache.channel);
    try {
      await cache.get(tenantId, 'plans', render);
      await cache.get(tenantId, 'products', render);
      const before = Number((await redis.get(cache.versionKey(tenantId))) ?? '0');
      await cache.invalidate(tenantId);
      expect(Number(await redis.get(cache.versionKey(tenantId)))).toBe(before + 1);
      await cache.get(tenantId, 'plans', render);
      await cache.get(tenantId, 'products', render);
      expect(renders()).toBe(4);
      await expect.poll(() => received, { timeout: 1_000 }).toEqual([tenantId]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('listen: a message on the channel drops that tenant only', async () => {
    const { cache, tenantId, render, renders } = setup();
    const other = randomUUID();
    const subscriber = createRedis(redisUrl, 'worker');
    try {
      await cache.listen(subscriber);
      await cache.get(tenantId, 'plans', render);
      await cache.get(other, 'plans', render);
      await redis.publish(cache.channel, tenantId);
      await expect
        .poll(async () => {
          await cache.get(tenantId, 'plans', render);
          return renders();
        }, { timeout: 1_000, interval: 10 })
        .toBe(3);
      await cache.get(other, 'plans', render);
      expect(renders()).toBe(3);
    } finally {
      subscriber.disconnect();
    }
  });

  it('concurrent misses share one render', async () => {
    const { cache, tenantId, render, renders } = setup();
    const bodies = await Promise.all(Array.from({ length: 5 }, async () => cache.get(tenantId, 'plans', render)));
    expect(new Set(bodies.map((body) => body.body)).size).toBe(1);
    expect(renders()).toBe(1);
  });

  it('a rebuild that raced with an invalidation is returned but not stored', async () => {
    const { cache, tenantId } = setup();
    let release: (body: string) => void = () => undefined;
    let started: () => void = () => undefined;
    const renderStarted = new Promise<void>((resolve) => (started = resolve));
    const slow = () =>
      new Promise<string>((resolve) => {
        release = resolve;
        started();
      });
    const pending = cache.get(tenantId, 'plans', slow);
    await renderStarted; // the version is read; the database read is in progress
    cache.drop(tenantId);
    release('{"old":true}');
    expect((await pending).body).toBe('{"old":true}');
    expect((await cache.get(tenantId, 'plans', async () => '{"new":true}')).body).toBe('{"new":true}');
  });

  it('without Redis nothing is stored: every request renders', async () => {
    const down = createRedis('redis://127.0.0.1:1', 'command', { retryStrategy: () => null });
    down.on('error', () => undefined);
    try {
      const { cache, tenantId, render, renders } = setup({ redis: down });
      expect((await cache.get(tenantId, 'plans', render)).body).toBe('{"render":1}');
      expect((await cache.get(tenantId, 'plans', render)).body).toBe('{"render":2}');
      await expect(cache.invalidate(tenantId)).resolves.toBeUndefined();
      expect(renders()).toBe(2);
    } finally {
      down.disconnect();
    }
  });
});

describe('matchesIfNoneMatch', () => {
  it('matches the ETag itself, its weak form, within a list, and *', () => {
    const etag = '"abc"';
    expect(matchesIfNoneMatch(undefined, etag)).toBe(false);
    expect(matchesIfNoneMatch('"abc"', etag)).toBe(true);
    expect(matchesIfNoneMatch('W/"abc"', etag)).toBe(true);
    expect(matchesIfNoneMatch('"x", "abc"', etag)).toBe(true);
    expect(matchesIfNoneMatch('*', etag)).toBe(true);
    expect(matchesIfNoneMatch('"abcd"', etag)).toBe(false);
    expect(matchesIfNoneMatch('abc', etag)).toBe(false);
  });
});
