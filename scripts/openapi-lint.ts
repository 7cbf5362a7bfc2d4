// `npm run lint:openapi`: builds the app (no listen, no database query), takes the document
// GET /api/openapi.json serves and lints it with Redocly's CLI against redocly.yaml. Exits with
// the linter's status. test/openapi.test.ts runs the same lint through lintOpenapiDocument().
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadEnv } from '../src/config/env.js';
import { createContainer } from '../src/container.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const redoclyCli = path.join(path.dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

export interface LintResult {
  /** The linter's exit status: 0 when the document has no problem at error severity. */
  status: number;
  /** What it printed (stdout and stderr, in order). */
  output: string;
}

/** Lints an OpenAPI document (as served, JSON text) with `redocly lint --config redocly.yaml`. */
export async function lintOpenapiDocument(json: string): Promise<LintResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mpanel-openapi-'));
  try {
    const file = path.join(dir, 'openapi.json');
    await writeFile(file, json);
    return await new Promise<LintResult>((resolve, reject) => {
      const child = spawn(process.execPath, [redoclyCli, 'lint', file, '--config', path.join(root, 'redocly.yaml'), '--format', 'codeframe'], {
        cwd: root,
        // Redocly asks its servers for news and sends usage data unless told not to; we talk to no one.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 128 : 1), output }));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The document exactly as the API serves it. */
export async function servedDocument(): Promise<string> {
  // Only the document is read: no secret is used, so the test suite's public ones do.
  const env = loadEnv({ ...process.env, NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const container = createContainer(env, 'cli');
  try {
    const app = await buildApp(container);
    try {
      await app.ready();
      const response = await app.inject({ method: 'GET', url: '/api/openapi.json' });
      if (response.statusCode !== 200) throw new Error(`GET /api/openapi.json answered ${response.statusCode}: ${response.body}`);
      return response.body;
    } finally {
      await app.close();
    }
  } finally {
    await container.close();
  }
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (runDirectly) {
  const result = await lintOpenapiDocument(await servedDocument());
  process.stdout.write(result.output);
  process.exitCode = result.status;
}
