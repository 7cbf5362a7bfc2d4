import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import type { components } from '../api/schema';
import { fieldError } from '../api/problem';
import { text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FormError } from '../ui/form';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';
import { portalMust } from './client';
import { portalApi } from './session';

// ---------------------------------------------------------------------------------------------
// Mail: the account's mail domains, mailboxes (within the plan's count) and aliases

type MailDomain = components['schemas']['PortalMailDomain'];
type Mailbox = components['schemas']['Mailbox'];
type MailboxWithPassword = components['schemas']['MailboxChange'];

const MAILBOX_FIELDS = ['mailDomainId', 'localPart', 'password', 'quotaMb'] as const;
const ALIAS_FIELDS = ['mailDomainId', 'localPart', 'targets'] as const;

/** Mail domains a mailbox or alias can be added to (a pending one is still being set up). */
const changeable = (domains: readonly MailDomain[]) => domains.filter((domain) => domain.status === 'ACTIVE' || domain.status === 'SUSPENDED');

function DomainSelect({ domains, error }: { domains: readonly MailDomain[]; error: unknown }) {
  const id = useId();
  const message = fieldError(error, 'mailDomainId');
  return (
    <div className="field">
      <label htmlFor={id}>Domain</label>
      <select id={id} name="mailDomainId" aria-invalid={message ? true : undefined} aria-describedby={message ? `${id}-error` : undefined}>
        {domains.map((domain) => (
          <option key={domain.id} value={domain.id}>
            {domain.domain}
          </option>
        ))}
      </select>
      {message && (
        <small id={`${id}-error`} className="field-error" role="alert">
          {message}
        </small>
      )}
    </div>
  );
}

