import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS, MAX_JSON_DEPTH } from '../src/app.js';
import { createTestApp, createTestAppWithoutRedis, type TestApp } from './helpers/app.js';
import { openRaw, rawRequest, type RawResponse } from './helpers/raw-http.js';

let t: TestApp;
let port: number;
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
  // Real sockets too: Node's own refusals (431, 408, not HTTP) never reach app.inject().
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  port = (t.app.server.address() as AddressInfo).port;
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

  it('the metrics server exposes default metrics and the HTTP duration histogram by route and status', async () => {
    await t.app.inject({ method: 'GET', url: '/health' });
    const text = await t.scrapeMetrics(); // checks 200 and text/plain
    expect(text).toContain('mpanel_process_cpu_user_seconds_total');
    expect(text).toMatch(/mpanel_http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} \d+/);
  });

  it('GET /metrics is not served on the API port (404 problem), whoever asks', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
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

describe('JSON nesting depth', () => {
  const nested = (depth: number) => `{"name":"ok","nested":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;

  it(`a body nested deeper than ${MAX_JSON_DEPTH} levels is refused before it is parsed: 400 naming the body`, async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: nested(MAX_JSON_DEPTH + 1) });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({ code: 'BAD_REQUEST', errors: [{ field: 'body', message: `nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep` }] });
  });

  it(`${MAX_JSON_DEPTH} levels are parsed (and then validated), brackets inside strings do not count`, async () => {
    const res = await t.app.inject({ method: 'POST', url: '/test/echo', headers: { 'content-type': 'application/json' }, payload: nested(MAX_JSON_DEPTH) });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED'); // reached the schema: nested must be an object
    const inString = await t.app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: `[{\\"${'['.repeat(100)}` }),
    });
    expect(inString.statusCode).toBe(200);
  });
});

describe('framework refusals over a real socket are problem+json', () => {
  const expectProblem = (res: RawResponse, status: number, code: string) => {
    expect(res.status, res.body).toBe(status);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(res.body)).toMatchObject({ type: expect.stringMatching(/^urn:mpanel:problem:/), status, code, title: expect.any(String), detail: expect.any(String) });
  };
  const post = (body: string, headers: string) => `POST /test/echo HTTP/1.1\r\nhost: x\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('431: headers over the limit (node:http refuses them itself)', async () => {
    const res = await rawRequest(port, `GET /health HTTP/1.1\r\nhost: x\r\nx-padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    expectProblem(res, 431, 'HEADERS_TOO_LARGE');
    expect(JSON.parse(res.body).requestId).toBe(res.headers['x-request-id']);
  });

  it('400: bytes that are not HTTP', async () => {
    expectProblem(await rawRequest(port, 'HELLO THERE\r\n\r\n'), 400, 'BAD_REQUEST');
    expectProblem(await rawRequest(port, 'GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n'), 400, 'BAD_REQUEST');
  });

  it('400 bad JSON, 413, 415, 404 route, 400 malformed URL', async () => {
    expectProblem(await rawRequest(port, post('{"name":', 'content-type: application/json\r\n')), 400, 'BAD_REQUEST');
    expectProblem(await rawRequest(port, post(JSON.stringify({ name: 'x'.repeat(5000) }), 'content-type: application/json\r\n')), 413, 'PAYLOAD_TOO_LARGE');
    expectProblem(await rawRequest(port, post('name=x', 'content-type: application/x-www-form-urlencoded\r\n')), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await rawRequest(port, 'GET /api/nothing-here HTTP/1.1\r\nhost: x\r\n\r\n'), 404, 'NOT_FOUND');
    expectProblem(await rawRequest(port, 'GET /api/products/%E0%A4%A HTTP/1.1\r\nhost: x\r\n\r\n'), 400, 'BAD_REQUEST');
  });
});

describe('slow clients', () => {
  it('the server gives headers 5 s and a whole request 15 s, checked every second', () => {
    expect(t.app.server.headersTimeout).toBe(HTTP_HEADERS_TIMEOUT_MS);
    expect(t.app.server.requestTimeout).toBe(HTTP_REQUEST_TIMEOUT_MS);
    expect([HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS]).toEqual([5_000, 15_000]);
  });

  it('20 sockets trickling their headers are answered 408 problem and closed within the header timeout, not left open', { timeout: 20_000 }, async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openRaw(port)));
    // One header byte every 500 ms: never idle, never done.
    const trickle = setInterval(() => {
      for (const connection of sockets) if (!connection.socket.destroyed) connection.write('a');
    }, 500);
    try {
      for (const connection of sockets) connection.write('GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ');
      const closedAfter = await Promise.all(sockets.map((connection) => connection.closed));
      // The header timeout, plus up to one check interval and some scheduling slack on a busy machine.
      for (const ms of closedAfter) expect(ms).toBeLessThan(HTTP_HEADERS_TIMEOUT_MS + 2_500);
      for (const connection of sockets) {
        const res = await connection.response(0);
        expect(res.status).toBe(408);
        expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
        expect(JSON.parse(res.body)).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
      }
    } finally {
      clearInterval(trickle);
      for (const connection of sockets) connection.socket.destroy();
    }
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
