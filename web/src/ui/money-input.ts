/**
 * "4.99" → 499 minor units, by string arithmetic (money never goes through a float). Undefined
 * when the text is not an amount with at most `digits` decimals; the API then names the field.
 */
export function toMinorUnits(text: string, digits = 2): number | undefined {
  const match = /^(\d{1,9})(?:[.,](\d+))?$/.exec(text.trim());
  if (!match) return undefined;
  const [, whole = '0', fraction = ''] = match;
  if (fraction.length > digits) return undefined;
  return Number(whole + fraction.padEnd(digits, '0'));
}
