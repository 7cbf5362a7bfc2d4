import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link } from '@tanstack/react-router';
import { useId, useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import type { components, paths } from '../api/schema';
import { appRoute } from '../routes';
import { text } from '../search';
import { Field, FormError, TextAreaField } from '../ui/form';
import { dateTime } from '../ui/format';
import { Empty, QueryState } from '../ui/states';

type UserRole = components['schemas']['TwoFactorPolicy']['twoFactorStaffRoles'][number];
type EventType = paths['/api/notification-templates/{event}']['get']['parameters']['path']['event'];
const ROLES: readonly UserRole[] = ['SUPER_ADMIN', 'ADMIN', 'BILLING', 'SUPPORT', 'READ_ONLY'];

export const settingsRoute = createRoute({ getParentRoute: () => appRoute, path: '/settings', component: Settings });
export const templateRoute = createRoute({ getParentRoute: () => appRoute, path: '/settings/templates/$event', component: TemplateEditor });

function Settings() {
  return (
    <>
      <h1>Settings</h1>
      <ul className="links">
        <li>
          <Link to="/settings/billing">Billing and dunning</Link>: seller, numbering, reminders, suspension and termination for non-payment
        </li>
        <li>
          <Link to="/settings/webhooks">Webhook endpoints</Link>: where mPanel sends its events, with each endpoint&apos;s delivery log
        </li>
      </ul>
      <TwoFactorPolicy />
      <TaxRates />
      <Templates />
    </>
  );
}

function TwoFactorPolicy() {
  const queryClient = useQueryClient();
  const policy = useQuery({ queryKey: ['two-factor-policy'], queryFn: () => must(api.GET('/api/two-factor-policy')) });
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = useMutation({
    mutationFn: (body: components['schemas']['TwoFactorPolicy']) => must(api.PUT('/api/two-factor-policy', { body })),
    onSuccess: async () => {
      setSaved(true);
      await queryClient.invalidateQueries({ queryKey: ['two-factor-policy'] });
    },
    onError: setError,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    setSaved(false);
    const form = new FormData(event.currentTarget);
    save.mutate({ twoFactorStaffRoles: ROLES.filter((role) => form.get(`role-${role}`) === 'on'), twoFactorCustomers: form.get('customers') === 'on' });
  };
  return (
    <section aria-labelledby="two-factor-title">
      <h2 id="two-factor-title">Two-factor sign-in</h2>
      <QueryState query={policy} what="the two-factor policy">
        {(current) => (
          <form onSubmit={submit} noValidate>
            <fieldset>
              <legend>Staff roles that must use a second factor (they set it up at their next sign-in)</legend>
              {ROLES.map((role) => (
                <label key={role} className="check">
                  <input type="checkbox" name={`role-${role}`} defaultChecked={current.twoFactorStaffRoles.includes(role)} /> {role}
                </label>
              ))}
            </fieldset>
            <label className="check">
              <input type="checkbox" name="customers" defaultChecked={current.twoFactorCustomers} /> Customers must use a second factor in the portal
            </label>
            <FormError error={error} fields={['twoFactorStaffRoles', 'twoFactorCustomers']} />
            <button type="submit" className="primary" disabled={save.isPending}>
              {save.isPending ? 'Saving…' : 'Save'}
            </button>
            {saved && <p role="status">Saved.</p>}
          </form>
        )}
      </QueryState>
    </section>
  );
}

function TaxRates() {
  const queryClient = useQueryClient();
  const rates = useQuery({ queryKey: ['tax-rates'], queryFn: () => must(api.GET('/api/tax-rates')) });
  const [error, setError] = useState<unknown>(null);
  const create = useMutation({
    mutationFn: (body: { name: string; country: string | null; rateBps: number; inclusive: boolean }) => must(api.POST('/api/tax-rates', { body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['tax-rates'] }),
    onError: setError,
  });
  const toggle = useMutation({
    mutationFn: ({ id, active }: { id: string; active: boolean }) => must(api.PATCH('/api/tax-rates/{id}', { params: { path: { id } }, body: { active } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['tax-rates'] }),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const form = new FormData(event.currentTarget);
    const percent = text(form, 'rateBps').trim().replace(',', '.');
    // "20" or "20.5" → basis points by string arithmetic; anything else goes as -1 and the API names the field.
    const match = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(percent);
    const rateBps = match ? Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0')) : -1;
    const country = text(form, 'country').trim().toUpperCase();
    create.mutate(
      { name: text(form, 'name'), country: country === '' ? null : country, rateBps, inclusive: form.get('inclusive') === 'on' },
      { onSuccess: () => (event.target as HTMLFormElement).reset() },
    );
  };
  return (
    <section aria-labelledby="tax-title">
      <h2 id="tax-title">Tax rates</h2>
      <QueryState query={rates} what="tax rates">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No tax rate: invoices carry no tax.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Country</th>
                  <th scope="col">Rate</th>
                  <th scope="col">Prices</th>
                  <th scope="col">In use</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((rate) => (
                  <tr key={rate.id}>
                    <td>{rate.name}</td>
                    <td>{rate.country ?? 'any other'}</td>
                    <td>{(rate.rateBps / 100).toFixed(2)} %</td>
                    <td>{rate.inclusive ? 'include it' : 'exclude it'}</td>
                    <td>
                      <button type="button" onClick={() => toggle.mutate({ id: rate.id, active: !rate.active })} disabled={toggle.isPending}>
                        {rate.active ? 'Deactivate' : 'Activate'} {rate.name}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
      <form onSubmit={submit} noValidate>
        <h3>New tax rate</h3>
        <Field label="Name" field="name" required error={error} />
        <Field label="Country (ISO code, empty for every other)" field="country" maxLength={2} error={error} />
        <Field label="Rate (%)" field="rateBps" inputMode="decimal" required error={error} hint="e.g. 20 or 7.5" />
        <label className="check">
          <input type="checkbox" name="inclusive" /> Prices include this tax
        </label>
        <FormError error={error} fields={['name', 'country', 'rateBps', 'inclusive']} />
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? 'Adding…' : 'Add tax rate'}
        </button>
      </form>
    </section>
  );
}

function Templates() {
  const templates = useQuery({ queryKey: ['notification-templates'], queryFn: () => must(api.GET('/api/notification-templates')) });
  return (
    <section aria-labelledby="templates-title">
      <h2 id="templates-title">Email templates</h2>
      <QueryState query={templates} what="email templates">
        {(list) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Sent to</th>
                <th scope="col">Template</th>
                <th scope="col">Changed</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((template) => (
                <tr key={template.event}>
                  <td>
                    <Link to="/settings/templates/$event" params={{ event: template.event }}>
                      {template.event}
                    </Link>
                  </td>
                  <td>{template.audience}</td>
                  <td>{template.source === 'tenant' ? 'yours' : 'mPanel’s'}</td>
                  <td>{dateTime(template.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryState>
    </section>
  );
}

function TemplateEditor() {
  // From the URL: an event the API does not know is its 400, shown as the error state.
  const event = templateRoute.useParams().event as EventType;
  const queryClient = useQueryClient();
  const template = useQuery({ queryKey: ['notification-template', event], queryFn: () => must(api.GET('/api/notification-templates/{event}', { params: { path: { event } } })) });
  const [error, setError] = useState<unknown>(null);
  const [preview, setPreview] = useState<{ subject: string; text: string } | null>(null);
  const [saved, setSaved] = useState(false);
  const previewId = useId();
  const parts = (form: HTMLFormElement) => {
    const data = new FormData(form);
    return { subject: text(data, 'subject'), text: text(data, 'text'), html: text(data, 'html') };
  };
  const run = async (work: () => Promise<void>) => {
    setError(null);
    setSaved(false);
    try {
      await work();
    } catch (caught) {
      setError(caught);
    }
  };
  const onPreview = (form: HTMLFormElement) =>
    run(async () => {
      const rendered = await must(api.POST('/api/notification-templates/{event}/preview', { params: { path: { event } }, body: parts(form) }));
      setPreview({ subject: rendered.subject, text: rendered.text });
    });
  const onSave = (submitted: FormEvent<HTMLFormElement>) => {
    submitted.preventDefault();
    const form = submitted.currentTarget;
    void run(async () => {
      await must(api.PUT('/api/notification-templates/{event}', { params: { path: { event } }, body: parts(form) }));
      setSaved(true);
      await queryClient.invalidateQueries({ queryKey: ['notification-templates'] });
    });
  };
  return (
    <QueryState query={template} what="the template">
      {(current) => (
        <>
          <h1>Email: {current.event}</h1>
          <p>Placeholders: {current.variables.map((name) => `{{${name}}}`).join(' ')}</p>
          <form onSubmit={onSave} noValidate>
            <Field label="Subject" field="subject" defaultValue={current.subject} required error={error} />
            <TextAreaField label="Text part" field="text" defaultValue={current.text} error={error} />
            <TextAreaField label="HTML part" field="html" defaultValue={current.html} error={error} />
            <FormError error={error} fields={['subject', 'text', 'html']} />
            <div className="actions">
              <button type="button" onClick={(click) => void onPreview(click.currentTarget.form!)}>
                Preview
              </button>
              <button type="submit" className="primary">
                Save
              </button>
            </div>
            {saved && <p role="status">Saved: the next {current.event} email uses it.</p>}
          </form>
          {preview && (
            <section aria-labelledby={previewId}>
              <h2 id={previewId}>Preview with sample values</h2>
              <p>
                <strong>{preview.subject}</strong>
              </p>
              <pre className="wrap">{preview.text}</pre>
            </section>
          )}
        </>
      )}
    </QueryState>
  );
}
