import { afterEach, expect, it } from 'vitest';
import { spawnTs, type Spawned } from './helpers/process.js';

let api: Spawned | undefined;
afterEach(() => {
  api?.child.kill('SIGKILL');
});

// The server is a child process: its start alone takes seconds on a loaded machine.
it('SIGTERM: stops accepting, finishes the in-flight request, exits 0', { timeout: 60_000 }, async () => {
  api = spawnTs('test/fixtures/slow-api.ts', [], { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' });
  const [, url] = await api.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 30_000);

  const inFlight = fetch(`${url}/test/slow`);
  await new Promise((resolve) => setTimeout(resolve, 300)); // the request is now being handled
  api.child.kill('SIGTERM');
  await api.waitFor(/shutting down/);

  const response = await inFlight;
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ finished: true });

  // Once the in-flight request is done the process exits cleanly and nothing listens any more.
  const { code } = await api.exited;
  expect(code).toBe(0);
  await expect(fetch(`${url}/health`)).rejects.toThrow();
});
