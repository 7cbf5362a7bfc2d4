import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useState } from 'react';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { appRoute } from '../routes';
import { defined, str } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { StatusFilter } from '../ui/form';
import { dateTime, money, shortId } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

type Subscription = components['schemas']['SubscriptionDetail'];
type SubscriptionStatus = Subscription['status'];
const STATUSES: readonly SubscriptionStatus[] = ['PENDING', 'PROVISIONING', 'ACTIVE', 'PAST_DUE', 'SUSPENDED', 'FAILED', 'TERMINATED'];
const isStatus = (value: unknown): value is SubscriptionStatus => STATUSES.some((status) => status === value);

export const subscriptionsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/subscriptions',
  validateSearch: (search: Record<string, unknown>): { status?: SubscriptionStatus; cursor?: string } =>
    defined({ status: isStatus(search.status) ? search.status : undefined, cursor: str(search.cursor) }),
  component: Subscriptions,
});

export const subscriptionRoute = createRoute({ getParentRoute: () => appRoute, path: '/subscriptions/$id', component: SubscriptionScreen });

/** "suspended by alice@…: unpaid invoice" — the last transition, for people. */
export function reasonOf(subscription: Pick<Subscription, 'statusReason'>): string {
  const reason = subscription.statusReason;
  if (!reason) return '—';
  return `${reason.event}: ${reason.reason}${reason.jobType ? ` (${reason.jobType})` : ''}`;
}

function Subscriptions() {
  const search = subscriptionsRoute.useSearch();
  const navigate = useNavigate({ from: subscriptionsRoute.fullPath });
  const list = useQuery({
    queryKey: ['subscriptions', search],
    queryFn: () => must(api.GET('/api/subscriptions', { params: { query: { ...search, limit: 25 } } })),
  });
  return (
    <>
      <h1>Subscriptions</h1>
      <StatusFilter statuses={STATUSES} value={search.status} onChange={(status) => void navigate({ search: defined({ status }) })} />
      <QueryState query={list} what="subscriptions">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No subscription{search.status ? ` is ${search.status}` : ' yet'}.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Subscription</th>
                    <th scope="col">Status</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Since</th>
                    <th scope="col">Period ends</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((subscription) => (
                    <tr key={subscription.id}>
                      <td>
                        <Link to="/subscriptions/$id" params={{ id: subscription.id }}>
                          {shortId(subscription.id)}
                        </Link>
                      </td>
                      <td>
                        <Status value={subscription.status} />
                      </td>
                      <td className="wrap">{reasonOf(subscription)}</td>
                      <td>{dateTime(subscription.statusReason?.at ?? subscription.createdAt)}</td>
                      <td>{dateTime(subscription.currentPeriodEnd)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager cursor={search.cursor} nextCursor={page.nextCursor} go={(cursor) => void navigate({ search: defined({ ...search, cursor }) })} />
            </>
          )
        }
      </QueryState>
    </>
  );
}

function SubscriptionScreen() {
  const { id } = subscriptionRoute.useParams();
  const detail = useQuery({
    queryKey: ['subscription', id],
    queryFn: () => must(api.GET('/api/subscriptions/{id}', { params: { path: { id } } })),
    refetchInterval: 2_000,
  });
  return (
    <QueryState query={detail} what="the subscription">
      {(subscription) => (
        <>
          <h1>{subscription.domains[0]?.name ?? 'Subscription'}</h1>
          <SubscriptionSummary subscription={subscription} />
          <SubscriptionActions subscription={subscription} />
          {subscription.orderId && (
            <p>
              <Link to="/orders/$id" params={{ id: subscription.orderId }}>
                Provisioning timeline of its order
              </Link>
            </p>
          )}
        </>
      )}
    </QueryState>
  );
}

export function SubscriptionSummary({ subscription }: { subscription: Subscription }) {
  return (
    <dl className="facts">
      <div>
        <dt>Status</dt>
        <dd>
          <span data-testid="subscription-status">
            <Status value={subscription.status} />
          </span>
        </dd>
      </div>
      <div>
        <dt>Reason</dt>
        <dd>{reasonOf(subscription)}</dd>
      </div>
      <div>
        <dt>Customer</dt>
        <dd>
          <Link to="/customers/$id" params={{ id: subscription.customerId }}>
            {subscription.customer.name}
          </Link>{' '}
          ({subscription.customer.email})
        </dd>
      </div>
      <div>
        <dt>Product</dt>
        <dd>
          {subscription.product.name}, {money(subscription.price.amount, subscription.price.currency)} / {subscription.price.interval.toLowerCase()}
        </dd>
      </div>
      <div>
        <dt>Current period</dt>
        <dd>
          {dateTime(subscription.currentPeriodStart)} → {dateTime(subscription.currentPeriodEnd)}
        </dd>
      </div>
    </dl>
  );
}

/** Suspend, unsuspend, terminate: each asks first, naming what will happen to the site. */
export function SubscriptionActions({ subscription }: { subscription: Subscription }) {
  const queryClient = useQueryClient();
  const role = session.user()?.role;
  const [reason, setReason] = useState('');
  const domain = subscription.domains[0]?.name ?? 'the site';
  const act = useMutation({
    mutationFn: (action: 'suspend' | 'unsuspend' | 'terminate') => {
      const path = { id: subscription.id };
      const body = reason.trim() ? { reason: reason.trim() } : {};
      if (action === 'suspend') return must(api.POST('/api/subscriptions/{id}/suspend', { params: { path }, body }));
      if (action === 'unsuspend') return must(api.POST('/api/subscriptions/{id}/unsuspend', { params: { path }, body }));
      return must(api.POST('/api/subscriptions/{id}/terminate', { params: { path }, body }));
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['subscription', subscription.id] }).then(() => queryClient.invalidateQueries({ queryKey: ['order'] })),
  });
  const canSuspend = role !== 'READ_ONLY';
  const canTerminate = role === 'ADMIN' || role === 'SUPER_ADMIN';
  if (subscription.status === 'TERMINATED') return null;
  return (
    <section aria-labelledby="lifecycle" className="lifecycle">
      <h2 id="lifecycle">Lifecycle</h2>
      <div className="field">
        <label htmlFor="lifecycle-reason">Reason (recorded with the change)</label>
        <input id="lifecycle-reason" value={reason} maxLength={500} onChange={(event) => setReason(event.target.value)} />
      </div>
      <div className="actions">
        {subscription.status === 'SUSPENDED' ? (
          <ConfirmButton
            label="Unsuspend"
            title={`Unsuspend ${domain}?`}
            consequence={<p>The site is served again and its mailboxes accept logins.</p>}
            confirmLabel="Unsuspend the site"
            danger={false}
            disabled={!canSuspend}
            onConfirm={() => act.mutateAsync('unsuspend')}
          />
        ) : (
          <ConfirmButton
            label="Suspend"
            title={`Suspend ${domain}?`}
            consequence={<p>Visitors of {domain} will see the “suspended” page (HTTP 503) until it is unsuspended. Files and mail are kept.</p>}
            confirmLabel="Suspend the site"
            disabled={!canSuspend || subscription.status !== 'ACTIVE' && subscription.status !== 'PAST_DUE'}
            onConfirm={() => act.mutateAsync('suspend')}
          />
        )}
        <ConfirmButton
          label="Terminate"
          title={`Terminate ${domain}?`}
          consequence={<p>The site is archived and removed, and its DNS zone is deleted after the retention period. This cannot be undone.</p>}
          confirmLabel="Terminate for good"
          disabled={!canTerminate}
          onConfirm={() => act.mutateAsync('terminate')}
        />
      </div>
    </section>
  );
}
