import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections come in two kinds, and mixing them up hangs or crashes things:
 * - `command`: request-path use (rate limits, cache, queue producer). Fails fast when Redis is
 *   down (`enableOfflineQueue: false`) so an HTTP handler never waits for ever; ioredis would
 *   otherwise queue commands offline until it reconnects.
 * - `worker`: BullMQ workers and queue events, which require `maxRetriesPerRequest: null` and
 *   block on Redis by design.
 */
export type RedisKind = 'command' | 'worker';

export function createRedis(url: string, kind: RedisKind, overrides: RedisOptions = {}): Redis {
  const base: RedisOptions =
    kind === 'command'
      ? // commandTimeout: a Redis that stops answering without closing the connection must not hold
        // an HTTP request for ever either.
        { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 2_000 }
      : { maxRetriesPerRequest: null, enableReadyCheck: false };
  return new Redis(url, {
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...base,
    ...overrides,
  });
}

/** Resolves once the connection is ready, or rejects after `timeoutMs` (used at start-up and by /ready). */
export async function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
