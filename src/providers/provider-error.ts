/**
 * Base of the errors adapters throw when an operation on the outside world fails. `permanent`:
 * trying again cannot help until someone changes something (the input, a server's settings, a
 * configuration); otherwise it may (a host that is down, a connection cut). The job runner fails a
 * step at once on a permanent error and retries the others with backoff.
 */
export class ProviderError extends Error {
  override name = 'ProviderError';

  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
