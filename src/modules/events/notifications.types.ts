import { z } from 'zod';
import { timestamp } from '../../shared/http/schemas.js';
import { localeTag } from '../../shared/locale.js';
import { domainEventTypes } from './domain-events.js';

export const eventTypeParams = z.strictObject({
  event: z.enum(domainEventTypes).meta({ description: 'A domain event type, e.g. invoice.issued' }),
});

const templatePart = (max: number) => z.string().min(1).max(max);

export const templateBody = z.strictObject({
  subject: templatePart(300).meta({ description: 'One line; {{variable}} placeholders' }),
  text: templatePart(20_000).meta({ description: 'The plain-text part; {{variable}} placeholders' }),
  html: templatePart(50_000).meta({ description: 'The HTML part (inside the branded layout); every {{variable}} value is HTML-escaped' }),
});
export type TemplateBody = z.infer<typeof templateBody>;

export const previewBody = z
  .strictObject({
    subject: templatePart(300).optional(),
    text: templatePart(20_000).optional(),
    html: templatePart(50_000).optional(),
  })
  .meta({ description: 'Parts to try instead of the saved template (each optional); checked like a save' });

export const templateView = z.object({
  event: z.string(),
  source: z.enum(['file', 'tenant']).meta({ description: 'file: the template shipped with mPanel; tenant: the tenant\'s override' }),
  audience: z.enum(['customer', 'staff', 'none']),
  variables: z.array(z.string()),
  subject: z.string(),
  text: z.string(),
  html: z.string(),
  updatedAt: timestamp.nullable(),
});
export type TemplateView = z.infer<typeof templateView>;

export const templateList = z.object({ items: z.array(templateView) });

export const renderedEmail = z.object({ subject: z.string(), text: z.string(), html: z.string() });

const httpUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .meta({ description: 'http(s) URL' });

export const notificationSettingsBody = z.strictObject({
  senderName: z.string().min(1).max(100).regex(/^[^\r\n<>"]+$/, 'must be one line without < > or "').nullable().optional(),
  replyTo: z.email().max(254).nullable().optional(),
  brandName: z.string().min(1).max(100).regex(/^[^\r\n]+$/, 'must be one line').nullable().optional(),
  logoUrl: httpUrl.nullable().optional(),
  primaryColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #1f6feb').nullable().optional(),
  footerAddress: z.string().min(1).max(500).nullable().optional(),
  locale: localeTag.optional(),
  timeZone: z
    .string()
    .max(64)
    .refine((value) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: value });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone like Europe/Paris')
    .optional(),
});
export type NotificationSettingsBody = z.infer<typeof notificationSettingsBody>;

export const notificationSettingsView = z.object({
  senderName: z.string().nullable(),
  replyTo: z.string().nullable(),
  brandName: z.string().nullable(),
  logoUrl: z.string().nullable(),
  primaryColor: z.string().nullable(),
  footerAddress: z.string().nullable(),
  locale: z.string(),
  timeZone: z.string(),
});
export type NotificationSettingsView = z.infer<typeof notificationSettingsView>;
