import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { Redis } from 'ioredis';
import { adminQuery, databaseUrl, quoteIdent, TEMPLATE_DB } from './helpers/postgres.js';
import { blockNonLoopbackTraffic } from './helpers/network-guard.js';

/**
 * Runs before each test file: its own database cloned from the migrated template, its own Redis
 * key prefix, quiet logs, and no traffic except to loopback. NODE_ENV=test gives the public test
 * secrets (processes spawned with it ignore ./.env), except the PowerDNS key, which is whatever
 * the services' PowerDNS runs with; metrics servers take any free port, as files run in parallel.
 */
blockNonLoopbackTraffic();

const suffix = randomBytes(5).toString('hex');
const database = `mpanel_t_${suffix}`;
const redisPrefix = `mpanel-test-${suffix}`;

for (let attempt = 1; ; attempt++) {
  try {
    await adminQuery(`create database ${quoteIdent(database)} template ${quoteIdent(TEMPLATE_DB)} owner mpanel`);
    break;
  } catch (error) {
    // Two files cloning the template at the same instant can see "source database is being accessed".
    if (attempt >= 20) throw error;
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
}

Object.assign(process.env, {
  NODE_ENV: 'test',
  POWERDNS_API_KEY: process.env.POWERDNS_API_KEY ?? inject('powerdnsApiKey'),
  API_METRICS_PORT: '0',
  WORKER_METRICS_PORT: '0',
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  DATABASE_URL: databaseUrl('mpanel_app', database),
  MIGRATION_DATABASE_URL: databaseUrl('mpanel', database),
  DATABASE_POOL_MAX: '4',
  REDIS_KEY_PREFIX: redisPrefix,
  TEST_DATABASE_NAME: database,
});

afterAll(async () => {
  await adminQuery(`drop database if exists ${quoteIdent(database)} with (force)`);
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // Redis may be down on purpose in a test; its keys then die with the next flush.
  } finally {
    redis.disconnect();
  }
});
