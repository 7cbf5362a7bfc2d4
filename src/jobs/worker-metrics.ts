import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The worker's Prometheus metrics: steps by type and outcome, step durations, queue depth. */
export interface WorkerMetrics {
  readonly registry: Registry;
  recordStep(type: string, outcome: 'succeeded' | 'retried' | 'failed', seconds: number): void;
}

export function createWorkerMetrics(queueDepth: () => Promise<Record<string, number>>): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mpanel_worker_' });
  const steps = new Counter({ name: 'mpanel_jobs_total', help: 'Provisioning step runs by type and outcome', labelNames: ['type', 'outcome'], registers: [registry] });
  const duration = new Histogram({
    name: 'mpanel_job_duration_seconds',
    help: 'Provisioning step run time by type and outcome',
    labelNames: ['type', 'outcome'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  new Gauge({
    name: 'mpanel_queue_depth',
    help: 'Jobs waiting or delayed in each queue',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      for (const [queue, depth] of Object.entries(await queueDepth())) this.set({ queue }, depth);
    },
  });
  return {
    registry,
    recordStep(type, outcome, seconds) {
      steps.inc({ type, outcome });
      duration.observe({ type, outcome }, seconds);
    },
  };
}
