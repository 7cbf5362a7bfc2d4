/**
 * Errors as data: business code throws an AppError with a code; ONE map (http-status.ts) turns the
 * code into an HTTP status at the edge. Business code never imports Fastify.
 */
export const errorCodes = [
  'VALIDATION_FAILED',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'REQUEST_TIMEOUT',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'HEADERS_TOO_LARGE',
  'RATE_LIMITED',
  'DEPENDENCY_UNAVAILABLE',
  'UPSTREAM_REJECTED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/** One offending field: a JSON pointer-ish path ("body/customer/email") and what is wrong with it. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface AppErrorOptions {
  readonly fields?: readonly FieldError[];
  /** Extra members for the problem document (must be safe to show to the caller). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Seconds, for RATE_LIMITED and DEPENDENCY_UNAVAILABLE. */
  readonly retryAfterSeconds?: number;
  readonly cause?: unknown;
}

export class AppError extends Error {
  readonly fields: readonly FieldError[];
  readonly details: Readonly<Record<string, unknown>>;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.fields = options.fields ?? [];
    this.details = options.details ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, fields?: readonly FieldError[]) =>
  new AppError('CONFLICT', message, fields ? { fields } : {});
export const validationFailed = (fields: readonly FieldError[], message = 'The request is not valid') =>
  new AppError('VALIDATION_FAILED', message, { fields });
