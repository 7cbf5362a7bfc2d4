import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { api, must } from '../api/client';
import { appRoute } from '../routes';
import { defined, str } from '../search';
import { dateTime } from '../ui/format';
import { Pager } from '../ui/pager';
import { RecordEditor, type RecordCalls } from '../ui/record-editor';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

export const zonesRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/dns',
  validateSearch: (search: Record<string, unknown>): { cursor?: string } => defined({ cursor: str(search.cursor) }),
  component: Zones,
});

export const zoneRoute = createRoute({ getParentRoute: () => appRoute, path: '/dns/$id', component: ZoneEditor });

function Zones() {
  const search = zonesRoute.useSearch();
  const navigate = useNavigate({ from: zonesRoute.fullPath });
  const list = useQuery({ queryKey: ['zones', search], queryFn: () => must(api.GET('/api/dns/zones', { params: { query: { ...search, limit: 50 } } })) });
  return (
    <>
      <h1>DNS zones</h1>
      <QueryState query={list} what="zones">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No zone yet: zones are created when an order is provisioned.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Zone</th>
                    <th scope="col">Status</th>
                    <th scope="col">Serial</th>
                    <th scope="col">Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((zone) => (
                    <tr key={zone.id}>
                      <td>
                        <Link to="/dns/$id" params={{ id: zone.id }}>
                          {zone.name}
                        </Link>
                      </td>
                      <td>
                        <Status value={zone.status} />
                      </td>
                      <td>{zone.serial ?? '—'}</td>
                      <td>{dateTime(zone.updatedAt)}</td>
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

function ZoneEditor() {
  const { id } = zoneRoute.useParams();
  const queryClient = useQueryClient();
  const zone = useQuery({ queryKey: ['zone', id], queryFn: () => must(api.GET('/api/dns/zones/{id}', { params: { path: { id } } })) });
  const calls: RecordCalls = {
    create: (body) => must(api.POST('/api/dns/zones/{id}/records', { params: { path: { id } }, body })),
    update: (recordId, body) => must(api.PATCH('/api/dns/records/{id}', { params: { path: { id: recordId } }, body })),
    remove: (recordId) => must(api.DELETE('/api/dns/records/{id}', { params: { path: { id: recordId } } })),
    refresh: () => queryClient.invalidateQueries({ queryKey: ['zone', id] }),
  };
  return (
    <QueryState query={zone} what="the zone">
      {(detail) => (
        <>
          <h1>Zone {detail.name}</h1>
          <p>
            <Status value={detail.status} /> · serial {detail.serial ?? '—'} · nameservers {detail.nameservers.join(', ') || '—'}
          </p>
          <RecordEditor zoneName={detail.name} records={detail.records} calls={calls} />
        </>
      )}
    </QueryState>
  );
}
