import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestApp, createTestAppWithoutRedis, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  // Test-only routes that read a body, to exercise parsing and validation end to end.
  t = await createTestApp({
    env: { BODY_LIMIT_BYTES: '2048' },
    routes: (app) => {
      app.post(
        '/test/echo',
        { schema: { body: z.strictObject({ name: z.string().min(2), nested: z.strictObject({ count: z.number().int() }).optional() }) } },
        async (request) => ({ received: request.body, rawBytes: request.rawBody?.length ?? 0 }),
      );
      app.get('/test/boom', async () => {
        throw new Error('database password is hunter2');
      });
    },
  });
});
afterAll(async () => {
  await t.close();
});

describe('operations endpoints', () => {
  it('GET /health answers 200 without touching dependencies', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok' });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('GET /ready checks PostgreSQL and Redis', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ready', checks: { postgres: { ok: true }, redis: { ok: true } } });
  });

  it('GET /metrics exposes default metrics and the HTTP duration histogram by route and status', async () => {
    await t.app.inject({ method: 'GET', url: '/health' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('mpanel_process_cpu_user_seconds_total');
    expect(res.body).toMatch(/mpanel_http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} \d+/);
  });

  it('keeps a well-formed incoming request id and sets security headers', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const bad = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\twith tab' } });
    expect(bad.headers['x-request-id']).not.toContain('bad id');
  });
});

describe('errors are RFC 9457 problem documents', () => {
  it('unknown route → 404 problem+json', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/nothing-here?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({
      type: 'urn:mpanel:problem:not-found',
      title: 'Not found',
      status: 404,
      code: 'NOT_FOUND',
      instance: '/api/nothing-here',
    });
    expect(res.json().requestId).toBe(res.headers['x-request-id']);
  });

  const post = (payload: string, contentType = 'application/json') =>
    t.app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': contentType }, payload });

  it('malformed JSON → 400 problem+json', async () => {
    const res = await post('{"name":');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it('invalid fields → 400 with each offending field', async () => {
    const res = await post(JSON.stringify({ name: 'x', nested: { count: 1.5 } }));
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['body/name', 'body/nested/count']);
  });

  it('unknown keys are rejected (no mass assignment)', async () => {
    const res = await post(JSON.stringify({ name: 'ok', isAdmin: true }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ field: 'body' });
    expect(res.json().errors[0].message).toMatch(/isAdmin/);
  });

  it('prototype-pollution keys are refused by the parser', async () => {
    const res = await post('{"name":"ok","__proto__":{"isAdmin":true}}');
    expect(res.statusCode).toBe(400);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('keeps the exact raw bytes for signature checks', async () => {
    const payload = '{ "name" :  "spaced"  }';
    const res = await post(payload);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: { name: 'spaced' }, rawBytes: Buffer.byteLength(payload) });
  });

  it('oversized body → 413, wrong media type → 415', async () => {
    const big = await post(JSON.stringify({ name: 'x'.repeat(5000) }));
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe('PAYLOAD_TOO_LARGE');
    const text = await post('name=x', 'application/x-www-form-urlencoded');
    expect(text.statusCode).toBe(415);
    expect(text.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });

  it('unexpected errors → 500 that leaks nothing', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/test/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
    expect(res.json()).toMatchObject({ code: 'INTERNAL', status: 500 });
  });
});

describe('readiness when a dependency is down', () => {
  it('GET /ready → 503 naming Redis when Redis is unreachable', async () => {
    const down = await createTestAppWithoutRedis();
    try {
      const res = await down.app.inject({ method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      const body = res.json();
      expect(body.status).toBe('unavailable');
      expect(body.checks.postgres.ok).toBe(true);
      expect(body.checks.redis.ok).toBe(false);
      expect(body.checks.redis.error).toBeTruthy();
    } finally {
      await down.close();
    }
  });
});
