import { Counter, type Registry } from 'prom-client';

/**
 * The certificate alerts as metrics: issuances and renewals that gave up (attempts spent or a
 * permanent refusal), by kind; and certificates that came close to expiry still not renewed.
 * Registered on the worker's registry (worker.ts); steps and the renewal task count through the
 * functions below whatever registries the process has.
 */
interface CertificateCounters {
  readonly failures: Counter<'operation' | 'kind'>;
  readonly expiring: Counter;
}

const counters = new Map<Registry, CertificateCounters>();

export function registerCertificateMetrics(registry: Registry): void {
  if (counters.has(registry)) return;
  counters.set(registry, {
    failures: new Counter({
      name: 'mpanel_ssl_certificate_failures_total',
      help: 'Certificates that could not be issued or renewed after every attempt (the site stays on its previous certificate or on HTTP), by operation and error kind',
      labelNames: ['operation', 'kind'],
      registers: [registry],
    }),
    expiring: new Counter({
      name: 'mpanel_ssl_certificate_expiry_alerts_total',
      help: 'Certificates that came within SSL_EXPIRY_ALERT of their expiry still not renewed (certificate.expiring raised)',
      registers: [registry],
    }),
  });
}

export function countCertificateFailure(operation: 'issue' | 'renew', kind: string): void {
  for (const counter of counters.values()) counter.failures.inc({ operation, kind });
}

export function countExpiryAlert(): void {
  for (const counter of counters.values()) counter.expiring.inc();
}
