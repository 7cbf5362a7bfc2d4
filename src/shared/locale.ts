import { z } from 'zod';

/**
 * A BCP 47 language tag (`en-GB`, `de-DE`, `pt-BR`) as `Intl` accepts it, in its canonical form:
 * the locale emails, invoices and PDFs write dates and money in.
 */
export const localeTag = z
  .string()
  .max(35)
  .transform((value, ctx) => {
    try {
      const [canonical] = Intl.getCanonicalLocales(value);
      if (canonical) return canonical;
    } catch {
      // Refused below.
    }
    ctx.addIssue({ code: 'custom', message: 'must be a BCP 47 language tag like en-GB' });
    return z.NEVER;
  })
  .meta({ description: 'BCP 47 language tag, e.g. en-GB', examples: ['en-GB', 'de-DE'] });
