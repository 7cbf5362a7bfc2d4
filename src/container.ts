import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createDatabase, type DatabaseHandle } from './config/database.js';
import type { Env } from './config/env.js';
import { createRedis } from './config/redis.js';
import { JobProducer } from './jobs/queue.js';
import { createLogger } from './shared/logger.js';

/**
 * Composition root: plain factory functions, no DI framework. Each process (API, worker, CLI)
 * builds one container and closes it on the way out.
 */
export interface Container {
  readonly env: Env;
  readonly logger: Logger;
  readonly database: DatabaseHandle;
  /** Fail-fast connection for request-path commands (see config/redis.ts). */
  readonly redis: Redis;
  /** Adds jobs to BullMQ (API side of the outbox). */
  readonly producer: JobProducer;
  close(): Promise<void>;
}

export function createContainer(env: Env, role: 'api' | 'worker' | 'cli'): Container {
  const logger = createLogger(env, `mpanel-${role}`);
  const database = createDatabase(env.DATABASE_URL, { max: env.DATABASE_POOL_MAX, logger, applicationName: `mpanel-${role}` });
  const redis = createRedis(env.REDIS_URL, 'command');
  const producer = new JobProducer(env);
  // ioredis reports every failed reconnect; one line per state change is enough.
  let redisDown = false;
  redis.on('error', (error) => {
    if (!redisDown) logger.warn({ err: error }, 'Redis connection lost; retrying');
    redisDown = true;
  });
  redis.on('ready', () => {
    if (redisDown) logger.info('Redis connection restored');
    redisDown = false;
  });
  return {
    env,
    logger,
    database,
    redis,
    producer,
    async close() {
      await producer.close();
      redis.disconnect();
      await database.pool.end();
    },
  };
}
