import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { fieldError, messageOf } from '../api/problem';

/** The API's message for a field, under it: `${id}-error`, which the field's aria-describedby names. */
export function FieldMessage({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <small id={`${id}-error`} className="field-error" role="alert">
      {message}
    </small>
  ) : null;
}

/** A labelled input with the API's message for its field shown next to it (problem+json `errors`). */
export function Field({ label, field, error, hint, ...input }: { label: string; field: string; error: unknown; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const message = fieldError(error, field);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={field} aria-invalid={message ? true : undefined} aria-describedby={message ? `${id}-error` : undefined} {...input} />
      {hint && !message && <small>{hint}</small>}
      <FieldMessage id={id} message={message} />
    </div>
  );
}

export function TextAreaField({ label, field, error, ...area }: { label: string; field: string; error: unknown } & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId();
  const message = fieldError(error, field);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} name={field} rows={8} aria-invalid={message ? true : undefined} aria-describedby={message ? `${id}-error` : undefined} {...area} />
      <FieldMessage id={id} message={message} />
    </div>
  );
}

export function SelectField({ label, field, error, options, ...select }: { label: string; field: string; error: unknown; options: readonly string[] } & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  const message = fieldError(error, field);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={field} aria-invalid={message ? true : undefined} aria-describedby={message ? `${id}-error` : undefined} {...select}>
        {options.map((option) => (
          <option key={option} value={option}>
            {option || 'any'}
          </option>
        ))}
      </select>
      <FieldMessage id={id} message={message} />
    </div>
  );
}

/** Form-level error: the API's title and detail when no field carries it. */
export function FormError({ error, fields }: { error: unknown; fields: readonly string[] }) {
  if (!error) return null;
  if (fields.some((field) => fieldError(error, field))) return null;
  return (
    <p className="error" role="alert">
      {messageOf(error)}
    </p>
  );
}

/** A list's status filter: one select, `onChange` with the status chosen (undefined: any), which the screen keeps in the URL. */
export function StatusFilter<Status extends string>({ statuses, value, onChange }: { statuses: readonly Status[]; value: Status | undefined; onChange: (status: Status | undefined) => void }) {
  return (
    <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <SelectField label="Status" field="status" error={null} options={['', ...statuses]} value={value ?? ''} onChange={(event) => onChange(statuses.find((status) => status === event.target.value))} />
    </form>
  );
}
