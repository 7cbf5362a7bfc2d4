import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link } from '@tanstack/react-router';
import { useEffect, useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { appRoute } from '../routes';
import { text } from '../search';
import { Field, FormError } from '../ui/form';
import { QueryState } from '../ui/states';

type Settings = components['schemas']['BillingSettings'];
type Update = components['schemas']['BillingSettingsUpdateInput'];

export const billingSettingsRoute = createRoute({ getParentRoute: () => appRoute, path: '/settings/billing', component: BillingSettings });

const ADDRESS_FIELDS = ['line1', 'line2', 'postalCode', 'city', 'region', 'country'] as const;

const FIELDS = [
  'sellerName',
  'sellerTaxId',
  ...ADDRESS_FIELDS.map((part) => `sellerAddress.${part}` as const),
  'invoiceNumberFormat',
  'creditNoteNumberFormat',
  'renewalLeadDays',
  'paymentTermsDays',
  'reminderDays',
  'overdueNoticeDays',
  'suspendAfterDays',
  'terminationEnabled',
  'terminationWarningDays',
  'terminateAfterDays',
  'cancellationRetentionDays',
] as const;

/**
 * "7" → 7. Anything that is not a whole number goes as -1, so the API refuses it and names the
 * field (the console never second-guesses the API's limits).
 */
const whole = (value: string): number => (/^\s*\d{1,4}\s*$/.test(value) ? Number(value) : -1);
/** "7, 1" → [7, 1]; empty → []. */
const dayList = (value: string): number[] =>
  value
    .split(/[\s,;]+/)
    .filter((part) => part !== '')
    .map(whole);

function BillingSettings() {
  const queryClient = useQueryClient();
  const settings = useQuery({ queryKey: ['billing-settings'], queryFn: () => must(api.GET('/api/billing/settings')) });
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const save = useMutation({
    mutationFn: (body: Update) => must(api.PATCH('/api/billing/settings', { body })),
    onSuccess: (updated) => {
      setSaved(true);
      queryClient.setQueryData(['billing-settings'], updated);
    },
    onError: setError,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    setSaved(false);
    const form = new FormData(event.currentTarget);
    const optional = (name: string): string | null => text(form, name).trim() || null;
    // All parts empty: no address. Otherwise what was typed (an empty required part is the API's to name).
    const part = (name: (typeof ADDRESS_FIELDS)[number]) => text(form, `sellerAddress.${name}`).trim();
    const sellerAddress = ADDRESS_FIELDS.every((name) => part(name) === '')
      ? null
      : {
          line1: part('line1'),
          ...(part('line2') ? { line2: part('line2') } : {}),
          city: part('city'),
          ...(part('postalCode') ? { postalCode: part('postalCode') } : {}),
          ...(part('region') ? { region: part('region') } : {}),
          country: part('country').toUpperCase(),
        };
    save.mutate({
      sellerName: optional('sellerName'),
      sellerAddress,
      sellerTaxId: optional('sellerTaxId'),
      invoiceNumberFormat: text(form, 'invoiceNumberFormat').trim(),
      creditNoteNumberFormat: text(form, 'creditNoteNumberFormat').trim(),
      renewalLeadDays: whole(text(form, 'renewalLeadDays')),
      paymentTermsDays: whole(text(form, 'paymentTermsDays')),
      reminderDays: dayList(text(form, 'reminderDays')),
      overdueNoticeDays: dayList(text(form, 'overdueNoticeDays')),
      suspendAfterDays: whole(text(form, 'suspendAfterDays')),
      terminationEnabled: form.get('terminationEnabled') === 'on',
      terminationWarningDays: whole(text(form, 'terminationWarningDays')),
      terminateAfterDays: whole(text(form, 'terminateAfterDays')),
      cancellationRetentionDays: whole(text(form, 'cancellationRetentionDays')),
    });
  };
  return (
    <>
      <p>
        <Link to="/settings">All settings</Link>
      </p>
      <h1>Billing and dunning</h1>
      <QueryState query={settings} what="the billing settings">
        {(current) => <SettingsForm key={JSON.stringify(current)} current={current} error={error} saving={save.isPending} saved={saved} onSubmit={submit} />}
      </QueryState>
      <LogoForm />
    </>
  );
}

/** The file's bytes as base64 (the API takes the logo base64 in JSON). */
function base64Of(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => (typeof reader.result === 'string' ? resolve(reader.result.replace(/^data:[^,]*,/, '')) : reject(new Error('the file cannot be read')));
    reader.onerror = () => reject(reader.error ?? new Error('the file cannot be read'));
    reader.readAsDataURL(file);
  });
}

/**
 * The logo on invoice and credit note PDFs: shown from the API's bytes (through a blob URL: the
 * token is not in cookies, so an <img src> could not carry it), replaced by a PNG or JPEG the API
 * checks, or removed.
 */
