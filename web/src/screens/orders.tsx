import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { messageOf } from '../api/problem';
import { appRoute } from '../routes';
import { defined, str } from '../search';
import { dateTime, money } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';
import { SubscriptionActions, SubscriptionSummary } from './subscriptions';

type JobWithHistory = components['schemas']['JobWithHistory'];

export const ordersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/orders',
  validateSearch: (search: Record<string, unknown>): { cursor?: string } => defined({ cursor: str(search.cursor) }),
  component: Orders,
});

export const orderRoute = createRoute({ getParentRoute: () => appRoute, path: '/orders/$id', component: OrderTimeline });

function Orders() {
  const search = ordersRoute.useSearch();
  const navigate = useNavigate({ from: ordersRoute.fullPath });
  const list = useQuery({ queryKey: ['orders', search], queryFn: () => must(api.GET('/api/orders', { params: { query: { ...search, limit: 25 } } })) });
  return (
    <>
      <h1>Orders</h1>
      <QueryState query={list} what="orders">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No order yet.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Domain</th>
                    <th scope="col">Status</th>
                    <th scope="col">Amount</th>
                    <th scope="col">Payment</th>
                    <th scope="col">Received</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((order) => (
                    <tr key={order.id}>
                      <td>
                        <Link to="/orders/$id" params={{ id: order.id }}>
                          {order.domainName ?? order.id}
                        </Link>
                      </td>
                      <td>
                        <Status value={order.status} />
                      </td>
                      <td>{money(order.amount, order.currency)}</td>
                      <td>
                        {order.paymentProvider} {order.paymentReference}
                      </td>
                      <td>{dateTime(order.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager cursor={search.cursor} nextCursor={page.nextCursor} go={(cursor) => void navigate({ search: defined({ cursor }) })} />
            </>
          )
        }
      </QueryState>
    </>
  );
}

/** The order's provisioning as a live timeline: polled every second while the page is open. */
function OrderTimeline() {
  const { id } = orderRoute.useParams();
  const order = useQuery({ queryKey: ['order', id], queryFn: () => must(api.GET('/api/orders/{id}', { params: { path: { id } } })), refetchInterval: 1_000 });
  const subscriptionId = order.data?.subscription?.id;
  const subscription = useQuery({
    queryKey: ['subscription', subscriptionId],
    queryFn: () => must(api.GET('/api/subscriptions/{id}', { params: { path: { id: subscriptionId ?? '' } } })),
    enabled: subscriptionId !== undefined,
    refetchInterval: 1_000,
  });
  return (
    <QueryState query={order} what="the order">
      {(detail) => (
        <>
          <h1>Order {detail.domainName ?? detail.id}</h1>
          <p>
            <Status value={detail.status} /> · {money(detail.amount, detail.currency)} · {detail.customer.name} ({detail.customer.email}) · received {dateTime(detail.createdAt)}
          </p>
          {subscription.data ? (
            <>
              <SubscriptionSummary subscription={subscription.data} />
              <Timeline jobs={subscription.data.jobs} />
              <SubscriptionActions subscription={subscription.data} />
            </>
          ) : subscriptionId ? (
            <QueryState query={subscription} what="the provisioning steps">
              {() => null}
            </QueryState>
          ) : (
            <Empty>This order has no subscription.</Empty>
          )}
        </>
      )}
    </QueryState>
  );
}

function Timeline({ jobs }: { jobs: JobWithHistory[] }) {
  const queryClient = useQueryClient();
  const retry = useMutation({
    mutationFn: (id: string) => must(api.POST('/api/jobs/{id}/retry', { params: { path: { id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['subscription'] }),
  });
  return (
    <section aria-labelledby="timeline">
      <h2 id="timeline">Provisioning steps</h2>
      {retry.error && (
        <p className="error" role="alert">
          {messageOf(retry.error)}
        </p>
      )}
      {jobs.length === 0 ? (
        <Empty>No step planned.</Empty>
      ) : (
        <ol className="timeline">
          {jobs.map((job) => (
            <li key={job.id} className={`step step-${job.status.toLowerCase()}`}>
              <h3>
                {job.type} <Status value={job.status} />
              </h3>
              <p>
                Attempt {job.attempts} of {job.maxAttempts}
                {job.finishedAt ? ` · finished ${dateTime(job.finishedAt)}` : job.startedAt ? ` · started ${dateTime(job.startedAt)}` : ''}
              </p>
              {job.lastError && <p className="error">{job.lastError}</p>}
              {job.status === 'FAILED' && (
                <button type="button" onClick={() => retry.mutate(job.id)} disabled={retry.isPending}>
                  Retry {job.type}
                </button>
              )}
              <details>
                <summary>History ({job.history.length})</summary>
                <ul>
                  {job.history.map((entry, index) => (
                    <li key={index}>
                      {dateTime(entry.at)} {entry.status}
                      {entry.attempt !== undefined ? ` (attempt ${entry.attempt})` : ''}
                      {entry.error ? ` — ${entry.error}` : ''}
                    </li>
                  ))}
                </ul>
              </details>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
