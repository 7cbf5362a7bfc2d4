import { fileURLToPath } from 'node:url';
import { load, loadFloor, responseHeaders, rssMb, startServer, stop, type Figure, type LoadResult } from './lib.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The HTTP shell's own cost: GET /health through mPanel (Fastify, request ids, security headers,
 * metrics hook, request log) against a plain node:http server returning the same JSON. Then the
 * same API run from the sources through tsx, as the tests do, for the memory the build saves.
 */
export async function benchHttpShell(): Promise<Figure[]> {
  const body = '{"status":"ok","uptimeSeconds":1}';
  const floorResult = await loadFloor(body);

  const compiled = await loadHealth('dist');
  const fromSources = await loadHealth('sources');
  const mpanelResult = compiled.result;
  const headedResult = await loadFloor(body, compiled.headers);
  const headedRatio = mpanelResult.requestsPerSecond / headedResult.requestsPerSecond;

  const ratio = mpanelResult.requestsPerSecond / floorResult.requestsPerSecond;
  return [
    { section: 'http shell', name: 'node:http floor req/s', value: Math.round(floorResult.requestsPerSecond), unit: 'req/s' },
    { section: 'http shell', name: 'node:http floor p99', value: floorResult.p99Ms, unit: 'ms' },
    { section: 'http shell', name: 'GET /health req/s', value: Math.round(mpanelResult.requestsPerSecond), unit: 'req/s' },
    { section: 'http shell', name: 'GET /health p99', value: mpanelResult.p99Ms, unit: 'ms' },
    { section: 'http shell', name: 'GET /health vs floor', value: ratio, unit: 'x', target: '>= 0.8x', met: ratio >= 0.8 },
    { section: 'http shell', name: `node:http floor with mPanel's ${Object.keys(compiled.headers).length} response headers req/s`, value: Math.round(headedResult.requestsPerSecond), unit: 'req/s' },
    { section: 'http shell', name: 'GET /health vs the floor with the same headers', value: headedRatio, unit: 'x' },
    { section: 'http shell', name: 'non-2xx + errors', value: mpanelResult.non2xx + mpanelResult.errors, unit: 'responses', target: '0', met: mpanelResult.non2xx + mpanelResult.errors === 0 },
    { section: 'http shell', name: 'API RSS listening, dist/ (npm run build)', value: compiled.rssListening, unit: 'MB' },
    { section: 'http shell', name: 'API RSS listening, sources through tsx', value: fromSources.rssListening, unit: 'MB' },
    { section: 'http shell', name: 'API RSS after the /health load, dist/', value: compiled.rssAfter, unit: 'MB' },
    { section: 'http shell', name: 'API RSS after the /health load, tsx', value: fromSources.rssAfter, unit: 'MB' },
    { section: 'http shell', name: 'GET /health req/s, tsx (same code)', value: Math.round(fromSources.result.requestsPerSecond), unit: 'req/s' },
  ];
}

/** Loads GET /health on `mpanel api` run from dist/ or from the sources (MPANEL_RUN); its RSS before and after. */
async function loadHealth(run: 'dist' | 'sources'): Promise<{ result: LoadResult; rssListening: number; rssAfter: number; headers: Record<string, string> }> {
  // At LOG_LEVEL=info, as in production: one log line per request is part of the cost measured.
  const api = await startServer(process.execPath, [`${root}/bin/mpanel.js`, 'api'], { MPANEL_RUN: run, HOST: '127.0.0.1', PORT: '0', API_METRICS_PORT: '0', LOG_LEVEL: 'info' });
  try {
    const pid = api.child.pid ?? 0;
    const rssListening = await rssMb(pid);
    const headers = await responseHeaders(`${api.url}/health`);
    const result = await load(`${api.url}/health`);
    return { result, rssListening, rssAfter: await rssMb(pid), headers };
  } finally {
    await stop(api.child);
  }
}
