import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useId, useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import type { paths } from '../api/schema';
import { fieldError, messageOf } from '../api/problem';
import { appRoute } from '../routes';
import { defined, str, text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FieldMessage, FormError, StatusFilter } from '../ui/form';
import { dateTime } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

type Endpoint = paths['/api/webhook-endpoints/{id}']['get']['responses'][200]['content']['application/json'];
type EventType = NonNullable<paths['/api/webhook-endpoints']['post']['requestBody']>['content']['application/json']['eventTypes'][number];
type DeliveryStatus = NonNullable<NonNullable<paths['/api/webhook-endpoints/{id}/deliveries']['get']['parameters']['query']>['status']>;

/** Every event type the API sends, as a record so a new type in the API fails the type check here until it is listed. */
const EVENT_TYPES_SET: Record<EventType, true> = {
  'order.received': true,
  'subscription.activated': true,
  'subscription.failed': true,
  'subscription.suspended': true,
  'subscription.unsuspended': true,
  'subscription.terminated': true,
  'subscription.past_due': true,
  'subscription.recovered': true,
  'subscription.plan_changed': true,
  'invoice.issued': true,
  'invoice.paid': true,
  'invoice.reminder': true,
  'invoice.overdue': true,
  'invoice.termination_warning': true,
  'invoice.voided': true,
  'payment.failed': true,
  'payment.refunded': true,
  'dispute.opened': true,
  'dispute.closed': true,
  'certificate.issued': true,
  'certificate.renewed': true,
  'certificate.failed': true,
  'certificate.expiring': true,
  'mailbox.created': true,
  'job.failed': true,
  'webhook_endpoint.disabled': true,
};
const EVENT_TYPES = Object.keys(EVENT_TYPES_SET) as EventType[];
const isEventType = (value: unknown): value is EventType => typeof value === 'string' && Object.hasOwn(EVENT_TYPES_SET, value);
const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['PENDING', 'SENDING', 'DELIVERED', 'FAILED'];
const isDeliveryStatus = (value: unknown): value is DeliveryStatus => DELIVERY_STATUSES.some((status) => status === value);

export const webhooksRoute = createRoute({ getParentRoute: () => appRoute, path: '/settings/webhooks', component: Webhooks });
export const webhookRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/settings/webhooks/$id',
  validateSearch: (search: Record<string, unknown>): { status?: DeliveryStatus; cursor?: string } =>
    defined({ status: isDeliveryStatus(search.status) ? search.status : undefined, cursor: str(search.cursor) }),
  component: WebhookEndpoint,
});

const endpointState = (endpoint: Endpoint): string => (!endpoint.enabled ? 'DISABLED' : endpoint.failingSince ? 'FAILING' : 'ENABLED');

