import { buildApp, type App } from './app.js';
import { loadEnv } from './config/env.js';
import { checkDependencies, createContainer, type Container } from './container.js';
import { createHttpMetrics, type HttpMetrics } from './shared/metrics/metrics.js';
import { serveMetrics } from './shared/metrics/serve-metrics.js';
import { onShutdown } from './shared/shutdown.js';
import { StartupError } from './shared/startup.js';

/**
 * Listens on HOST:PORT, and serves the Prometheus metrics on API_METRICS_HOST:API_METRICS_PORT
 * (loopback by default: a port of their own, so that they are never public with the API); on
 * SIGTERM/SIGINT stops accepting, lets in-flight requests finish, closes the pools and exits 0.
 */
export async function serve(app: App, container: Container, metrics: HttpMetrics): Promise<string> {
  const { env, logger } = container;
  // A keep-alive connection whose request was in flight when the signal came becomes idle only
  // after closing started, and the server would wait for it until the keep-alive timeout: tell
  // those clients to close once their response is sent.
  let closing = false;
  // Runs on every response: a callback hook, nothing to await.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  const address = await app.listen({ host: env.HOST, port: env.PORT });
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>>;
  try {
    metricsServer = await serveMetrics(metrics, env.API_METRICS_HOST, env.API_METRICS_PORT);
  } catch (error) {
    await app.close();
    const why = error instanceof Error ? error.message : String(error);
    throw new StartupError(`cannot serve metrics on API_METRICS_HOST:API_METRICS_PORT (${env.API_METRICS_HOST}:${env.API_METRICS_PORT}): ${why}`);
  }
  onShutdown(logger, async (signal) => {
    closing = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    await app.close(); // stops accepting, waits for in-flight requests, closes idle keep-alives
    await metricsServer.close();
    await container.close();
    logger.info('API stopped');
  });
  logger.info(`mPanel API listening on ${address} (docs: ${env.APP_URL}/api/docs); metrics on ${metricsServer.url}`);
  return address;
}

/** HTTP entry point: `mpanel api`. */
export async function startApi(): Promise<void> {
  const container = createContainer(loadEnv(), 'api');
  await checkDependencies(container);
  const metrics = createHttpMetrics();
  await serve(await buildApp({ ...container, metrics }), container, metrics);
}
