import { Counter, type Registry } from 'prom-client';

/**
 * The certificate alert as a metric: issuances and renewals that gave up (attempts spent or a
 * permanent refusal), by kind. Registered on the worker's registry (worker.ts); a step counts
 * through countCertificateFailure whatever registries the process has.
 */
const counters = new Map<Registry, Counter<'operation' | 'kind'>>();

export function registerCertificateMetrics(registry: Registry): void {
  if (counters.has(registry)) return;
  counters.set(
    registry,
    new Counter({
      name: 'mpanel_ssl_certificate_failures_total',
      help: 'Certificates that could not be issued or renewed after every attempt (the site stays on its previous certificate or on HTTP), by operation and error kind',
      labelNames: ['operation', 'kind'],
      registers: [registry],
    }),
  );
}

export function countCertificateFailure(operation: 'issue' | 'renew', kind: string): void {
  for (const counter of counters.values()) counter.inc({ operation, kind });
}
