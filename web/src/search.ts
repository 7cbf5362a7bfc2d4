/** A search parameter as an optional non-empty string (URLs carry anything). */
export const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Only the keys whose value is set, so URLs stay short and API queries carry no empty filters. */
export function defined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined && value !== '')) as Partial<T>;
}

/** A form field's text ('' when absent or a file). */
export const text = (form: FormData, name: string): string => {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
};
