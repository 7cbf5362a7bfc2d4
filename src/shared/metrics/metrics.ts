import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * One registry per process role (API or worker), not prom-client's global one, so that several
 * apps built in one test process do not clash over metric names.
 */
export interface HttpMetrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
}

export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mpanel_' });
  const httpDuration = new Histogram({
    name: 'mpanel_http_request_duration_seconds',
    help: 'HTTP request duration by route template and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, httpDuration };
}
