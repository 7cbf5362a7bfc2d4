import type { Container } from '../container.js';
import { waitForRedis } from '../config/redis.js';
import { assertMigrated } from '../db/migrate.js';

/** A start-up problem a person can fix: printed without a stack trace, naming the setting. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Shows a connection URL without its password. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * What the API and worker check before they start serving: PostgreSQL reachable and migrated,
 * Redis reachable. Each failure names the variable to fix.
 */
export async function checkDependencies(container: Container): Promise<void> {
  const { env, database, redis } = container;
  try {
    await database.pool.query('select 1');
  } catch (error) {
    throw new StartupError(`cannot connect to PostgreSQL at DATABASE_URL=${safeUrl(env.DATABASE_URL)}: ${describe(error)}`);
  }
  await assertMigrated(database.pool);
  try {
    await waitForRedis(redis, 5_000);
  } catch (error) {
    throw new StartupError(`cannot connect to Redis at REDIS_URL=${safeUrl(env.REDIS_URL)}: ${describe(error)}`);
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describe).join('; ');
  return error instanceof Error ? error.message || error.name : String(error);
}