function LogoForm() {
  const queryClient = useQueryClient();
  const logo = useQuery({
    queryKey: ['billing-logo'],
    queryFn: async () => {
      const { data, response } = await api.GET('/api/billing/settings/logo', { parseAs: 'blob' });
      if (response.status === 404) return null;
      if (!data) throw new Error(`the logo cannot be read (${response.status})`);
      return data;
    },
  });
  const [preview, setPreview] = useState<string | null>(null);
  useEffect(() => {
    if (!logo.data) return setPreview(null);
    const url = URL.createObjectURL(logo.data);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [logo.data]);
  const [error, setError] = useState<unknown>(null);
  const done = () => {
    setError(null);
    void queryClient.invalidateQueries({ queryKey: ['billing-logo'] });
  };
  const upload = useMutation({
    mutationFn: async (file: File) => must(api.PUT('/api/billing/settings/logo', { body: { image: await base64Of(file) } })),
    onSuccess: done,
    onError: setError,
  });
  const remove = useMutation({ mutationFn: () => must(api.DELETE('/api/billing/settings/logo')), onSuccess: done, onError: setError });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const file = new FormData(event.currentTarget).get('image');
    if (file instanceof File && file.size > 0) upload.mutate(file);
  };
  return (
    <form onSubmit={submit} noValidate>
      <fieldset className="grid-form">
        <legend>Logo on invoices and credit notes</legend>
        {preview ? <img src={preview} alt="Current logo" style={{ maxWidth: 200, maxHeight: 40, objectFit: 'contain' }} /> : <p>No logo: the brand name is printed instead.</p>}
        <Field label="PNG or JPEG file" field="image" type="file" accept="image/png,image/jpeg" error={error} hint="at most 256 KB and 2048 pixels a side; scaled to fit 200 × 40 points" />
      </fieldset>
      <FormError error={error} fields={['image']} />
      <button type="submit" className="primary" disabled={upload.isPending}>
        {upload.isPending ? 'Uploading…' : 'Upload logo'}
      </button>{' '}
      {preview && (
        <button type="button" onClick={() => remove.mutate()} disabled={remove.isPending}>
          Remove logo
        </button>
      )}
    </form>
  );
}

function SettingsForm({ current, error, saving, saved, onSubmit }: { current: Settings; error: unknown; saving: boolean; saved: boolean; onSubmit: (event: FormEvent<HTMLFormElement>) => void }) {
  const days = (label: string, field: (typeof FIELDS)[number], value: number, hint?: string) => (
    <Field label={label} field={field} inputMode="numeric" defaultValue={String(value)} error={error} hint={hint} />
  );
  return (
    <form onSubmit={onSubmit} noValidate>
      <fieldset className="grid-form">
        <legend>Seller and numbering (invoices issued from now on)</legend>
        <Field label="Seller name" field="sellerName" defaultValue={current.sellerName ?? ''} error={error} />
        <Field label="Seller tax id" field="sellerTaxId" defaultValue={current.sellerTaxId ?? ''} error={error} />
        <Field label="Address line 1" field="sellerAddress.line1" defaultValue={current.sellerAddress?.line1 ?? ''} error={error} hint="printed on invoices and credit notes; all address fields empty for none" />
        <Field label="Address line 2" field="sellerAddress.line2" defaultValue={current.sellerAddress?.line2 ?? ''} error={error} />
        <Field label="Postal code" field="sellerAddress.postalCode" defaultValue={current.sellerAddress?.postalCode ?? ''} error={error} />
        <Field label="City" field="sellerAddress.city" defaultValue={current.sellerAddress?.city ?? ''} error={error} />
        <Field label="Region" field="sellerAddress.region" defaultValue={current.sellerAddress?.region ?? ''} error={error} />
        <Field label="Country (ISO code)" field="sellerAddress.country" defaultValue={current.sellerAddress?.country ?? ''} error={error} hint="e.g. DE, FR, US" maxLength={2} />
        <Field label="Invoice number format" field="invoiceNumberFormat" defaultValue={current.invoiceNumberFormat} error={error} hint="{YYYY} {YY} {MM} and one counter, e.g. INV-{YYYY}-{000000}" />
        <Field label="Credit note number format" field="creditNoteNumberFormat" defaultValue={current.creditNoteNumberFormat} error={error} />
        {days('Invoice this many days before renewal', 'renewalLeadDays', current.renewalLeadDays)}
        {days('Payment terms (days)', 'paymentTermsDays', current.paymentTermsDays)}
      </fieldset>
      <fieldset className="grid-form">
        <legend>Dunning: days relative to an unpaid invoice&apos;s due date</legend>
        <Field label="Reminders, days before due" field="reminderDays" defaultValue={current.reminderDays.join(', ')} error={error} hint="e.g. 7, 1 — empty for none" />
        <Field label="Overdue notices, days after due" field="overdueNoticeDays" defaultValue={current.overdueNoticeDays.join(', ')} error={error} hint="e.g. 1, 3" />
        {days('Suspend for non-payment, days after due', 'suspendAfterDays', current.suspendAfterDays)}
        <label className="check">
          <input type="checkbox" name="terminationEnabled" defaultChecked={current.terminationEnabled} /> Terminate for non-payment (deletes the site, mail and DNS)
        </label>
        {days('Final notice, days after due', 'terminationWarningDays', current.terminationWarningDays, 'when termination is on')}
        {days('Terminate, days after due', 'terminateAfterDays', current.terminateAfterDays, 'when termination is on')}
        {days('Terminate a cancelled subscription, days after its period', 'cancellationRetentionDays', current.cancellationRetentionDays)}
      </fieldset>
      <FormError error={error} fields={FIELDS} />
      <button type="submit" className="primary" disabled={saving}>
        {saving ? 'Saving…' : 'Save billing settings'}
      </button>
      {saved && <p role="status">Saved: the next billing run uses them.</p>}
    </form>
  );
}
