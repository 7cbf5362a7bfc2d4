import { fileURLToPath } from 'node:url';
import { load, startServer, stop, type Figure } from './lib.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The HTTP shell's own cost: GET /health through mPanel (Fastify, request ids, helmet, metrics
 * hook, request log) against a plain node:http server returning the same JSON.
 */
export async function benchHttpShell(): Promise<Figure[]> {
  const floor = await startServer(process.execPath, ['--import', 'tsx', `${root}/scripts/bench/http-floor.ts`], {
    BENCH_BODY: '{"status":"ok","uptimeSeconds":1}',
  });
  const floorResult = await load(`${floor.url}/`).finally(() => stop(floor.child));

  // At LOG_LEVEL=info, as in production: one log line per request is part of the cost measured.
  const api = await startServer(process.execPath, [`${root}/bin/mpanel.js`, 'api'], { HOST: '127.0.0.1', PORT: '0', API_METRICS_PORT: '0', LOG_LEVEL: 'info' });
  const mpanelResult = await load(`${api.url}/health`).finally(() => stop(api.child));

  const ratio = mpanelResult.requestsPerSecond / floorResult.requestsPerSecond;
  return [
    { section: 'http shell', name: 'node:http floor req/s', value: Math.round(floorResult.requestsPerSecond), unit: 'req/s' },
    { section: 'http shell', name: 'node:http floor p99', value: floorResult.p99Ms, unit: 'ms' },
    { section: 'http shell', name: 'GET /health req/s', value: Math.round(mpanelResult.requestsPerSecond), unit: 'req/s' },
    { section: 'http shell', name: 'GET /health p99', value: mpanelResult.p99Ms, unit: 'ms' },
    { section: 'http shell', name: 'GET /health vs floor', value: ratio, unit: 'x' },
    { section: 'http shell', name: 'non-2xx + errors', value: mpanelResult.non2xx + mpanelResult.errors, unit: 'responses', target: '0', met: mpanelResult.non2xx + mpanelResult.errors === 0 },
  ];
}
