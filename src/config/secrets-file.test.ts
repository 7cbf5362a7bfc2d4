import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseEnv, promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEnv, secretNames } from './env.js';
import { ensureSecrets } from './secrets-file.js';

/**
 * `mpanel secrets generate|show` and what reads its file, through the real command in a scratch
 * directory (never the checkout's own ./.env, which scripts/services.sh would pick up). Each
 * command start costs ~2 s of CPU (tsx), so file details are checked on ensureSecrets directly.
 */
const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
function scratch(): string {
  dir = mkdtempSync(path.join(tmpdir(), 'mpanel-secrets-'));
  return dir;
}

/** The environment of an install: no NODE_ENV=test and none of the suite's settings. */
function installEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['NODE_ENV', 'POWERDNS_API_KEY', ...secretNames]) delete env[name];
  return env;
}

async function mpanel(cwd: string, ...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [path.join(root, 'bin/mpanel.js'), ...args], { cwd, env: installEnv() });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

const envFile = (cwd: string) => path.join(cwd, '.env');
const secretsIn = (file: string) => parseEnv(readFileSync(file, 'utf8'));

describe('mpanel secrets generate and show', () => {
  it('writes a strong value for every secret to ./.env (0600), prints where and no value; a second run keeps them; show prints one', { timeout: 90_000 }, async () => {
    const cwd = scratch();
    const { code, output } = await mpanel(cwd, 'secrets', 'generate');
    expect(code).toBe(0);
    const file = envFile(cwd);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const values = secretsIn(file);
    expect(output).toContain(file);
    expect(output).toMatch(/mpanel secrets show MARKETING_WEBHOOK_SECRET/);
    for (const name of secretNames) {
      expect(values[name], name).toBeTruthy();
      expect(output, `${name} printed`).not.toContain(values[name]);
    }
    expect(Buffer.byteLength(values.JWT_SECRET!)).toBeGreaterThanOrEqual(64);
    expect(values.MARKETING_WEBHOOK_SECRET).toMatch(/^[0-9a-f]{64}$/);
    expect(values.STRIPE_WEBHOOK_SECRET).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(values.STRIPE_API_KEY).toMatch(/^sk_test_unconnected_[0-9a-f]{48}$/); // a placeholder in the key's format until Stripe is connected
    expect(values.POWERDNS_API_KEY).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(values.SECRETS_ENCRYPTION_KEY!, 'base64url')).toHaveLength(32);
    // What production start-up accepts.
    expect(loadEnv({ ...values, NODE_ENV: 'production' }).JWT_SECRET).toBe(values.JWT_SECRET);

    const first = readFileSync(file, 'utf8');
    const again = await mpanel(cwd, 'secrets', 'generate');
    expect(again.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(first);
    expect(again.output).toMatch(/kept the existing JWT_SECRET, MARKETING_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET, STRIPE_API_KEY, POWERDNS_API_KEY, SECRETS_ENCRYPTION_KEY/);

    expect(await mpanel(cwd, 'secrets', 'show', 'MARKETING_WEBHOOK_SECRET')).toEqual({ code: 0, output: `${values.MARKETING_WEBHOOK_SECRET}\n` });
  });

  it('show refuses a name that is not a secret, and names the command when the secret is missing', { timeout: 60_000 }, async () => {
    const cwd = scratch();
    const notSecret = await mpanel(cwd, 'secrets', 'show', 'DATABASE_URL');
    expect(notSecret.code).not.toBe(0);
    expect(notSecret.output).toMatch(/must be one of JWT_SECRET/);
    const missing = await mpanel(cwd, 'secrets', 'show', 'JWT_SECRET');
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/JWT_SECRET is not set in \.env: run `mpanel secrets generate`/);
  });
});

describe('ensureSecrets (the file work behind `secrets generate`)', () => {
  it('completes an existing file: other settings and given secrets stay, empty ones (as in .env.example) are filled in place, 0644 becomes 0600', () => {
    const file = envFile(scratch());
    writeFileSync(file, ['# my settings', 'PORT=2280', `JWT_SECRET=${'j'.repeat(40)}`, 'MARKETING_WEBHOOK_SECRET=          # [secret] HMAC key', 'DNS_DMARC_RECORD=v=DMARC1; p=reject', ''].join('\n'));
    chmodSync(file, 0o644);
    const result = ensureSecrets(file);
    expect(result).toMatchObject({ created: false, kept: ['JWT_SECRET'], written: ['MARKETING_WEBHOOK_SECRET', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_KEY', 'POWERDNS_API_KEY', 'SECRETS_ENCRYPTION_KEY'] });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.slice(0, 3)).toEqual(['# my settings', 'PORT=2280', `JWT_SECRET=${'j'.repeat(40)}`]);
    expect(lines[3]).toMatch(/^MARKETING_WEBHOOK_SECRET=[0-9a-f]{64}$/);
    expect(lines[4]).toBe('DNS_DMARC_RECORD=v=DMARC1; p=reject');
    expect(secretsIn(file)).toMatchObject({ PORT: '2280', JWT_SECRET: 'j'.repeat(40) });
  });

  it('a complete file that others can read is made 0600, its content unchanged; each file gets its own values', () => {
    const file = envFile(scratch());
    ensureSecrets(file);
    const content = readFileSync(file, 'utf8');
    chmodSync(file, 0o644);
    expect(ensureSecrets(file)).toMatchObject({ written: [], tightened: true });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe(content);
    const other = path.join(path.dirname(file), 'other.env');
    ensureSecrets(other);
    for (const name of secretNames) expect(secretsIn(other)[name], name).not.toBe(secretsIn(file)[name]);
  });
});

describe('start-up outside the test suite', () => {
  it('without secrets, `mpanel api` stops at once naming each one and `mpanel secrets generate`', { timeout: 60_000 }, async () => {
    const { code, output } = await mpanel(scratch(), 'api');
    expect(code).toBe(2);
    for (const name of secretNames) expect(output).toMatch(new RegExp(`${name}: is not set: run \`mpanel secrets generate\``));
  });

  it('scripts/services.sh configures PowerDNS with the POWERDNS_API_KEY of ./.env, not the public test key', async () => {
    const cwd = scratch();
    const services = (env: NodeJS.ProcessEnv) => run('bash', [path.join(root, 'scripts/services.sh'), 'env'], { cwd, env });
    expect((await services(installEnv())).stdout).toMatch(/^export POWERDNS_API_KEY=dev-pdns-key$/m); // no ./.env: the test suite's key
    ensureSecrets(envFile(cwd));
    const key = secretsIn(envFile(cwd)).POWERDNS_API_KEY;
    expect((await services(installEnv())).stdout).toMatch(new RegExp(`^export POWERDNS_API_KEY=${key}$`, 'm'));
    // The environment still wins, as for the CLI.
    expect((await services({ ...installEnv(), POWERDNS_API_KEY: 'from-the-environment' })).stdout).toMatch(/^export POWERDNS_API_KEY=from-the-environment$/m);
  });
});
