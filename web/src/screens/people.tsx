import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { session } from '../api/session';
import { appRoute } from '../routes';
import { defined, str, text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FormError, SelectField } from '../ui/form';
import { dateTime, shortId } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';
import { InvoiceTable } from './billing';
import { reasonOf } from './subscriptions';

type Role = components['schemas']['User']['role'];
const ROLES: readonly Role[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];
const isRole = (value: unknown): value is Role => ROLES.some((role) => role === value);

export const customersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/customers',
  validateSearch: (search: Record<string, unknown>): { q?: string; cursor?: string } => defined({ q: str(search.q), cursor: str(search.cursor) }),
  component: Customers,
});
export const customerRoute = createRoute({ getParentRoute: () => appRoute, path: '/customers/$id', component: CustomerScreen });
export const usersRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/users',
  validateSearch: (search: Record<string, unknown>): { q?: string; role?: Role; cursor?: string } =>
    defined({ q: str(search.q), role: isRole(search.role) ? search.role : undefined, cursor: str(search.cursor) }),
  component: Users,
});

function Customers() {
  const search = customersRoute.useSearch();
  const navigate = useNavigate({ from: customersRoute.fullPath });
  const list = useQuery({ queryKey: ['customers', search], queryFn: () => must(api.GET('/api/customers', { params: { query: { ...search, limit: 25 } } })) });
  return (
    <>
      <h1>Customers</h1>
      <form
        className="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          void navigate({ search: defined({ q: str(new FormData(event.currentTarget).get('q')) }) });
        }}
      >
        <Field label="Name or email" field="q" defaultValue={search.q ?? ''} error={null} />
        <button type="submit">Search</button>
      </form>
      <QueryState query={list} what="customers">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No customer{search.q ? ` matches “${search.q}”` : ' yet'}.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Email</th>
                    <th scope="col">Company</th>
                    <th scope="col">Since</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((customer) => (
                    <tr key={customer.id}>
                      <td>
                        <Link to="/customers/$id" params={{ id: customer.id }}>
                          {customer.name}
                        </Link>
                      </td>
                      <td>{customer.email}</td>
                      <td>{customer.company ?? '—'}</td>
                      <td>{dateTime(customer.createdAt)}</td>
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

function CustomerScreen() {
  const { id } = customerRoute.useParams();
  const customer = useQuery({ queryKey: ['customer', id], queryFn: () => must(api.GET('/api/customers/{id}', { params: { path: { id } } })) });
  return (
    <QueryState query={customer} what="the customer">
      {(detail) => (
        <>
          <h1>{detail.name}</h1>
          <dl className="facts">
            <div>
              <dt>Email</dt>
              <dd>{detail.email}</dd>
            </div>
            <div>
              <dt>Company</dt>
              <dd>{detail.company ?? '—'}</dd>
            </div>
            <div>
              <dt>Phone</dt>
              <dd>{detail.phone ?? '—'}</dd>
            </div>
            <div>
              <dt>Language</dt>
              <dd>{detail.locale ?? "the tenant's"}</dd>
            </div>
          </dl>
          <h2>Subscriptions</h2>
          {detail.subscriptions.length === 0 ? (
            <Empty>No subscription.</Empty>
          ) : (
            <ul>
              {detail.subscriptions.map((subscription) => (
                <li key={subscription.id}>
                  <Link to="/subscriptions/$id" params={{ id: subscription.id }}>
                    Subscription {shortId(subscription.id)}
                  </Link>{' '}
                  <Status value={subscription.status} /> {reasonOf(subscription)}
                </li>
              ))}
            </ul>
          )}
          <CustomerContacts customerId={detail.id} />
          <CustomerInvoices customerId={detail.id} />
        </>
      )}
    </QueryState>
  );
}

/** The customer's portal logins (owner, billing and technical contacts) and the state of their access. */
function CustomerContacts({ customerId }: { customerId: string }) {
  const list = useQuery({ queryKey: ['customer', customerId, 'contacts'], queryFn: () => must(api.GET('/api/customers/{id}/contacts', { params: { path: { id: customerId } } })) });
  return (
    <>
      <h2>Contacts</h2>
      <QueryState query={list} what="the customer's contacts">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No portal login yet: the owner's is made when the first order is accepted.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Invitation</th>
                  <th scope="col">Two-factor</th>
                  <th scope="col">Last sign-in</th>
                </tr>
              </thead>
              <tbody>
                {items.map((contact) => (
                  <tr key={contact.id}>
                    <td>{contact.name}</td>
                    <td>{contact.email}</td>
                    <td>{contact.role}</td>
                    <td>
                      {contact.invitation === 'ACCEPTED' ? 'Accepted' : 'Pending'}
                      {contact.active ? '' : ' (disabled)'}
                    </td>
                    <td>{contact.twoFactorEnabled ? 'On' : 'Off'}</td>
                    <td>{dateTime(contact.lastLoginAt)}</td>
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

/** The customer's latest invoices, newest first. */
function CustomerInvoices({ customerId }: { customerId: string }) {
  const list = useQuery({ queryKey: ['invoices', { customerId }], queryFn: () => must(api.GET('/api/invoices', { params: { query: { customerId, limit: 25 } } })) });
  return (
    <>
      <h2>Invoices</h2>
      <QueryState query={list} what="the customer's invoices">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No invoice.</Empty>
          ) : (
            <InvoiceTable invoices={page.items} />
          )
        }
      </QueryState>
    </>
  );
}

function Users() {
  const search = usersRoute.useSearch();
  const navigate = useNavigate({ from: usersRoute.fullPath });
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ['users', search], queryFn: () => must(api.GET('/api/users', { params: { query: { ...search, limit: 25 } } })) });
  const setActive = useMutation({
    mutationFn: ({ id, isActive }: { id: string; isActive: boolean }) => must(api.PATCH('/api/users/{id}', { params: { path: { id } }, body: { isActive } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['users'] }),
  });
  const me = session.user();
  return (
    <>
      <h1>Users</h1>
      <form
        className="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          const form = new FormData(event.currentTarget);
          const role = form.get('role');
          void navigate({ search: defined({ q: str(form.get('q')), role: isRole(role) ? role : undefined }) });
        }}
      >
        <Field label="Name or email" field="q" defaultValue={search.q ?? ''} error={null} />
        <SelectField label="Role" field="role" options={['', ...ROLES]} defaultValue={search.role ?? ''} error={null} />
        <button type="submit">Filter</button>
      </form>
      <QueryState query={list} what="users">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No user matches.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Email</th>
                    <th scope="col">Role</th>
                    <th scope="col">Active</th>
                    <th scope="col">Last sign-in</th>
                    <th scope="col">Action</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((user) => (
                    <tr key={user.id}>
                      <td>{user.name}</td>
                      <td>{user.email}</td>
                      <td>{user.role}</td>
                      <td>{user.isActive ? 'yes' : 'no'}</td>
                      <td>{dateTime(user.lastLoginAt)}</td>
                      <td>
                        {user.id === me?.id ? (
                          'you'
                        ) : user.isActive ? (
                          <ConfirmButton
                            label={`Disable ${user.email}`}
                            title={`Disable ${user.name}?`}
                            consequence={<p>{user.email} is signed out at once and cannot sign in until enabled again.</p>}
                            confirmLabel="Disable the user"
                            onConfirm={() => setActive.mutateAsync({ id: user.id, isActive: false })}
                          />
                        ) : (
                          <button type="button" onClick={() => setActive.mutate({ id: user.id, isActive: true })}>
                            Enable
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
      <NewUser />
    </>
  );
}

function NewUser() {
  const queryClient = useQueryClient();
  const [role, setRole] = useState<Role>('SUPPORT');
  const [sentTo, setSentTo] = useState<string | null>(null);
  const invite = useMutation({
    mutationFn: (form: FormData) => must(api.POST('/api/users/invitations', { body: { name: text(form, 'name'), email: text(form, 'email'), role } })),
    onSuccess: (invitation) => {
      setSentTo(invitation.email);
      return queryClient.invalidateQueries({ queryKey: ['invitations'] });
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    setSentTo(null);
    invite.mutate(new FormData(target), { onSuccess: () => target.reset() });
  };
  return (
    <section aria-labelledby="new-user">
      <h2 id="new-user">Invite a user</h2>
      <p>The person gets an email with a link (valid 72 hours) to choose their own password.</p>
      <form className="grid-form" onSubmit={submit} noValidate>
        <Field label="Name" field="name" error={invite.error} />
        <Field label="Email" field="email" type="email" error={invite.error} />
        <SelectField label="Role" field="role" options={ROLES} value={role} onChange={(event) => isRole(event.target.value) && setRole(event.target.value)} error={invite.error} />
        <FormError error={invite.error} fields={['name', 'email', 'role']} />
        <button type="submit" className="primary" disabled={invite.isPending}>
          {invite.isPending ? 'Sending…' : 'Send invitation'}
        </button>
        {sentTo && <p role="status">Invitation sent to {sentTo}.</p>}
      </form>
      <Invitations />
    </section>
  );
}

function Invitations() {
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: ['invitations'], queryFn: () => must(api.GET('/api/users/invitations', { params: { query: { limit: 25 } } })) });
  const revoke = useMutation({
    mutationFn: (id: string) => must(api.DELETE('/api/users/invitations/{id}', { params: { path: { id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['invitations'] }),
  });
  return (
    <QueryState query={list} what="invitations">
      {(page) =>
        page.items.length === 0 ? (
          <Empty>No invitation sent yet.</Empty>
        ) : (
          <table>
            <caption>Invitations</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Expires</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((invitation) => (
                <tr key={invitation.id}>
                  <td>{invitation.name}</td>
                  <td>{invitation.email}</td>
                  <td>{invitation.role}</td>
                  <td>{invitation.status.toLowerCase()}</td>
                  <td>{dateTime(invitation.expiresAt)}</td>
                  <td>
                    {invitation.status === 'PENDING' && (
                      <ConfirmButton
                        label={`Revoke the invitation of ${invitation.email}`}
                        title={`Revoke the invitation of ${invitation.name}?`}
                        consequence={<p>The link sent to {invitation.email} stops working. You can invite the address again later.</p>}
                        confirmLabel="Revoke the invitation"
                        onConfirm={() => revoke.mutateAsync(invitation.id)}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      }
    </QueryState>
  );
}
