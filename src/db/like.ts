/**
 * `%text%` for LIKE / ILIKE, with the caller's `%`, `_` and `\` escaped (backslash is PostgreSQL's
 * default LIKE escape), so a search for "50%" matches those three characters, not "50" and anything.
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, '\\$&')}%`;
}
