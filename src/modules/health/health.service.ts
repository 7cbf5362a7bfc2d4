import type { Redis } from 'ioredis';
import type pg from 'pg';
import { waitForRedis } from '../../config/redis.js';
import type { Readiness } from './health.types.js';

const CHECK_TIMEOUT_MS = 1_500;

type Check = Readiness['checks']['postgres'];

async function timed(probe: () => Promise<unknown>): Promise<Check> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: message };
  } finally {
    clearTimeout(timer);
  }
}

/** Readiness: can this process reach PostgreSQL and Redis right now? */
export async function checkReadiness(pool: pg.Pool, redis: Redis): Promise<Readiness> {
  const [postgres, redisCheck] = await Promise.all([timed(() => pool.query('select 1')), timed(async () => {
      // A connection still (re)connecting is given the check's time to become ready.
      await waitForRedis(redis, CHECK_TIMEOUT_MS);
      return redis.ping();
    })]);
  return { status: postgres.ok && redisCheck.ok ? 'ready' : 'unavailable', checks: { postgres, redis: redisCheck } };
}
