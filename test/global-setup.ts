import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runMigrations } from '../src/db/migrate.js';
import { adminQuery, databaseUrl, quoteIdent, TEMPLATE_DB } from './helpers/postgres.js';

/**
 * Once per test run: make sure the loopback services run (idempotent; a no-op when they are up),
 * and migrate a template database that every test file clones (CREATE DATABASE ... TEMPLATE,
 * ~0.2 s) so files never share data.
 */
export default async function setup(): Promise<void> {
  if (!process.env.MPANEL_TEST_SKIP_SERVICES) {
    execFileSync('bash', ['scripts/services.sh', 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  await adminQuery(readFileSync('scripts/db-roles.sql', 'utf8'));
  await adminQuery(`drop database if exists ${quoteIdent(TEMPLATE_DB)} with (force)`);
  await adminQuery(`create database ${quoteIdent(TEMPLATE_DB)} owner mpanel`);
  await runMigrations(databaseUrl('mpanel', TEMPLATE_DB));
}
