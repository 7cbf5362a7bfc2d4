import { buildApp, type App } from '../../src/app.js';
import { loadEnv, type Env } from '../../src/config/env.js';
import { createContainer, type Container } from '../../src/container.js';
import { createRedis } from '../../src/config/redis.js';
import { serveMetrics } from '../../src/shared/metrics/serve-metrics.js';
import { createHttpMetrics, type HttpMetrics } from '../../src/shared/metrics/metrics.js';

export interface TestApp {
  app: App;
  container: Container;
  env: Env;
  metrics: HttpMetrics;
  /** GET /metrics as Prometheus scrapes it: over HTTP, from a metrics server apart from the app (as server.ts runs it). */
  scrapeMetrics(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The app wired to this test file's database and Redis prefix (see setup-file.ts), for
 * `app.inject()`; call `app.listen({ port: 0, host: '127.0.0.1' })` where real HTTP is needed.
 */
export async function createTestApp(
  options: { env?: Record<string, string>; container?: (env: Env) => Container; routes?: (app: App) => void } = {},
): Promise<TestApp> {
  const env = loadEnv({ ...process.env, ...options.env });
  const container = options.container?.(env) ?? createContainer(env, 'api');
  const metrics = createHttpMetrics();
  const app = await buildApp({ ...container, metrics });
  options.routes?.(app);
  await app.ready();
  let metricsServer: ReturnType<typeof serveMetrics> | undefined;
  return {
    app,
    container,
    env,
    metrics,
    async scrapeMetrics() {
      metricsServer ??= serveMetrics(metrics, '127.0.0.1', 0);
      const response = await fetch((await metricsServer).url);
      if (response.status !== 200 || !response.headers.get('content-type')?.startsWith('text/plain')) {
        throw new Error(`GET /metrics answered ${response.status} ${response.headers.get('content-type')}`);
      }
      return response.text();
    },
    async close() {
      await app.close();
      await (await metricsServer)?.close();
      await container.close();
    },
  };
}

/**
 * The app as it runs while Redis is unreachable: its request-path connection points at a port
 * nothing listens on (the fail-fast connection rejects at once). Everything else is real.
 */
export function createTestAppWithoutRedis(): Promise<TestApp> {
  return createTestApp({
    container: (env) => {
      const real = createContainer(env, 'api');
      const redis = createRedis('redis://127.0.0.1:1', 'command', { retryStrategy: () => null });
      redis.on('error', () => undefined);
      return {
        ...real,
        redis,
        close: async () => {
          redis.disconnect();
          await real.close();
        },
      };
    },
  });
}
