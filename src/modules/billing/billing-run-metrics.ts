import { Gauge, type Registry } from 'prom-client';
import type { Database } from '../../config/database.js';
import { lastBillingRun } from './billing-run.js';

/**
 * The billing run on the worker's /metrics: when the last run finished, whether it succeeded, and
 * what it did. Read from billing_runs at scrape time (one small query per gauge), so every worker (and a CLI run) reports the
 * same last run. Alert on `time() - mpanel_billing_run_last_finished_seconds > 2 * BILLING_RUN_INTERVAL_MS / 1000`.
 */
const registered = new WeakSet<Registry>();

export function registerBillingRunMetrics(registry: Registry, db: Database): void {
  if (registered.has(registry)) return;
  registered.add(registry);
  let last: Awaited<ReturnType<typeof lastBillingRun>> | null = null;
  const refresh = async () => {
    last = (await lastBillingRun(db).catch(() => undefined)) ?? null;
  };
  new Gauge({
    name: 'mpanel_billing_run_last_finished_seconds',
    help: 'Unix time the last billing run finished (0: never)',
    registers: [registry],
    async collect() {
      await refresh();
      this.set(last?.finishedAt ? last.finishedAt.getTime() / 1000 : 0);
    },
  });
  new Gauge({
    name: 'mpanel_billing_run_last_success',
    help: '1 when the last billing run succeeded, 0 when it failed or never ran',
    registers: [registry],
    async collect() {
      await refresh();
      this.set(last?.status === 'SUCCEEDED' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'mpanel_billing_run_last_actions',
    help: 'What the last billing run did, by action (renewals issued, reminders, suspensions...)',
    labelNames: ['action'],
    registers: [registry],
    async collect() {
      await refresh();
      this.reset();
      for (const [action, count] of Object.entries(last?.counts ?? {})) this.set({ action }, count);
    },
  });
}