function Webhooks() {
  const list = useQuery({ queryKey: ['webhook-endpoints'], queryFn: () => must(api.GET('/api/webhook-endpoints')) });
  return (
    <>
      <h1>Webhook endpoints</h1>
      <p>
        Your systems&apos; URLs that receive mPanel&apos;s events, signed per Standard Webhooks (<code>webhook-id</code>, <code>webhook-timestamp</code>,{' '}
        <code>webhook-signature</code>) and retried for up to 3 days.
      </p>
      <QueryState query={list} what="webhook endpoints">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No webhook endpoint yet.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">State</th>
                  <th scope="col">Events</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {items.map((endpoint) => (
                  <tr key={endpoint.id}>
                    <td className="wrap">
                      <Link to="/settings/webhooks/$id" params={{ id: endpoint.id }}>
                        {endpoint.url}
                      </Link>
                      {endpoint.description && <small className="block">{endpoint.description}</small>}
                    </td>
                    <td>
                      <Status value={endpointState(endpoint)} />
                    </td>
                    <td className="wrap">{endpoint.eventTypes.join(', ')}</td>
                    <td>{dateTime(endpoint.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
      <NewEndpoint />
    </>
  );
}

/** The event-type checkboxes, with the API's error for the list beside them. */
function EventTypesField({ selected, error }: { selected: readonly string[]; error: unknown }) {
  const id = useId();
  const message = fieldError(error, 'eventTypes');
  return (
    <fieldset className="event-types" aria-describedby={message ? `${id}-error` : undefined}>
      <legend>Events it receives</legend>
      {EVENT_TYPES.map((type) => (
        <label key={type} className="check">
          <input type="checkbox" name="eventTypes" value={type} defaultChecked={selected.includes(type)} /> {type}
        </label>
      ))}
      <FieldMessage id={id} message={message} />
    </fieldset>
  );
}

const checkedTypes = (form: FormData): EventType[] => form.getAll('eventTypes').filter(isEventType);

function NewEndpoint() {
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ id: string; url: string; secret: string } | null>(null);
  const create = useMutation({
    mutationFn: (body: { url: string; eventTypes: EventType[]; description?: string }) => must(api.POST('/api/webhook-endpoints', { body })),
    onSuccess: async (endpoint) => {
      setCreated({ id: endpoint.id, url: endpoint.url, secret: endpoint.secret });
      await queryClient.invalidateQueries({ queryKey: ['webhook-endpoints'] });
    },
    onError: setError,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    setCreated(null);
    const form = event.currentTarget;
    const data = new FormData(form);
    const description = text(data, 'description').trim();
    create.mutate({ url: text(data, 'url').trim(), eventTypes: checkedTypes(data), ...(description ? { description } : {}) }, { onSuccess: () => form.reset() });
  };
  return (
    <section aria-labelledby="new-endpoint-title">
      <h2 id="new-endpoint-title">New endpoint</h2>
      {created && <SecretOnce title={`Endpoint ${created.url} created`} secret={created.secret} />}
      <form onSubmit={submit} noValidate>
        <Field label="URL" field="url" type="url" required placeholder="https://example.com/mpanel-events" error={error} />
        <Field label="Description (optional)" field="description" error={error} />
        <EventTypesField selected={[]} error={error} />
        <FormError error={error} fields={['url', 'description', 'eventTypes']} />
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create endpoint'}
        </button>
      </form>
    </section>
  );
}

/** A secret the API shows this once: said so, selectable, never stored by the page. */
function SecretOnce({ title, secret }: { title: string; secret: string }) {
  const id = useId();
  return (
    <div className="notice" role="status" aria-labelledby={id}>
      <p id={id}>
        <strong>{title}.</strong> Its signing secret is shown this once: copy it into the receiver now.
      </p>
      <label>
        Signing secret
        <input readOnly value={secret} className="secret" onFocus={(event) => event.currentTarget.select()} />
      </label>
    </div>
  );
}

function WebhookEndpoint() {
  const { id } = webhookRoute.useParams();
  const detail = useQuery({ queryKey: ['webhook-endpoint', id], queryFn: () => must(api.GET('/api/webhook-endpoints/{id}', { params: { path: { id } } })) });
  // The version the form saved: the form is remounted for each new version of the endpoint (its
  // fields start from it), so "saved" lives here, or it would vanish when the refetch lands.
  const [savedVersion, setSavedVersion] = useState<string | null>(null);
  return (
    <QueryState query={detail} what="the webhook endpoint">
      {(endpoint) => (
        <>
          <p>
            <Link to="/settings/webhooks">All webhook endpoints</Link>
          </p>
          <h1 className="wrap">Webhook endpoint {endpoint.url}</h1>
          <dl className="facts">
            <div>
              <dt>State</dt>
              <dd>
                <Status value={endpointState(endpoint)} />
                {endpoint.disabledReason && ` — ${endpoint.disabledReason}`}
              </dd>
            </div>
            <div>
              <dt>Failing since</dt>
              <dd>{dateTime(endpoint.failingSince)}</dd>
            </div>
            <div>
              <dt>Previous secret signs until</dt>
              <dd>{dateTime(endpoint.previousSecretExpiresAt)}</dd>
            </div>
          </dl>
          <EndpointActions endpoint={endpoint} />
          <EditEndpoint key={endpoint.updatedAt} endpoint={endpoint} saved={savedVersion === endpoint.updatedAt} onSaved={setSavedVersion} />
          <Deliveries endpoint={endpoint} />
        </>
      )}
    </QueryState>
  );
}

function EndpointActions({ endpoint }: { endpoint: Endpoint }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [secret, setSecret] = useState<string | null>(null);
  const refresh = () => Promise.all([queryClient.invalidateQueries({ queryKey: ['webhook-endpoint', endpoint.id] }), queryClient.invalidateQueries({ queryKey: ['webhook-endpoints'] })]);
  const patch = async (enabled: boolean) => {
    await must(api.PATCH('/api/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body: { enabled } }));
    await refresh();
  };
  const rotate = async () => {
    const rotated = await must(api.POST('/api/webhook-endpoints/{id}/rotate-secret', { params: { path: { id: endpoint.id } } }));
    setSecret(rotated.secret);
    await refresh();
  };
  const remove = async () => {
    await must(api.DELETE('/api/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } } }));
    await queryClient.invalidateQueries({ queryKey: ['webhook-endpoints'] });
    await navigate({ to: '/settings/webhooks' });
  };
  return (
    <section aria-labelledby="endpoint-actions">
      <h2 id="endpoint-actions">Actions</h2>
      {secret && <SecretOnce title="Secret rotated" secret={secret} />}
      <div className="actions">
        {endpoint.enabled ? (
          <ConfirmButton
            label="Disable"
            title="Disable this endpoint?"
            consequence={<p>No event is sent to {endpoint.url} while it is disabled, and deliveries not sent yet fail. Enabling it again sends only new events.</p>}
            confirmLabel="Disable endpoint"
            onConfirm={() => patch(false)}
          />
        ) : (
          <ConfirmButton
            label="Enable"
            title="Enable this endpoint?"
            consequence={<p>New events are sent to {endpoint.url} again, and its past failures are forgotten.</p>}
            confirmLabel="Enable endpoint"
            danger={false}
            onConfirm={() => patch(true)}
          />
        )}
        <ConfirmButton
          label="Rotate secret"
          title="Rotate the signing secret?"
          consequence={
            <p>
              A new secret is shown once. For 24 hours every message carries two signatures (new and current secret); after that, a receiver still checking the current secret
              rejects every message.
            </p>
          }
          confirmLabel="Rotate secret"
          onConfirm={rotate}
        />
        <ConfirmButton
          label="Delete"
          title="Delete this endpoint?"
          consequence={<p>The endpoint and its delivery log are deleted; deliveries not sent yet fail. This cannot be undone.</p>}
          confirmLabel="Delete endpoint"
          onConfirm={remove}
        />
      </div>
    </section>
  );
}

function EditEndpoint({ endpoint, saved, onSaved }: { endpoint: Endpoint; saved: boolean; onSaved: (version: string) => void }) {
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const save = useMutation({
    mutationFn: (body: { url: string; eventTypes: EventType[]; description: string | null }) => must(api.PATCH('/api/webhook-endpoints/{id}', { params: { path: { id: endpoint.id } }, body })),
    onSuccess: async (updated) => {
      onSaved(updated.updatedAt);
      await Promise.all([queryClient.invalidateQueries({ queryKey: ['webhook-endpoint', endpoint.id] }), queryClient.invalidateQueries({ queryKey: ['webhook-endpoints'] })]);
    },
    onError: setError,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const data = new FormData(event.currentTarget);
    const description = text(data, 'description').trim();
    save.mutate({ url: text(data, 'url').trim(), eventTypes: checkedTypes(data), description: description === '' ? null : description });
  };
  return (
    <section aria-labelledby="edit-endpoint">
      <h2 id="edit-endpoint">Settings</h2>
      <form onSubmit={submit} noValidate>
        <Field label="URL" field="url" type="url" required defaultValue={endpoint.url} error={error} />
        <Field label="Description (optional)" field="description" defaultValue={endpoint.description ?? ''} error={error} />
        <EventTypesField selected={endpoint.eventTypes} error={error} />
        <FormError error={error} fields={['url', 'description', 'eventTypes']} />
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save'}
        </button>
        {saved && <p role="status">Saved: the next events follow it.</p>}
      </form>
    </section>
  );
}

function Deliveries({ endpoint }: { endpoint: Endpoint }) {
  const search = webhookRoute.useSearch();
  const navigate = useNavigate({ from: webhookRoute.fullPath });
  const queryClient = useQueryClient();
  const list = useQuery({
    queryKey: ['webhook-deliveries', endpoint.id, search],
    queryFn: () => must(api.GET('/api/webhook-endpoints/{id}/deliveries', { params: { path: { id: endpoint.id }, query: { ...search, limit: 25 } } })),
    refetchInterval: 5_000,
  });
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) => must(api.POST('/api/webhook-endpoints/{id}/deliveries/{deliveryId}/redeliver', { params: { path: { id: endpoint.id, deliveryId } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['webhook-deliveries', endpoint.id] }),
  });
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Delivery log</h2>
      <StatusFilter statuses={DELIVERY_STATUSES} value={search.status} onChange={(status) => void navigate({ search: defined({ status }) })} />
      {redeliver.error && (
        <p className="error" role="alert">
          {messageOf(redeliver.error)}
        </p>
      )}
      <QueryState query={list} what="deliveries">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No delivery{search.status ? ` is ${search.status}` : ' yet: one appears with the next event it subscribes to'}.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Event</th>
                    <th scope="col">Status</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Last answer</th>
                    <th scope="col">Created</th>
                    <th scope="col">Next attempt</th>
                    <th scope="col">Action</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((delivery) => (
                    <tr key={delivery.id}>
                      <td>{delivery.eventType}</td>
                      <td>
                        <Status value={delivery.status} />
                      </td>
                      <td>{delivery.attempts}</td>
                      <td className="wrap">
                        {delivery.lastStatus !== null ? `HTTP ${delivery.lastStatus}` : (delivery.lastError ?? '—')}
                        {delivery.lastLatencyMs !== null && ` in ${delivery.lastLatencyMs} ms`}
                      </td>
                      <td>{dateTime(delivery.createdAt)}</td>
                      <td>{dateTime(delivery.nextAttemptAt)}</td>
                      <td>
                        {(delivery.status === 'DELIVERED' || delivery.status === 'FAILED') && (
                          <button
                            type="button"
                            disabled={!endpoint.enabled || (redeliver.isPending && redeliver.variables === delivery.id)}
                            onClick={() => redeliver.mutate(delivery.id)}
                            aria-label={`Send ${delivery.eventType} ${delivery.id} again`}
                          >
                            Send again
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager cursor={search.cursor} nextCursor={page.nextCursor} go={(cursor) => void navigate({ search: defined({ ...search, cursor }) })} />
            </>
          )
        }
      </QueryState>
    </section>
  );
}
