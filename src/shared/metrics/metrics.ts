import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * One registry per process role (API or worker), not prom-client's global one, so that several
 * apps built in one test process do not clash over metric names.
 */
export interface HttpMetrics {
  readonly registry: Registry;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  /** One request's duration, through a cached child per (method, route, status): no label hashing per request. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** Orders from the marketing site and Stripe: created, replayed (same payment reference) or rejected. */
  readonly ordersReceived: Counter<'source' | 'outcome'>;
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
  const ordersReceived = new Counter({
    name: 'mpanel_orders_received_total',
    help: 'Orders received, by source (marketing: created, replayed, rejected; stripe: processed, rejected)',
    labelNames: ['source', 'outcome'],
    registers: [registry],
  });
  const children = new Map<string, ReturnType<typeof httpDuration.labels>>();
  return {
    registry,
    httpDuration,
    ordersReceived,
    observeRequest(method, route, status, seconds) {
      const key = `${method} ${status} ${route}`;
      let child = children.get(key);
      if (!child) {
        child = httpDuration.labels(method, route, String(status));
        children.set(key, child);
      }
      child.observe(seconds);
    },
  };
}