/** A password handed out once: shown until the customer dismisses it, never stored by the app. */
function GeneratedPassword({ result, onDone }: { result: MailboxWithPassword; onDone: () => void }) {
  if (!result.generatedPassword) return null;
  return (
    <div role="status" className="notice">
      <p>
        The password of <strong>{result.mailbox.address}</strong> (shown once, copy it now): <code data-testid="generated-password">{result.generatedPassword}</code>
      </p>
      <button type="button" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

export function Mail() {
  const domains = useQuery({ queryKey: ['portal', 'mail-domains'], queryFn: () => portalMust(portalApi.GET('/api/portal/mail-domains', { params: { query: { limit: 200 } } })) });
  return (
    <>
      <h1>Mail</h1>
      <QueryState query={domains} what="mail domains">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No mail domain: mail hosting comes with a plan that includes mailboxes.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Domain</th>
                    <th scope="col">Status</th>
                    <th scope="col">Mailboxes</th>
                    <th scope="col">Aliases</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((domain) => (
                    <tr key={domain.id}>
                      <td>{domain.domain}</td>
                      <td>
                        <Status value={domain.status} />
                      </td>
                      <td>
                        {domain.mailboxes.used} of {domain.mailboxes.limit ?? 'unlimited'}
                      </td>
                      <td>{domain.aliases}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Mailboxes domains={items} />
              <Aliases domains={items} />
            </>
          )
        }
      </QueryState>
    </>
  );
}

function Mailboxes({ domains }: { domains: readonly MailDomain[] }) {
  const client = useQueryClient();
  const [shown, setShown] = useState<MailboxWithPassword | null>(null);
  const list = useQuery({ queryKey: ['portal', 'mailboxes'], queryFn: () => portalMust(portalApi.GET('/api/portal/mailboxes', { params: { query: { limit: 200 } } })) });
  const create = useMutation({
    mutationFn: (body: { mailDomainId: string; localPart: string; password?: string; quotaMb?: number }) => portalMust(portalApi.POST('/api/portal/mailboxes', { body })),
    onSuccess: (result) => {
      setShown(result);
      return client.invalidateQueries({ queryKey: ['portal'] });
    },
  });
  const reset = useMutation({
    mutationFn: (id: string) => portalMust(portalApi.POST('/api/portal/mailboxes/{id}/password', { params: { path: { id } }, body: {} })),
    onSuccess: (result) => setShown(result),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    const password = text(form, 'password');
    const quota = text(form, 'quotaMb');
    create.mutate(
      { mailDomainId: text(form, 'mailDomainId'), localPart: text(form, 'localPart'), ...(password ? { password } : {}), ...(quota ? { quotaMb: Number(quota) } : {}) },
      { onSuccess: () => target.reset() },
    );
  };
  const targets = changeable(domains);
  return (
    <section aria-labelledby="mailboxes">
      <h2 id="mailboxes">Mailboxes</h2>
      {shown && <GeneratedPassword result={shown} onDone={() => setShown(null)} />}
      {reset.error !== null && <FormError error={reset.error} fields={[]} />}
      <QueryState query={list} what="mailboxes">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No mailbox yet.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Address</th>
                  <th scope="col">Status</th>
                  <th scope="col">Quota</th>
                  <th scope="col">Password</th>
                </tr>
              </thead>
              <tbody>
                {items.map((mailbox: Mailbox) => (
                  <tr key={mailbox.id}>
                    <td>{mailbox.address}</td>
                    <td>
                      <Status value={mailbox.status} />
                    </td>
                    <td>{mailbox.quotaMb} MB</td>
                    <td>
                      <ConfirmButton
                        label="Reset password"
                        title={`Reset the password of ${mailbox.address}?`}
                        consequence={<p>A new password is generated and shown once. The old one stops working at once: mail apps using it must be given the new one.</p>}
                        confirmLabel="Reset password"
                        onConfirm={() => reset.mutateAsync(mailbox.id)}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
      {targets.length > 0 && (
        <form className="inline-form" onSubmit={submit} aria-label="Add a mailbox" noValidate>
          <h3>Add a mailbox</h3>
          <DomainSelect domains={targets} error={create.error} />
          <Field label="Name (before the @)" field="localPart" placeholder="info" error={create.error} />
          <Field label="Password (empty: generated)" field="password" type="password" autoComplete="new-password" error={create.error} />
          <Field label="Quota (MB, empty: the plan's)" field="quotaMb" type="number" error={create.error} />
          <FormError error={create.error} fields={MAILBOX_FIELDS} />
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Add mailbox'}
          </button>
        </form>
      )}
    </section>
  );
}

function Aliases({ domains }: { domains: readonly MailDomain[] }) {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['portal', 'mail-aliases'], queryFn: () => portalMust(portalApi.GET('/api/portal/mail-aliases', { params: { query: { limit: 200 } } })) });
  const create = useMutation({
    mutationFn: (body: { mailDomainId: string; localPart: string; targets: string[] }) => portalMust(portalApi.POST('/api/portal/mail-aliases', { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['portal'] }),
  });
  const remove = (id: string) => portalMust(portalApi.DELETE('/api/portal/mail-aliases/{id}', { params: { path: { id } } })).then(() => client.invalidateQueries({ queryKey: ['portal'] }));
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    const targets = text(form, 'targets')
      .split(/[\s,]+/)
      .filter(Boolean);
    create.mutate({ mailDomainId: text(form, 'mailDomainId'), localPart: text(form, 'localPart'), targets }, { onSuccess: () => target.reset() });
  };
  const targets = changeable(domains);
  return (
    <section aria-labelledby="aliases">
      <h2 id="aliases">Aliases and forwarders</h2>
      <QueryState query={list} what="aliases">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No alias yet.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Address</th>
                  <th scope="col">Delivers to</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((alias) => (
                  <tr key={alias.id}>
                    <td>{alias.address}</td>
                    <td>{alias.targets.join(', ')}</td>
                    <td>
                      <ConfirmButton
                        label="Delete"
                        title={`Delete ${alias.address}?`}
                        consequence={<p>Mail sent to {alias.address} is refused from now on.</p>}
                        confirmLabel="Delete alias"
                        onConfirm={() => remove(alias.id)}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
      {targets.length > 0 && (
        <form className="inline-form" onSubmit={submit} aria-label="Add an alias" noValidate>
          <h3>Add an alias</h3>
          <DomainSelect domains={targets} error={create.error} />
          <Field label="Alias (before the @)" field="localPart" placeholder="sales" error={create.error} />
          <Field label="Delivers to (addresses, comma separated)" field="targets" placeholder="info@example.com" error={create.error} />
          <FormError error={create.error} fields={ALIAS_FIELDS} />
          <button type="submit" className="primary" disabled={create.isPending}>
            Add alias
          </button>
        </form>
      )}
    </section>
  );
}
