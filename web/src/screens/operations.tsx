import { useQuery } from '@tanstack/react-query';
import { createRoute, useNavigate } from '@tanstack/react-router';
import { api, must } from '../api/client';
import { session } from '../api/session';
import { appRoute } from '../routes';
import { defined, str } from '../search';
import { Field } from '../ui/form';
import { dateTime, shortId } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, ErrorState, QueryState } from '../ui/states';
import { Status } from '../ui/status';
import { FailedJobs } from './dashboard';

export const jobsRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/jobs',
  component: () => (
    <>
      <h1>Jobs</h1>
      <FailedJobs />
    </>
  ),
});

export const auditRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/audit',
  validateSearch: (search: Record<string, unknown>): { action?: string; targetType?: string; targetId?: string; from?: string; to?: string; cursor?: string } =>
    defined({ action: str(search.action), targetType: str(search.targetType), targetId: str(search.targetId), from: str(search.from), to: str(search.to), cursor: str(search.cursor) }),
  component: AuditLog,
});

export const serversRoute = createRoute({ getParentRoute: () => appRoute, path: '/servers', component: Servers });

/** `datetime-local` value (local time) ↔ RFC 3339 for the API. */
const toInstant = (value: FormDataEntryValue | null): string | undefined => {
  const text = str(value);
  return text ? new Date(text).toISOString() : undefined;
};
const toLocalInput = (instant: string | undefined): string => {
  if (!instant) return '';
  const date = new Date(instant);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function AuditLog() {
  const search = auditRoute.useSearch();
  const navigate = useNavigate({ from: auditRoute.fullPath });
  const list = useQuery({ queryKey: ['audit', search], queryFn: () => must(api.GET('/api/audit-logs', { params: { query: { ...search, limit: 50 } } })) });
  return (
    <>
      <h1>Audit log</h1>
      <form
        className="filters"
        role="search"
        key={JSON.stringify(search)}
        onSubmit={(event) => {
          event.preventDefault();
          const form = new FormData(event.currentTarget);
          void navigate({
            search: defined({ action: str(form.get('action')), targetType: str(form.get('targetType')), targetId: str(form.get('targetId')), from: toInstant(form.get('from')), to: toInstant(form.get('to')) }),
          });
        }}
      >
        <Field label="Action" field="action" placeholder="user.* or subscription.suspended" defaultValue={search.action ?? ''} error={list.error} />
        <Field label="Target type" field="targetType" placeholder="subscription" defaultValue={search.targetType ?? ''} error={list.error} />
        <Field label="Target id" field="targetId" defaultValue={search.targetId ?? ''} error={list.error} />
        <Field label="From" field="from" type="datetime-local" defaultValue={toLocalInput(search.from)} error={list.error} />
        <Field label="To" field="to" type="datetime-local" defaultValue={toLocalInput(search.to)} error={list.error} />
        <button type="submit">Filter</button>
      </form>
      <QueryState query={list} what="the audit log">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No entry matches.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Action</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Target</th>
                    <th scope="col">Sealed</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((entry) => (
                    <tr key={entry.id}>
                      <td>{dateTime(entry.createdAt)}</td>
                      <td>{entry.action}</td>
                      <td>
                        {entry.actorType}
                        {entry.actorUserId ? ` ${shortId(entry.actorUserId)}` : ''}
                        {entry.ip ? ` from ${entry.ip}` : ''}
                      </td>
                      <td>
                        {entry.targetType ?? '—'} {entry.targetId ? shortId(entry.targetId) : ''}
                      </td>
                      <td>{entry.chainSeq !== null ? `#${entry.chainSeq}` : 'not yet'}</td>
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

function Servers() {
  const allowed = session.user()?.role === 'SUPER_ADMIN';
  const list = useQuery({ queryKey: ['servers'], queryFn: () => must(api.GET('/api/servers', { params: { query: { limit: 100 } } })), enabled: allowed });
  if (!allowed) return <ErrorState error={new Error('Servers are managed by a SUPER_ADMIN.')} />;
  return (
    <>
      <h1>Servers</h1>
      <QueryState query={list} what="servers">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No server registered (mpanel servers add, or POST /api/servers).</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Host name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Driver</th>
                  <th scope="col">Addresses</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((server) => (
                  <tr key={server.id}>
                    <td>{server.hostname}</td>
                    <td>{server.role}</td>
                    <td>{server.driver}</td>
                    <td>{[server.ipv4, server.ipv6].filter(Boolean).join(', ') || '—'}</td>
                    <td>
                      <Status value={server.status} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
    </>
  );
}
