import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildServer } from '../scripts/build.js';
import { adminQuery, databaseUrl, quoteIdent } from './helpers/postgres.js';
import { spawnJs, type Spawned } from './helpers/process.js';

/**
 * `npm run build` as production uses it: the compiled server runs on plain Node (no loader),
 * applies every migration to an empty database from dist/, and serves the API. Built into a
 * folder of its own inside the checkout (node_modules is found from there), removed afterwards.
 */
const outDir = path.resolve('.build-test', randomBytes(4).toString('hex'));
const emptyDatabase = `${process.env.TEST_DATABASE_NAME ?? 'mpanel_t'}_dist`;
const spawned: Spawned[] = [];

beforeAll(async () => {
  await buildServer(outDir);
  await adminQuery(`create database ${quoteIdent(emptyDatabase)} owner mpanel`);
}, 120_000);

afterAll(async () => {
  for (const process of spawned) process.child.kill('SIGTERM');
  await Promise.all(spawned.map((process) => process.exited));
  await adminQuery(`drop database if exists ${quoteIdent(emptyDatabase)} with (force)`);
  await rm(outDir, { recursive: true, force: true });
});

it('compiles every server source, no test, with the migrations beside db/migrate.js', () => {
  expect(existsSync(path.join(outDir, 'cli.js'))).toBe(true);
  expect(existsSync(path.join(outDir, 'db/migrations/meta/_journal.json'))).toBe(true);
  expect(existsSync(path.join(outDir, 'db/migrations/0000_init.sql'))).toBe(true);
  expect(existsSync(path.join(outDir, 'config/env.test.js'))).toBe(false);
});

it('migrates an empty database from dist/', async () => {
  const migrate = spawnJs(path.join(outDir, 'cli.js'), ['migrate'], { MIGRATION_DATABASE_URL: databaseUrl('mpanel', emptyDatabase) });
  spawned.push(migrate);
  await migrate.waitFor(/migrate: applied \d+ migration\(s\)/, 60_000);
  expect(await migrate.exited).toEqual({ code: 0, signal: null });
}, 90_000);

it('serves the API and runs a worker from dist/', async () => {
  const api = spawnJs(path.join(outDir, 'cli.js'), ['api'], { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' });
  const worker = spawnJs(path.join(outDir, 'cli.js'), ['worker'], { LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0' });
  spawned.push(api, worker);
  const [, base] = await api.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
  const ready = await fetch(`${base}/ready`);
  expect(ready.status).toBe(200);
  await worker.waitFor(/mPanel worker consuming/, 60_000);
}, 120_000);
