import { describe, expect, it } from 'vitest';
import { formatMoney } from '../modules/events/email-template.js';
import { dateTimeFormat, localeTag, numberFormat } from './locale.js';

describe('Intl formatters', () => {
  it('builds one formatter per locale and options, and a new one when either differs', () => {
    const options = { dateStyle: 'long', timeZone: 'Europe/Berlin' } as const;
    expect(dateTimeFormat('de-DE', options)).toBe(dateTimeFormat('de-DE', { ...options }));
    expect(dateTimeFormat('de-DE', options)).not.toBe(dateTimeFormat('en-GB', options));
    expect(dateTimeFormat('de-DE', options)).not.toBe(dateTimeFormat('de-DE', { ...options, timeZone: 'UTC' }));
    expect(numberFormat('en-GB', { style: 'currency', currency: 'EUR' })).not.toBe(numberFormat('en-GB', { style: 'currency', currency: 'JPY' }));
  });

  it('formats as a fresh formatter would, whatever was formatted before', () => {
    const at = new Date('2026-03-01T23:30:00Z');
    expect(dateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'Asia/Tokyo' }).format(at)).toBe('2 March 2026');
    expect(dateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' }).format(at)).toBe('1 March 2026');
    expect(formatMoney({ amount: 1234, currency: 'EUR' }, { locale: 'en-GB', timeZone: 'UTC' })).toBe('€12.34');
    expect(formatMoney({ amount: 1234, currency: 'JPY' }, { locale: 'en-GB', timeZone: 'UTC' })).toBe('JP¥1,234');
    expect(formatMoney({ amount: 1234, currency: 'BHD' }, { locale: 'en-GB', timeZone: 'UTC' })).toMatch(/^BHD\s1\.234$/); // ICU puts a no-break space there
  });

  it('canonicalises a language tag and refuses what is not one', () => {
    expect(localeTag.parse('en-gb')).toBe('en-GB');
    expect(localeTag.safeParse('not a locale!').success).toBe(false);
  });
});
