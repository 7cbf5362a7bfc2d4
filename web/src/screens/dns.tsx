import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { appRoute } from '../routes';
import { defined, str, text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FormError, SelectField } from '../ui/form';
import { dateTime } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

type DnsRecord = components['schemas']['DnsRecord'];
type RecordType = DnsRecord['type'];
const TYPES: readonly RecordType[] = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS'];
const isType = (value: string): value is RecordType => TYPES.some((type) => type === value);
const RECORD_FIELDS = ['name', 'type', 'content', 'ttl', 'priority'] as const;

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

const numberOrUndefined = (value: FormDataEntryValue | null): number | undefined => {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  return trimmed === '' ? undefined : Number(trimmed);
};

function ZoneEditor() {
  const { id } = zoneRoute.useParams();
  const zone = useQuery({ queryKey: ['zone', id], queryFn: () => must(api.GET('/api/dns/zones/{id}', { params: { path: { id } } })) });
  return (
    <QueryState query={zone} what="the zone">
      {(detail) => (
        <>
          <h1>Zone {detail.name}</h1>
          <p>
            <Status value={detail.status} /> · serial {detail.serial ?? '—'} · nameservers {detail.nameservers.join(', ') || '—'}
          </p>
          <table className="records">
            <caption>Records (names relative to the zone; @ is the zone itself)</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">TTL</th>
                <th scope="col">Priority</th>
                <th scope="col">Content</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {detail.records.map((record) => (
                <RecordRow key={record.id} zoneId={id} zoneName={detail.name} record={record} />
              ))}
            </tbody>
          </table>
          {detail.records.length === 0 && <Empty>No record.</Empty>}
          <NewRecord zoneId={id} />
        </>
      )}
    </QueryState>
  );
}

/** The record's name relative to the zone, as the API accepts it back. */
const relativeName = (name: string, zone: string): string => {
  const bare = name.replace(/\.$/, '');
  const apex = zone.replace(/\.$/, '');
  return bare === apex ? '@' : bare.endsWith(`.${apex}`) ? bare.slice(0, -apex.length - 1) : bare;
};

function RecordRow({ zoneId, zoneName, record }: { zoneId: string; zoneName: string; record: DnsRecord }) {
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState(false);
  const save = useMutation({
    mutationFn: (body: { name?: string; content?: string; ttl?: number; priority?: number | null }) =>
      must(api.PATCH('/api/dns/records/{id}', { params: { path: { id: record.id } }, body })),
    onSuccess: async () => {
      setEditing(false);
      await queryClient.invalidateQueries({ queryKey: ['zone', zoneId] });
    },
  });
  const remove = () => must(api.DELETE('/api/dns/records/{id}', { params: { path: { id: record.id } } })).then(() => queryClient.invalidateQueries({ queryKey: ['zone', zoneId] }));
  const name = relativeName(record.name, zoneName);

  if (!editing) {
    return (
      <tr>
        <td>{name}</td>
        <td>{record.type}</td>
        <td>{record.ttl}</td>
        <td>{record.priority ?? ''}</td>
        <td className="wrap">{record.content}</td>
        <td className="actions">
          <button type="button" onClick={() => setEditing(true)} aria-label={`Edit ${record.type} ${name}`}>
            Edit
          </button>
          <ConfirmButton
            label={`Delete ${record.type} ${name}`}
            title={`Delete the ${record.type} record ${name}?`}
            consequence={<p>PowerDNS stops answering it at once ({record.content}).</p>}
            confirmLabel="Delete the record"
            onConfirm={remove}
          />
        </td>
      </tr>
    );
  }
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const priority = numberOrUndefined(form.get('priority'));
    save.mutate({
      name: text(form, 'name'),
      content: text(form, 'content'),
      ttl: numberOrUndefined(form.get('ttl')),
      ...(record.type === 'MX' || record.type === 'SRV' ? { priority: priority ?? null } : {}),
    });
  };
  return (
    <tr>
      <td colSpan={6}>
        <form className="inline-form" onSubmit={submit} aria-label={`Edit ${record.type} ${name}`} noValidate>
          <Field label="Name" field="name" defaultValue={name} error={save.error} />
          <Field label="TTL" field="ttl" type="number" defaultValue={record.ttl} error={save.error} />
          {(record.type === 'MX' || record.type === 'SRV') && <Field label="Priority" field="priority" type="number" defaultValue={record.priority ?? ''} error={save.error} />}
          <Field label="Content" field="content" defaultValue={record.content} error={save.error} />
          <FormError error={save.error} fields={RECORD_FIELDS} />
          <div className="actions">
            <button type="submit" className="primary" disabled={save.isPending}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      </td>
    </tr>
  );
}

function NewRecord({ zoneId }: { zoneId: string }) {
  const queryClient = useQueryClient();
  const [type, setType] = useState<RecordType>('A');
  const create = useMutation({
    mutationFn: (body: { name: string; type: RecordType; content: string; ttl?: number; priority?: number }) =>
      must(api.POST('/api/dns/zones/{id}/records', { params: { path: { id: zoneId } }, body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['zone', zoneId] }),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    const ttl = numberOrUndefined(form.get('ttl'));
    const priority = numberOrUndefined(form.get('priority'));
    create.mutate(
      { name: text(form, 'name'), type, content: text(form, 'content'), ...(ttl === undefined ? {} : { ttl }), ...(priority === undefined ? {} : { priority }) },
      { onSuccess: () => target.reset() },
    );
  };
  return (
    <section aria-labelledby="new-record">
      <h2 id="new-record">Add a record</h2>
      <form className="inline-form" onSubmit={submit} noValidate>
        <Field label="Name" field="name" placeholder="www" error={create.error} />
        <SelectField label="Type" field="type" options={TYPES} value={type} onChange={(event) => isType(event.target.value) && setType(event.target.value)} error={create.error} />
        <Field label="TTL" field="ttl" type="number" error={create.error} />
        {(type === 'MX' || type === 'SRV') && <Field label="Priority" field="priority" type="number" error={create.error} />}
        <Field label="Content" field="content" error={create.error} />
        <FormError error={create.error} fields={RECORD_FIELDS} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Add record
        </button>
      </form>
    </section>
  );
}
