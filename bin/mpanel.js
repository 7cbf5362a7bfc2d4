#!/usr/bin/env node
// The `mpanel` command. Runs the compiled server in dist/ (`npm run build`) when it is there, as
// production does; the sources through tsx otherwise and under the test suite (NODE_ENV=test: tests
// run what they test). MPANEL_RUN=dist or MPANEL_RUN=sources chooses. See README "Build".
import { existsSync, readdirSync, statSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

// Settings from ./.env when present (see .env.example); variables already set in the environment win.
// The test suite (NODE_ENV=test) runs on its own settings: an install's generated secrets in ./.env
// must not reach the processes it spawns, or they would no longer match the suite's own.
if (process.env.NODE_ENV !== 'test' && existsSync('.env')) process.loadEnvFile('.env');

const compiled = new URL('../dist/cli.js', import.meta.url);
const run = process.env.MPANEL_RUN ?? (process.env.NODE_ENV === 'test' || !existsSync(compiled) ? 'sources' : 'dist');
if (run !== 'dist' && run !== 'sources') {
  process.stderr.write(`mpanel: MPANEL_RUN must be "dist" or "sources", not "${run}"\n`);
  process.exit(2);
}
if (run === 'dist' && !existsSync(compiled)) {
  process.stderr.write('mpanel: MPANEL_RUN=dist but dist/cli.js is missing: run `npm run build`\n');
  process.exit(2);
}

/**
 * The newest modification time of the server's sources, tests left out (about 150 stats: a millisecond or two).
 * @param {URL} dir
 */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs);
  }
  return newest;
}

if (run === 'sources') {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
} else {
  const sources = new URL('../src/', import.meta.url);
  if (existsSync(sources) && newestMtime(sources) > statSync(compiled).mtimeMs) {
    process.stderr.write('mpanel: dist/ is older than src/: running the last build; `npm run build` compiles the current sources\n');
  }
  await import(compiled.href);
}
