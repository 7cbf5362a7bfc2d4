import type { Logger } from 'pino';

const FORCE_EXIT_AFTER_MS = 30_000;

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0; a second signal, or `stop` taking longer
 * than 30 s, exits 1 at once so an orchestrator is never left waiting.
 */
export function onShutdown(logger: Logger, stop: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const timer = setTimeout(() => {
      logger.error(`graceful shutdown took over ${FORCE_EXIT_AFTER_MS / 1000} s: exiting`);
      process.exit(1);
    }, FORCE_EXIT_AFTER_MS);
    timer.unref();
    stop(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}
