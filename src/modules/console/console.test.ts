import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/helpers/app.js';
import { CONSOLE_CSP } from './console.router.js';

/** A stand-in for web/dist (the real build is the browser suite's business): index.html and one hashed asset. */
let dir: string;
let t: TestApp;
const INDEX = '<!doctype html><html lang="en"><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("console");';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mpanel-console-'));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), INDEX);
  await writeFile(path.join(dir, 'assets', 'index-abc123.js'), SCRIPT);
  await writeFile(path.join(dir, 'assets', 'index-abc123.js.br'), brotliCompressSync(SCRIPT));
  t = await createTestApp({ env: { CONSOLE_DIR: dir } });
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the staff console at /', () => {
  it('serves index.html for / and for any client-side route, with its CSP and no-cache', async () => {
    for (const url of ['/', '/subscriptions', '/orders/8b7c6d1e-0000-4000-8000-000000000000?x=1']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toBe(INDEX);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
  });

  it('serves hashed assets for a year, pre-compressed when the browser accepts it', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/assets/index-abc123.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    const plain = await t.app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
    expect(plain.body).toBe(SCRIPT);
  });

  it('leaves the API alone: unknown /api paths are problem+json 404s; probes, the document and the docs answer', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/api/no-such-thing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
    expect(missing.headers['content-security-policy']).toBeUndefined();
    expect((await t.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const document = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(document.statusCode).toBe(200);
    expect(Object.keys(document.json().paths).some((key) => key === '/' || key.includes('*'))).toBe(false);
    expect((await t.app.inject({ method: 'GET', url: '/api/docs/' })).statusCode).toBe(200);
    const missingAsset = await t.app.inject({ method: 'GET', url: '/assets/nope-123.js' });
    expect(missingAsset.statusCode).toBe(404); // not index.html: a stale page asking for an old chunk gets a clear 404
  });
});
