import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { components } from '../api/schema';
import { text } from '../search';
import { ConfirmButton } from './confirm';
import { Field, FormError, SelectField } from './form';
import { Empty } from './states';

type DnsRecord = components['schemas']['DnsRecord'];
type RecordType = DnsRecord['type'];
const TYPES: readonly RecordType[] = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS'];
const isType = (value: string): value is RecordType => TYPES.some((type) => type === value);
const RECORD_FIELDS = ['name', 'type', 'content', 'ttl', 'priority'] as const;
const hasPriority = (type: RecordType) => type === 'MX' || type === 'SRV';

export interface NewRecordBody {
  name: string;
  type: RecordType;
  content: string;
  ttl?: number;
  priority?: number;
}
export interface RecordChange {
  name?: string;
  content?: string;
  ttl?: number;
  priority?: number | null;
}

/**
 * The calls behind the editor: the staff console's /api/dns routes or the portal's
 * /api/portal/dns ones (same bodies, same validation, same problem fields). Each rejects with
 * the ApiError, so the API's field errors land under the field; `refresh` reloads the zone.
 */
export interface RecordCalls {
  create(body: NewRecordBody): Promise<unknown>;
  update(id: string, body: RecordChange): Promise<unknown>;
  remove(id: string): Promise<unknown>;
  refresh(): Promise<unknown>;
}

const numberOrUndefined = (value: FormDataEntryValue | null): number | undefined => {
  const trimmed = typeof value === 'string' ? value.trim() : '';
  return trimmed === '' ? undefined : Number(trimmed);
};

/** The record's name relative to the zone, as the API accepts it back. */
const relativeName = (name: string, zone: string): string => {
  const bare = name.replace(/\.$/, '');
  const apex = zone.replace(/\.$/, '');
  return bare === apex ? '@' : bare.endsWith(`.${apex}`) ? bare.slice(0, -apex.length - 1) : bare;
};

/** A zone's records with inline edit and delete (confirmed), and the form to add one. */
export function RecordEditor({ zoneName, records, calls }: { zoneName: string; records: readonly DnsRecord[]; calls: RecordCalls }) {
  return (
    <>
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
          {records.map((record) => (
            <RecordRow key={record.id} zoneName={zoneName} record={record} calls={calls} />
          ))}
        </tbody>
      </table>
      {records.length === 0 && <Empty>No record.</Empty>}
      <NewRecord calls={calls} />
    </>
  );
}

function RecordRow({ zoneName, record, calls }: { zoneName: string; record: DnsRecord; calls: RecordCalls }) {
  const [editing, setEditing] = useState(false);
  const save = useMutation({
    mutationFn: (body: RecordChange) => calls.update(record.id, body),
    onSuccess: async () => {
      setEditing(false);
      await calls.refresh();
    },
  });
  const remove = () => calls.remove(record.id).then(() => calls.refresh());
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
            consequence={<p>It stops resolving at once ({record.content}).</p>}
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
      ...(hasPriority(record.type) ? { priority: priority ?? null } : {}),
    });
  };
  return (
    <tr>
      <td colSpan={6}>
        <form className="inline-form" onSubmit={submit} aria-label={`Edit ${record.type} ${name}`} noValidate>
          <Field label="Name" field="name" defaultValue={name} error={save.error} />
          <Field label="TTL" field="ttl" type="number" defaultValue={record.ttl} error={save.error} />
          {hasPriority(record.type) && <Field label="Priority" field="priority" type="number" defaultValue={record.priority ?? ''} error={save.error} />}
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

function NewRecord({ calls }: { calls: RecordCalls }) {
  const [type, setType] = useState<RecordType>('A');
  const create = useMutation({ mutationFn: (body: NewRecordBody) => calls.create(body), onSuccess: () => calls.refresh() });
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
      <form className="inline-form" onSubmit={submit} aria-label="Add a record" noValidate>
        <Field label="Name" field="name" placeholder="www" error={create.error} />
        <SelectField label="Type" field="type" options={TYPES} value={type} onChange={(event) => isType(event.target.value) && setType(event.target.value)} error={create.error} />
        <Field label="TTL" field="ttl" type="number" error={create.error} />
        {hasPriority(type) && <Field label="Priority" field="priority" type="number" error={create.error} />}
        <Field label="Content" field="content" error={create.error} />
        <FormError error={create.error} fields={RECORD_FIELDS} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Add record
        </button>
      </form>
    </section>
  );
}
