/** A start-up problem a person can fix: printed without a stack trace, naming the setting. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Shows a connection URL without its password. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
