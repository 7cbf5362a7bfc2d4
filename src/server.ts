import { buildApp, type App } from './app.js';
import { loadEnv } from './config/env.js';
import { checkDependencies, createContainer, type Container } from './container.js';
import { onShutdown } from './shared/shutdown.js';

/**
 * Listens on HOST:PORT; on SIGTERM/SIGINT stops accepting, lets in-flight requests finish,
 * closes the pools and exits 0.
 */
export async function serve(app: App, container: Container): Promise<string> {
  const { env, logger } = container;
  // A keep-alive connection whose request was in flight when the signal came becomes idle only
  // after closing started, and the server would wait for it until the keep-alive timeout: tell
  // those clients to close once their response is sent.
  let closing = false;
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  onShutdown(logger, async (signal) => {
    closing = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    await app.close(); // stops accepting, waits for in-flight requests, closes idle keep-alives
    await container.close();
    logger.info('API stopped');
  });
  const address = await app.listen({ host: env.HOST, port: env.PORT });
  logger.info(`mPanel API listening on ${address} (docs: ${env.APP_URL}/api/docs)`);
  return address;
}

/** HTTP entry point: `mpanel api`. */
export async function startApi(): Promise<void> {
  const container = createContainer(loadEnv(), 'api');
  await checkDependencies(container);
  await serve(await buildApp(container), container);
}
