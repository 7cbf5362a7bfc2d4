import type { z } from 'zod';
import { dateTimeFormat, numberFormat } from '../../shared/locale.js';
import { domainEventCatalogue, type DomainEventType } from './domain-events.js';

/**
 * Email templates: a subject, a text body and an HTML body with `{{name}}` placeholders. The
 * names a template may use are its event's payload fields plus a few common ones; anything else
 * is refused when a tenant saves an override, so a typo never sends a message with a hole in it.
 * Every value is escaped in the HTML part (customer input such as a name or a reason is never
 * markup); there is no unescaped form on purpose.
 */
export interface EmailTemplate {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export const commonVariables = ['recipientName', 'brandName', 'occurredAt', 'eventId', 'eventType'] as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

/** The variables a template of `type` may use, in a stable order. */
export function templateVariables(type: DomainEventType): string[] {
  const schema: z.ZodObject = domainEventCatalogue[type];
  return [...commonVariables, ...Object.keys(schema.shape)];
}

export interface TemplateProblem {
  readonly part: keyof EmailTemplate;
  readonly message: string;
}

/** What is wrong with a template for `type`: unknown variables, braces that are no placeholder. */
export function checkTemplate(type: DomainEventType, template: EmailTemplate): TemplateProblem[] {
  const known = new Set(templateVariables(type));
  const problems: TemplateProblem[] = [];
  for (const part of ['subject', 'text', 'html'] as const) {
    const source = template[part];
    for (const match of source.matchAll(PLACEHOLDER)) {
      const name = match[1] ?? '';
      if (!known.has(name)) problems.push({ part, message: `unknown variable {{${name}}}; known: ${[...known].join(', ')}` });
    }
    const leftover = source.replace(PLACEHOLDER, '');
    if (leftover.includes('{{') || leftover.includes('}}')) problems.push({ part, message: 'has "{{" or "}}" that is not a {{variable}}' });
    if (part === 'subject' && /[\r\n]/.test(source)) problems.push({ part, message: 'must be one line' });
  }
  return problems;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

/** Replaces each placeholder with its value (escaped for HTML when `html`); a missing value is empty. */
export function fill(source: string, values: Readonly<Record<string, string>>, html: boolean): string {
  return source.replace(PLACEHOLDER, (_whole, name: string) => {
    const value = values[name] ?? '';
    return html ? escapeHtml(value) : value;
  });
}

export interface Formats {
  readonly locale: string;
  readonly timeZone: string;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function isMoney(value: unknown): value is { amount: number; currency: string } {
  return typeof value === 'object' && value !== null && 'amount' in value && 'currency' in value && typeof value.amount === 'number' && typeof value.currency === 'string';
}

/** Money in integer minor units, written in the locale (JPY has none, EUR two, BHD three). */
export function formatMoney(money: { amount: number; currency: string }, formats: Formats): string {
  const format = numberFormat(formats.locale, { style: 'currency', currency: money.currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(money.amount / 10 ** digits);
}

export function formatDate(iso: string, formats: Formats): string {
  return dateTimeFormat(formats.locale, { dateStyle: 'long', timeStyle: 'short', timeZone: formats.timeZone }).format(new Date(iso));
}

/** A payload value as a person reads it: money and dates in the locale, lists joined. */
export function formatValue(value: unknown, formats: Formats): string {
  if (value === null || value === undefined) return '';
  if (isMoney(value)) return formatMoney(value, formats);
  if (Array.isArray(value)) return value.map((item) => formatValue(item, formats)).join(', ');
  if (typeof value === 'string') return ISO_TIME.test(value) && !Number.isNaN(Date.parse(value)) ? formatDate(value, formats) : value;
  if (typeof value === 'number') return numberFormat(formats.locale).format(value);
  if (typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
