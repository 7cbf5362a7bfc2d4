#!/usr/bin/env node
// The `mpanel` command. mPanel runs its TypeScript sources through tsx (no build step); see README.
import { existsSync } from 'node:fs';
import process from 'node:process';
import { register } from 'tsx/esm/api';

// Settings from ./.env when present (see .env.example); variables already set in the environment win.
// The test suite (NODE_ENV=test) runs on its own settings: an install's generated secrets in ./.env
// must not reach the processes it spawns, or they would no longer match the suite's own.
if (process.env.NODE_ENV !== 'test' && existsSync('.env')) process.loadEnvFile('.env');

register();
await import('../src/cli.ts');
