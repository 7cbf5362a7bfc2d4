import type { BillingRunDeps, BillingRunReport, PlannedAction } from './billing-run.js';
import { runBilling } from './billing-run.js';

/** Runs below this many subscriptions get no progress output: over before it would help. */
const PROGRESS_MIN = 20;
const BAR_WIDTH = 30;

/** A bar redrawn in place on a terminal; a line at every tenth otherwise (logs, CI). */
export function billingProgress(stream: { isTTY?: boolean; write(text: string): unknown }): (done: number, total: number) => void {
  let lastTenth = -1;
  return (done, total) => {
    if (total < PROGRESS_MIN) return;
    if (stream.isTTY) {
      const filled = Math.round((done / total) * BAR_WIDTH);
      stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${done}/${total} subscriptions${done === total ? '\n' : ''}`);
      return;
    }
    const tenth = Math.floor((done * 10) / total);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      stream.write(`billing run: ${done}/${total} subscriptions\n`);
    }
  };
}

export function formatAction(action: PlannedAction): string {
  const outcome = action.outcome === 'DONE' ? '' : ` [${action.outcome.toLowerCase()}]`;
  const detail = action.detail ? `: ${action.detail}` : '';
  return `${action.at.toISOString()}  ${action.subscriptionId}  ${action.action}${outcome} (${action.rule})${detail}`;
}

export function formatSummary(report: BillingRunReport): string {
  const verb = report.dryRun ? 'would do' : 'did';
  const counts = Object.entries(report.counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, count]) => `${name}=${count}`)
    .join(' ');
  return `billing run${report.dryRun ? ' (dry run)' : ''} as of ${report.asOf.toISOString()}: ${report.subscriptions} subscription(s) looked at, ${verb} ${report.actions.length} action(s)${counts ? ` [${counts}]` : ''}${report.errors > 0 ? `, ${report.errors} failed (see the log; the next run retries them)` : ''}`;
}

/**
 * `mpanel billing run`: each action on `out` (what it did, or with --dry-run what it would do),
 * a summary, progress on `progress`. Returns the exit code: 1 when a subscription failed.
 */
export async function runBillingCommand(
  deps: BillingRunDeps,
  options: { asOf: Date; tenantId?: string | undefined; dryRun: boolean },
  io: { out: (line: string) => void; progress: { isTTY?: boolean; write(text: string): unknown } },
): Promise<number> {
  const report = await runBilling(deps, { asOf: options.asOf, tenantId: options.tenantId, dryRun: options.dryRun, trigger: 'cli', onProgress: billingProgress(io.progress) });
  for (const action of report.actions) io.out(formatAction(action));
  io.out(formatSummary(report));
  return report.errors > 0 ? 1 : 0;
}
