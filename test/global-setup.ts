import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { runMigrations } from '../src/db/migrate.js';
import { adminQuery, databaseUrl, quoteIdent, TEMPLATE_DB } from './helpers/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The key the services' PowerDNS runs with (an install's own, from ./.env, or the public test key). */
    powerdnsApiKey: string;
  }
}

/**
 * Once per test run: make sure the loopback services run (idempotent; a no-op when they are up),
 * and migrate a template database that every test file clones (CREATE DATABASE ... TEMPLATE,
 * ~0.2 s) so files never share data.
 */
export default async function setup(project: TestProject): Promise<void> {
  if (!process.env.MPANEL_TEST_SKIP_SERVICES) {
    execFileSync('bash', ['scripts/services.sh', 'up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  const servicesEnv = execFileSync('bash', ['scripts/services.sh', 'env'], { encoding: 'utf8' });
  const powerdnsApiKey = /^export POWERDNS_API_KEY=(.+)$/m.exec(servicesEnv)?.[1];
  if (!powerdnsApiKey) throw new Error(`scripts/services.sh env printed no POWERDNS_API_KEY:\n${servicesEnv}`);
  project.provide('powerdnsApiKey', powerdnsApiKey);
  await adminQuery(readFileSync('scripts/db-roles.sql', 'utf8'));
  await adminQuery(`drop database if exists ${quoteIdent(TEMPLATE_DB)} with (force)`);
  await adminQuery(`create database ${quoteIdent(TEMPLATE_DB)} owner mpanel`);
  await runMigrations(databaseUrl('mpanel', TEMPLATE_DB));
}
