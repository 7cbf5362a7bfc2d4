import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { components } from '../api/schema';
import { text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FormError, SelectField } from '../ui/form';
import { dateTime } from '../ui/format';
import { Empty, QueryState } from '../ui/states';
import { portalDone, portalMust } from './client';
import { RecoveryCodes } from './screens';
import { portalApi, portalSession } from './session';

type Profile = components['schemas']['PortalProfile'];
type BillingAddress = components['schemas']['BillingAddress'];

const PROFILE_KEY = ['portal', 'profile'] as const;

/** A form's text, or null when left empty (the API clears the field). */
const orNull = (form: FormData, name: string): string | null => text(form, name).trim() || null;

function Saved({ when }: { when: boolean }) {
  return when ? <p role="status">Saved.</p> : null;
}

// ---------------------------------------------------------------------------------------------
// Account: profile, billing address, tax id

export function Account() {
  const profile = useQuery({ queryKey: PROFILE_KEY, queryFn: () => portalMust(portalApi.GET('/api/portal/profile')) });
  return (
    <>
      <h1>Your account</h1>
      <QueryState query={profile} what="your account">
        {(data) => (
          <>
            <ProfileForm profile={data} />
            <BillingAddressForm address={data.customer.billingAddress} />
            <TaxIdForm taxId={data.customer.taxId} />
          </>
        )}
      </QueryState>
    </>
  );
}

function useProfileMutation<Body>(send: (body: Body) => Promise<Profile>) {
  const client = useQueryClient();
  return useMutation({ mutationFn: send, onSuccess: (profile) => client.setQueryData(PROFILE_KEY, profile) });
}

function ProfileForm({ profile }: { profile: Profile }) {
  const save = useProfileMutation((body: { name: string; company: string | null; phone: string | null }) => portalMust(portalApi.PATCH('/api/portal/profile', { body })));
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    save.mutate({ name: text(form, 'name'), company: orNull(form, 'company'), phone: orNull(form, 'phone') });
  };
  return (
    <section aria-labelledby="profile-title">
      <h2 id="profile-title">Profile</h2>
      <p>
        Account email: {profile.customer.email}. You are signed in as {profile.login.email} ({profile.login.role}).
      </p>
      <form className="grid-form" onSubmit={submit} aria-label="Profile" noValidate>
        <Field label="Name" field="name" defaultValue={profile.customer.name} autoComplete="name" error={save.error} />
        <Field label="Company" field="company" defaultValue={profile.customer.company ?? ''} autoComplete="organization" error={save.error} />
        <Field label="Phone" field="phone" type="tel" defaultValue={profile.customer.phone ?? ''} autoComplete="tel" error={save.error} />
        <FormError error={save.error} fields={['name', 'company', 'phone']} />
        <button type="submit" className="primary" disabled={save.isPending}>
          Save profile
        </button>
      </form>
      <Saved when={save.isSuccess} />
    </section>
  );
}

const ADDRESS_FIELDS = ['line1', 'line2', 'city', 'postalCode', 'region', 'country'] as const;

function BillingAddressForm({ address }: { address: BillingAddress | null }) {
  const save = useProfileMutation((body: BillingAddress) => portalMust(portalApi.PUT('/api/portal/billing-address', { body })));
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const optional = (name: 'line2' | 'postalCode' | 'region') => {
      const value = text(form, name).trim();
      return value ? { [name]: value } : {};
    };
    save.mutate({ line1: text(form, 'line1'), city: text(form, 'city'), country: text(form, 'country').trim().toUpperCase(), ...optional('line2'), ...optional('postalCode'), ...optional('region') });
  };
  return (
    <section aria-labelledby="address-title">
      <h2 id="address-title">Billing address</h2>
      <form className="grid-form" onSubmit={submit} aria-label="Billing address" noValidate>
        <Field label="Address line 1" field="line1" defaultValue={address?.line1 ?? ''} autoComplete="address-line1" error={save.error} />
        <Field label="Address line 2" field="line2" defaultValue={address?.line2 ?? ''} autoComplete="address-line2" error={save.error} />
        <Field label="City" field="city" defaultValue={address?.city ?? ''} autoComplete="address-level2" error={save.error} />
        <Field label="Postal code" field="postalCode" defaultValue={address?.postalCode ?? ''} autoComplete="postal-code" error={save.error} />
        <Field label="Region" field="region" defaultValue={address?.region ?? ''} autoComplete="address-level1" error={save.error} />
        <Field label="Country" field="country" defaultValue={address?.country ?? ''} autoComplete="country" hint="Two letters, e.g. DE" maxLength={2} error={save.error} />
        <FormError error={save.error} fields={ADDRESS_FIELDS} />
        <button type="submit" className="primary" disabled={save.isPending}>
          Save address
        </button>
      </form>
      <Saved when={save.isSuccess} />
    </section>
  );
}

