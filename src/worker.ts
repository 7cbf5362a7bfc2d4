import { Worker } from 'bullmq';
import { loadEnv } from './config/env.js';
import { createRedis } from './config/redis.js';
import { createContainer, type Container } from './container.js';
import { productionJobs, type JobDefinition } from './jobs/registry.js';
import { onShutdown } from './shared/shutdown.js';
import { checkDependencies } from './shared/startup.js';

export interface WorkerOptions {
  /** Only consume these queues (default: every queue in the registry). */
  queues?: readonly string[];
  concurrency?: number;
}

export interface RunningWorkers {
  readonly queues: readonly string[];
  /** Waits for the jobs in progress to finish, then disconnects. */
  close(): Promise<void>;
}

/** Starts one BullMQ worker per queue; each dispatches a job by its name to the registry's handler. */
export function startWorkers(container: Container, registry: readonly JobDefinition[], options: WorkerOptions = {}): RunningWorkers {
  const { env, logger, database } = container;
  const byQueue = new Map<string, Map<string, JobDefinition>>();
  for (const definition of registry) {
    if (options.queues && !options.queues.includes(definition.queue)) continue;
    const handlers = byQueue.get(definition.queue) ?? new Map<string, JobDefinition>();
    handlers.set(definition.type, definition);
    byQueue.set(definition.queue, handlers);
  }

  const connection = createRedis(env.REDIS_URL, 'worker');
  const workers = [...byQueue].map(
    ([queue, handlers]) =>
      new Worker(
        queue,
        async (job) => {
          const definition = handlers.get(job.name);
          if (!definition) throw new Error(`no handler for job type ${job.name} on queue ${queue}`);
          const payload = definition.payload.parse(job.data);
          return definition.handle(payload, { env, logger: logger.child({ job: job.id, type: job.name }), database, attempt: job.attemptsMade + 1 });
        },
        { connection, prefix: env.REDIS_KEY_PREFIX, concurrency: options.concurrency ?? 10 },
      ),
  );
  for (const worker of workers) {
    worker.on('error', (error) => logger.warn({ err: error, queue: worker.name }, 'worker connection error'));
  }

  return {
    queues: [...byQueue.keys()],
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      connection.disconnect();
    },
  };
}

/** Queue entry point: `mpanel worker`. A separate process from the API. */
export async function runWorker(options: WorkerOptions = {}): Promise<void> {
  const env = loadEnv();
  const container = createContainer(env, 'worker');
  const { logger } = container;
  await checkDependencies(container);
  const running = startWorkers(container, productionJobs, options);

  onShutdown(logger, async (signal) => {
    logger.info({ signal }, 'shutting down: finishing the jobs in progress');
    await running.close();
    await container.close();
    logger.info('worker stopped');
  });

  logger.info(
    running.queues.length > 0
      ? `mPanel worker consuming ${running.queues.join(', ')}`
      : 'mPanel worker started; no job types are registered yet, waiting for a shutdown signal',
  );
}
