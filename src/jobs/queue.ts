import { Queue, type JobsOptions } from 'bullmq';
import type { Env } from '../config/env.js';
import { createRedis, waitForRedis } from '../config/redis.js';

/** The default queue: steps that do not act on a particular server. */
export const PROVISIONING_QUEUE = 'provisioning';

/** Steps that act on a server go to that server's queue, consumed by the worker running there. */
export function serverQueue(serverId: string): string {
  return `server-${serverId}`;
}

/** What BullMQ carries: just enough to load the job row, which holds everything else. */
export interface QueuedJobData {
  tenantId: string;
}

export const BACKOFF_TYPE = 'exponential-jitter';

/** Delay before retry `attemptsMade`: 1 s, 2 s, 4 s ... capped at 5 min, times a random 0.5–1.5. */
export function backoffDelay(attemptsMade: number, baseMs: number): number {
  const exponential = Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), 300_000);
  return Math.round(exponential * (0.5 + Math.random()));
}

export function jobOptions(jobId: string, maxAttempts: number): JobsOptions {
  return {
    jobId,
    attempts: maxAttempts,
    backoff: { type: BACKOFF_TYPE },
    // The jobs table keeps the history; Redis keeps only what is needed to run.
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 86400 },
  };
}

/**
 * Adds jobs to BullMQ from the API and the sweeper. Its Redis connection fails fast (see
 * config/redis.ts): with Redis down, `add` rejects at once instead of hanging the request, and the
 * job row stays PENDING for the sweeper.
 */
export class JobProducer {
  private readonly connection;
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly env: Pick<Env, 'REDIS_URL' | 'REDIS_KEY_PREFIX'>) {
    this.connection = createRedis(env.REDIS_URL, 'command');
    this.connection.on('error', () => undefined); // reported by the caller's failed add()
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.env.REDIS_KEY_PREFIX });
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  private async assertReady(): Promise<void> {
    // Right after start-up the connection may still be opening: give it a moment, not for ever.
    if (this.connection.status === 'connecting' || this.connection.status === 'connect') {
      await waitForRedis(this.connection, 1_000).catch(() => undefined);
    }
    // BullMQ waits for a connection that has never been ready, whatever enableOfflineQueue says:
    // refuse here instead, so the caller (an HTTP request) is never left hanging.
    if (this.connection.status !== 'ready') throw new Error(`Redis is not reachable (connection ${this.connection.status})`);
  }

  async add(job: { id: string; type: string; queue: string; tenantId: string; maxAttempts: number }): Promise<void> {
    await this.assertReady();
    const data: QueuedJobData = { tenantId: job.tenantId };
    await this.queue(job.queue).add(job.type, data, jobOptions(job.id, job.maxAttempts));
  }

  /** Removes a finished BullMQ job so the same id can be added again (admin retry). */
  async forget(queueName: string, jobId: string): Promise<void> {
    await this.assertReady();
    const existing = await this.queue(queueName).getJob(jobId);
    if (existing) await existing.remove();
  }

  async depth(queueName: string): Promise<number> {
    return this.queue(queueName).count();
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.connection.disconnect();
  }
}