function TaxIdForm({ taxId }: { taxId: string | null }) {
  const save = useProfileMutation((body: { taxId: string | null }) => portalMust(portalApi.PUT('/api/portal/tax-id', { body })));
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    save.mutate({ taxId: orNull(new FormData(event.currentTarget), 'taxId') });
  };
  return (
    <section aria-labelledby="tax-title">
      <h2 id="tax-title">Tax id</h2>
      <form className="inline-form" onSubmit={submit} aria-label="Tax id" noValidate>
        <Field label="VAT or tax id" field="taxId" defaultValue={taxId ?? ''} hint="Leave empty to remove it" error={save.error} />
        <FormError error={save.error} fields={['taxId']} />
        <button type="submit" className="primary" disabled={save.isPending}>
          Save tax id
        </button>
      </form>
      <Saved when={save.isSuccess} />
    </section>
  );
}

// ---------------------------------------------------------------------------------------------
// Contacts: the account's logins; the owner invites and removes billing and technical contacts

export function Contacts() {
  const client = useQueryClient();
  const key = ['portal', 'contacts'];
  const list = useQuery({ queryKey: key, queryFn: () => portalMust(portalApi.GET('/api/portal/contacts')) });
  const me = portalSession.login();
  const invite = useMutation({
    mutationFn: (body: { email: string; name: string; role: 'BILLING' | 'TECHNICAL' }) => portalMust(portalApi.POST('/api/portal/contacts', { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: key }),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    invite.mutate({ email: text(form, 'email'), name: text(form, 'name'), role: text(form, 'role') === 'TECHNICAL' ? 'TECHNICAL' : 'BILLING' }, { onSuccess: () => target.reset() });
  };
  return (
    <>
      <h1>Contacts</h1>
      <QueryState query={list} what="contacts">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No contact.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Last sign-in</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((contact) => (
                  <tr key={contact.id}>
                    <td>{contact.name}</td>
                    <td>{contact.email}</td>
                    <td>{contact.role}</td>
                    <td>{contact.passwordSet ? dateTime(contact.lastLoginAt) : 'invited, not accepted yet'}</td>
                    <td className="actions">
                      {contact.role !== 'OWNER' && contact.id !== me?.id && me?.role === 'OWNER' && (
                        <ConfirmButton
                          label={`Remove ${contact.email}`}
                          title={`Remove ${contact.name}?`}
                          consequence={<p>{contact.email} can no longer sign in; their open sessions end now.</p>}
                          confirmLabel="Remove the contact"
                          onConfirm={() => portalDone(portalApi.DELETE('/api/portal/contacts/{id}', { params: { path: { id: contact.id } } })).then(() => client.invalidateQueries({ queryKey: key }))}
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
      {me?.role === 'OWNER' && (
        <section aria-labelledby="invite-title">
          <h2 id="invite-title">Invite a contact</h2>
          <form className="inline-form" onSubmit={submit} aria-label="Invite a contact" noValidate>
            <Field label="Name" field="name" autoComplete="off" error={invite.error} />
            <Field label="Email" field="email" type="email" autoComplete="off" error={invite.error} />
            <SelectField label="Role" field="role" options={['BILLING', 'TECHNICAL']} error={invite.error} />
            <FormError error={invite.error} fields={['name', 'email', 'role']} />
            <button type="submit" className="primary" disabled={invite.isPending}>
              Send invitation
            </button>
          </form>
          {invite.isSuccess && <p role="status">Invitation sent to {invite.data.email}.</p>}
        </section>
      )}
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// Security: password, two-factor sign-in, sessions

export function Security() {
  return (
    <>
      <h1>Security</h1>
      <PasswordForm />
      <TwoFactor />
      <Sessions />
    </>
  );
}

function PasswordForm() {
  const client = useQueryClient();
  const change = useMutation({
    mutationFn: (body: { currentPassword: string; newPassword: string }) => portalDone(portalApi.POST('/api/portal/password', { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['portal', 'sessions'] }),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = event.currentTarget;
    const form = new FormData(target);
    change.mutate({ currentPassword: text(form, 'currentPassword'), newPassword: text(form, 'newPassword') }, { onSuccess: () => target.reset() });
  };
  return (
    <section aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form className="grid-form" onSubmit={submit} aria-label="Change password" noValidate>
        <Field label="Current password" field="currentPassword" type="password" autoComplete="current-password" error={change.error} />
        <Field label="New password" field="newPassword" type="password" autoComplete="new-password" hint="At least 12 characters" error={change.error} />
        <FormError error={change.error} fields={['currentPassword', 'newPassword']} />
        <button type="submit" className="primary" disabled={change.isPending}>
          Change password
        </button>
      </form>
      {change.isSuccess && <p role="status">Password changed; your other sessions have ended.</p>}
    </section>
  );
}

type TwoFactorState = { kind: 'view' } | { kind: 'enrolling'; secret: string; otpauthUri: string } | { kind: 'codes'; codes: string[] };

/** On or off (from the profile); setting up shows the key, then the recovery codes once; off takes a current code. */
function TwoFactor() {
  const client = useQueryClient();
  const profile = useQuery({ queryKey: PROFILE_KEY, queryFn: () => portalMust(portalApi.GET('/api/portal/profile')) });
  const [state, setState] = useState<TwoFactorState>({ kind: 'view' });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = (work: (form: FormData) => Promise<void>) => async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await work(form);
      await client.invalidateQueries({ queryKey: PROFILE_KEY });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const enrol = act(async () => {
    const { secret, otpauthUri } = await portalMust(portalApi.POST('/api/portal/auth/2fa/enrol'));
    setState({ kind: 'enrolling', secret, otpauthUri });
  });
  const confirm = act(async (form) => {
    const { recoveryCodes } = await portalMust(portalApi.POST('/api/portal/auth/2fa/confirm', { body: { code: text(form, 'code') } }));
    setState({ kind: 'codes', codes: recoveryCodes });
  });
  const disable = act(async (form) => {
    await portalDone(portalApi.POST('/api/portal/auth/2fa/disable', { body: { code: text(form, 'code') } }));
    setState({ kind: 'view' });
  });

  return (
    <section aria-labelledby="two-factor-title">
      <h2 id="two-factor-title">Two-factor sign-in</h2>
      {state.kind === 'enrolling' ? (
        <form onSubmit={(event) => void confirm(event)} aria-label="Confirm two-factor sign-in" noValidate>
          <p>Add this key to your authenticator app, then enter the code it shows.</p>
          <p>
            Key: <code data-testid="totp-secret">{state.secret}</code>
          </p>
          <p>
            <a href={state.otpauthUri}>Open in an authenticator app</a>
          </p>
          <Field label="Code" field="code" inputMode="numeric" autoComplete="one-time-code" error={error} />
          <FormError error={error} fields={['code']} />
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              Turn on two-factor sign-in
            </button>
            <button type="button" onClick={() => setState({ kind: 'view' })}>
              Cancel
            </button>
          </div>
        </form>
      ) : state.kind === 'codes' ? (
        <>
          <p role="status">Two-factor sign-in is on.</p>
          <RecoveryCodes codes={state.codes} onDone={() => setState({ kind: 'view' })} />
        </>
      ) : (
        <QueryState query={profile} what="two-factor sign-in">
          {({ twoFactorEnabled }) =>
            twoFactorEnabled ? (
              <form className="inline-form" onSubmit={(event) => void disable(event)} aria-label="Turn off two-factor sign-in" noValidate>
                <p>
                  <strong>On.</strong> Signing in asks for a code from your authenticator app. To turn it off, enter a current code.
                </p>
                <Field label="Code" field="code" inputMode="numeric" autoComplete="one-time-code" error={error} />
                <FormError error={error} fields={['code']} />
                <button type="submit" className="danger" disabled={busy}>
                  Turn off two-factor sign-in
                </button>
              </form>
            ) : (
              <form onSubmit={(event) => void enrol(event)} aria-label="Set up two-factor sign-in">
                <p>
                  <strong>Off.</strong> With two-factor sign-in, signing in also asks for a code from an authenticator app on your phone.
                </p>
                <FormError error={error} fields={[]} />
                <button type="submit" className="primary" disabled={busy}>
                  Set up two-factor sign-in
                </button>
              </form>
            )
          }
        </QueryState>
      )}
    </section>
  );
}

function Sessions() {
  const client = useQueryClient();
  const key = ['portal', 'sessions'];
  const list = useQuery({ queryKey: key, queryFn: () => portalMust(portalApi.GET('/api/portal/sessions')) });
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <QueryState query={list} what="sessions">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No open session.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">Last used</th>
                  <th scope="col">From</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((session) => (
                  <tr key={session.id}>
                    <td>{dateTime(session.startedAt)}</td>
                    <td>{dateTime(session.lastUsedAt)}</td>
                    <td className="wrap">
                      {session.ip ?? '—'} {session.userAgent ?? ''}
                    </td>
                    <td className="actions">
                      {session.current ? (
                        'This session'
                      ) : (
                        <ConfirmButton
                          label={`End session started ${dateTime(session.startedAt)}`}
                          title="End this session?"
                          consequence={<p>The browser or app using it is signed out at its next request.</p>}
                          confirmLabel="End the session"
                          onConfirm={() => portalDone(portalApi.DELETE('/api/portal/sessions/{id}', { params: { path: { id: session.id } } })).then(() => client.invalidateQueries({ queryKey: key }))}
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
    </section>
  );
}
