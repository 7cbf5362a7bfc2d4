import type { ErrorCode } from './app-error.js';

/** The one place an error code becomes an HTTP status and an RFC 9457 problem title. */
export const errorHttp: Readonly<Record<ErrorCode, { status: number; title: string }>> = {
  VALIDATION_FAILED: { status: 400, title: 'Validation failed' },
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  UNAUTHENTICATED: { status: 401, title: 'Unauthenticated' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request timeout' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  UPSTREAM_REJECTED: { status: 422, title: 'Rejected by an upstream service' },
  DEPENDENCY_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  INTERNAL: { status: 500, title: 'Internal server error' },
};

export function statusForCode(code: ErrorCode): number {
  return errorHttp[code].status;
}
