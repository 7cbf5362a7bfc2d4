import { and, asc, count, desc, eq, isNull, lte, ne, or, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { billingRuns, sslCertificates } from '../../db/schema/index.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import type { AuthContext } from '../auth/auth-context.js';
import type { Dashboard, DashboardQuery } from './dashboard.types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const EXPIRING_SHOWN = 10;

interface PercentileRow extends Record<string, unknown> {
  hour: Date | string | null;
  count: number | string;
  p50: number | string | null;
  p95: number | string | null;
}

const num = (value: number | string | null): number | null => (value === null ? null : Math.round(Number(value) * 10) / 10);

/**
 * Order-to-live over [from, to): seconds from an order's creation to its fulfilment (the moment
 * its subscription went live, orders/order-fulfilment.ts), per hour and over the whole window.
 * One query; GROUPING SETS gives the hourly rows and the total (hour null) together.
 */
async function orderToLive(tx: Tx, tenantId: string, from: Date, to: Date): Promise<Dashboard['orderToLive']> {
  const result = await tx.execute<PercentileRow>(sql`
    select date_trunc('hour', fulfilled_at) as hour,
           count(*) as count,
           percentile_cont(0.5) within group (order by extract(epoch from fulfilled_at - created_at)) as p50,
           percentile_cont(0.95) within group (order by extract(epoch from fulfilled_at - created_at)) as p95
      from orders
     where tenant_id = ${tenantId} and fulfilled_at >= ${from.toISOString()} and fulfilled_at < ${to.toISOString()}
     group by grouping sets ((date_trunc('hour', fulfilled_at)), ())
     order by hour asc nulls last`);
  const rows = result.rows;
  const total = rows.find((row) => row.hour === null);
  const hours = rows
    .filter((row) => row.hour !== null)
    .map((row) => ({ hour: new Date(row.hour as Date | string), count: Number(row.count), p50Seconds: num(row.p50), p95Seconds: num(row.p95) }));
  return { from, to, count: total ? Number(total.count) : 0, p50Seconds: total ? num(total.p50) : null, p95Seconds: total ? num(total.p95) : null, hours };
}

async function certificates(tx: Tx, tenantId: string, days: number, now: Date): Promise<Dashboard['certificates']> {
  const expiringWhere = and(eq(sslCertificates.tenantId, tenantId), eq(sslCertificates.status, 'ISSUED'), lte(sslCertificates.notAfter, new Date(now.getTime() + days * DAY_MS)));
  const [expiring] = await tx.select({ n: count() }).from(sslCertificates).where(expiringWhere);
  const [failed] = await tx
    .select({ n: count() })
    .from(sslCertificates)
    .where(and(eq(sslCertificates.tenantId, tenantId), eq(sslCertificates.status, 'FAILED')));
  const soonest = await tx
    .select({
      id: sslCertificates.id,
      commonName: sslCertificates.commonName,
      status: sslCertificates.status,
      notAfter: sslCertificates.notAfter,
      renewAfter: sslCertificates.renewAfter,
      lastError: sslCertificates.lastError,
    })
    .from(sslCertificates)
    .where(expiringWhere)
    .orderBy(asc(sslCertificates.notAfter), asc(sslCertificates.id))
    .limit(EXPIRING_SHOWN);
  return { expiringWithinDays: days, expiringCount: expiring?.n ?? 0, failedCount: failed?.n ?? 0, expiring: soonest };
}

/**
 * billing_runs is not tenant data (counts only, no RLS): a run over every tenant (tenant_id null)
 * or a CLI run for this tenant is shown; another tenant's CLI run is not.
 */
async function lastBillingRun(tx: Tx, tenantId: string): Promise<Dashboard['lastBillingRun']> {
  const [run] = await tx
    .select()
    .from(billingRuns)
    .where(and(ne(billingRuns.status, 'RUNNING'), eq(billingRuns.dryRun, false), or(isNull(billingRuns.tenantId), eq(billingRuns.tenantId, tenantId))))
    .orderBy(desc(billingRuns.startedAt))
    .limit(1);
  if (!run) return null;
  return {
    id: run.id,
    trigger: run.trigger,
    status: run.status === 'FAILED' ? 'FAILED' : 'SUCCEEDED',
    asOf: run.asOf,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    counts: run.counts,
    error: run.error,
  };
}

/** GET /api/dashboard: the figures the staff console's dashboard shows that no list gives. */
export async function getDashboard(db: Database, auth: AuthContext, query: DashboardQuery, now = new Date()): Promise<Dashboard> {
  const tenantId = auth.tenantId;
  return withTenant(db, tenantId, async (tx) => ({
    orderToLive: await orderToLive(tx, tenantId, new Date(now.getTime() - DAY_MS), now),
    certificates: await certificates(tx, tenantId, query.expiringWithinDays, now),
    lastBillingRun: await lastBillingRun(tx, tenantId),
  }));
}
