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

/**
 * The last finished billing run (billing_runs has no RLS: counts, no tenant data). Stale after
 * twice the interval: the workers that run it are down or failing. Undefined when unreadable.
 */
async function billingRunCheck(pool: pg.Pool, intervalMs: number): Promise<Readiness['billingRun']> {
  try {
    const { rows } = await pool.query<{ finished_at: Date | null; status: 'SUCCEEDED' | 'FAILED' }>(
      "select finished_at, status from billing_runs where status <> 'RUNNING' and finished_at is not null order by finished_at desc limit 1",
    );
    const last = rows[0];
    const fresh = last?.finished_at ? Date.now() - last.finished_at.getTime() <= 2 * intervalMs : false;
    return { ok: fresh && last?.status === 'SUCCEEDED', lastFinishedAt: last?.finished_at ?? null, lastStatus: last?.status ?? null };
  } catch {
    return undefined;
  }
}

/** Readiness: can this process reach PostgreSQL and Redis right now? (And, reported only: is the billing run on time?) */
export async function checkReadiness(pool: pg.Pool, redis: Redis, billingRunIntervalMs?: number): Promise<Readiness> {
  const [postgres, redisCheck] = await Promise.all([timed(() => pool.query('select 1')), timed(async () => {
      // A connection still (re)connecting is given the check's time to become ready.
      await waitForRedis(redis, CHECK_TIMEOUT_MS);
      return redis.ping();
    })]);
  const billingRun = postgres.ok && billingRunIntervalMs !== undefined ? await billingRunCheck(pool, billingRunIntervalMs) : undefined;
  return { status: postgres.ok && redisCheck.ok ? 'ready' : 'unavailable', checks: { postgres, redis: redisCheck }, ...(billingRun ? { billingRun } : {}) };
}
