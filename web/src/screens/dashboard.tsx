import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link } from '@tanstack/react-router';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { messageOf } from '../api/problem';
import { appRoute } from '../routes';
import { dateTime } from '../ui/format';
import { duration, LatencyChart } from '../ui/latency-chart';
import { expiresIn } from './certificates';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

export const dashboardRoute = createRoute({ getParentRoute: () => appRoute, path: '/', component: Dashboard });

type SubscriptionStatus = components['schemas']['Subscription']['status'];
const STATUSES: readonly SubscriptionStatus[] = ['PENDING', 'PROVISIONING', 'ACTIVE', 'PAST_DUE', 'SUSPENDED', 'FAILED', 'TERMINATED'];
/** Counts come from one page of each list: past it the figure reads "200+". */
const COUNT_PAGE = 200;

const countLabel = (page: { items: unknown[]; nextCursor: string | null }): string => `${page.items.length}${page.nextCursor ? '+' : ''}`;

function Dashboard() {
  const startOfDay = new Date();
  startOfDay.setHours(0, 0, 0, 0);
  const orders = useQuery({
    queryKey: ['dashboard', 'orders-today'],
    queryFn: () => must(api.GET('/api/orders', { params: { query: { limit: COUNT_PAGE } } })),
    refetchInterval: 10_000,
  });
  const byStatus = useQuery({
    queryKey: ['dashboard', 'subscriptions-by-status'],
    queryFn: async () =>
      Promise.all(STATUSES.map(async (status) => ({ status, page: await must(api.GET('/api/subscriptions', { params: { query: { status, limit: COUNT_PAGE } } })) }))),
    refetchInterval: 10_000,
  });

  return (
    <>
      <h1>Dashboard</h1>
      <div className="cards">
        <section className="card" aria-labelledby="orders-today">
          <h2 id="orders-today">Orders today</h2>
          <QueryState query={orders} what="orders">
            {(page) => {
              const today = page.items.filter((order) => new Date(order.createdAt) >= startOfDay);
              const more = page.nextCursor !== null && today.length === page.items.length;
              return (
                <p className="figure">
                  {today.length}
                  {more ? '+' : ''}
                </p>
              );
            }}
          </QueryState>
        </section>
        <section className="card wide" aria-labelledby="subs-by-status">
          <h2 id="subs-by-status">Subscriptions by status</h2>
          <QueryState query={byStatus} what="subscriptions">
            {(rows) => (
              <dl className="by-status">
                {rows.map(({ status, page }) => (
                  <div key={status}>
                    <dt>
                      <Link to="/subscriptions" search={{ status }}>
                        {status}
                      </Link>
                    </dt>
                    <dd>{countLabel(page)}</dd>
                  </div>
                ))}
              </dl>
            )}
          </QueryState>
        </section>
      </div>
      <Operations />
      <FailedJobs />
    </>
  );
}

/** The figures GET /api/dashboard gives: order-to-live, certificates expiring, the last billing run. */
function Operations() {
  const figures = useQuery({ queryKey: ['dashboard', 'figures'], queryFn: () => must(api.GET('/api/dashboard')), refetchInterval: 30_000 });
  return (
    <QueryState query={figures} what="order-to-live, certificates and billing figures">
      {({ orderToLive, certificates, lastBillingRun }) => (
        <div className="cards">
          <section className="card wide" aria-labelledby="order-to-live">
            <h2 id="order-to-live">Order to live, last 24 hours</h2>
            {orderToLive.count === 0 ? (
              <Empty>No order went live in the last day.</Empty>
            ) : (
              <>
                <p>
                  <strong>p50 {duration(orderToLive.p50Seconds)}</strong> · p95 {duration(orderToLive.p95Seconds)} · {orderToLive.count} order{orderToLive.count === 1 ? '' : 's'}
                </p>
                <LatencyChart from={orderToLive.from} to={orderToLive.to} hours={orderToLive.hours} />
                <ul className="legend" aria-hidden="true">
                  <li>
                    <span className="swatch p50" />
                    p50
                  </li>
                  <li>
                    <span className="swatch p95" />
                    p95
                  </li>
                </ul>
              </>
            )}
          </section>
          <section className="card wide" aria-labelledby="certs-expiring">
            <h2 id="certs-expiring">Certificates expiring within {certificates.expiringWithinDays} days</h2>
            <p>
              <span className="figure">{certificates.expiringCount}</span>{' '}
              {certificates.failedCount > 0 && (
                <Link to="/certificates" search={{ status: 'FAILED' }}>
                  {certificates.failedCount} failed
                </Link>
              )}
            </p>
            {certificates.expiring.length > 0 && (
              <ul>
                {certificates.expiring.map((certificate) => (
                  <li key={certificate.id}>
                    {certificate.commonName}: {expiresIn(certificate.notAfter)}
                    {certificate.lastError && <span className="error"> — {certificate.lastError}</span>}
                  </li>
                ))}
              </ul>
            )}
            <p>
              <Link to="/certificates">All certificates</Link>
            </p>
          </section>
          <section className="card" aria-labelledby="last-billing-run">
            <h2 id="last-billing-run">Last billing run</h2>
            {lastBillingRun === null ? (
              <Empty>No billing run yet.</Empty>
            ) : (
              <>
                <p>
                  <Status value={lastBillingRun.status} /> {dateTime(lastBillingRun.finishedAt ?? lastBillingRun.startedAt)} ({lastBillingRun.trigger})
                </p>
                {lastBillingRun.error && <p className="error">{lastBillingRun.error}</p>}
                <p>
                  {Object.entries(lastBillingRun.counts)
                    .filter(([, n]) => n > 0)
                    .map(([kind, n]) => `${kind} ${n}`)
                    .join(' · ') || 'Nothing to do.'}
                </p>
              </>
            )}
          </section>
        </div>
      )}
    </QueryState>
  );
}

export function FailedJobs() {
  const queryClient = useQueryClient();
  const failed = useQuery({
    queryKey: ['jobs', { status: 'FAILED' }],
    queryFn: () => must(api.GET('/api/jobs', { params: { query: { status: 'FAILED', limit: 20 } } })),
    refetchInterval: 5_000,
  });
  const retry = useMutation({
    mutationFn: (id: string) => must(api.POST('/api/jobs/{id}/retry', { params: { path: { id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['jobs'] }),
  });
  return (
    <section aria-labelledby="failed-jobs">
      <h2 id="failed-jobs">Failed jobs</h2>
      {retry.error && (
        <p className="error" role="alert">
          {messageOf(retry.error)}
        </p>
      )}
      <QueryState query={failed} what="failed jobs">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No failed job.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Step</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Error</th>
                  <th scope="col">Finished</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((job) => (
                  <tr key={job.id}>
                    <td>
                      {job.orderId ? (
                        <Link to="/orders/$id" params={{ id: job.orderId }}>
                          {job.type}
                        </Link>
                      ) : (
                        job.type
                      )}
                    </td>
                    <td>
                      <Status value={job.status} />
                    </td>
                    <td>
                      {job.attempts}/{job.maxAttempts}
                    </td>
                    <td className="wrap">{job.lastError ?? '—'}</td>
                    <td>{dateTime(job.finishedAt)}</td>
                    <td>
                      <button type="button" disabled={retry.isPending && retry.variables === job.id} onClick={() => retry.mutate(job.id)} aria-label={`Retry ${job.type} ${job.id}`}>
                        Retry
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
    </section>
  );
}
