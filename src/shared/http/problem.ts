import { randomUUID } from 'node:crypto';
import { ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError, type ErrorCode, type FieldError } from '../errors/app-error.js';
import { errorHttp } from '../errors/http-status.js';
import { fromPgError } from '../errors/pg-errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** RFC 9457 problem document, as every error leaves the API. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance: string;
  requestId: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export function problemType(code: ErrorCode): string {
  return `urn:mpanel:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}

/** Fastify's own errors (body parsing, limits, content type) by their code. */
const fastifyCodes: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
};

/** Normalises anything thrown in a request into an AppError; unknown errors become INTERNAL. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = 'validationContext' in error && typeof error.validationContext === 'string' ? error.validationContext : 'body';
    const fields = error.validation.map((issue) => ({
      field: [where, ...issue.instancePath.split('/').filter(Boolean)].join('/'),
      message: issue.message ?? 'is not valid',
    }));
    return new AppError('VALIDATION_FAILED', `The request ${where} is not valid`, { fields });
  }
  if (isResponseSerializationError(error)) return new AppError('INTERNAL', 'Internal server error', { cause: error });
  const fromPg = fromPgError(error);
  if (fromPg) return fromPg;
  if (isFastifyError(error)) {
    const code = fastifyCodes[error.code];
    if (code) return new AppError(code, error.message, { cause: error });
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return new AppError('BAD_REQUEST', error.message, { cause: error });
    }
  }
  return new AppError('INTERNAL', 'Internal server error', { cause: error });
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && 'code' in error && typeof error.code === 'string';
}

export function buildProblem(error: AppError, request: FastifyRequest): Problem {
  const { status, title } = errorHttp[error.code];
  const problem: Problem = {
    ...error.details,
    type: problemType(error.code),
    title,
    status,
    detail: error.code === 'INTERNAL' ? 'An unexpected error occurred; it has been logged' : error.message,
    code: error.code,
    instance: request.url.split('?')[0] ?? request.url,
    requestId: request.id,
  };
  if (error.fields.length > 0) problem.errors = [...error.fields];
  return problem;
}

export function sendProblem(reply: FastifyReply, error: AppError): FastifyReply {
  const problem = buildProblem(error, reply.request);
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(problem);
}

/** The ONE error handler: logs server faults with their stack, client faults briefly. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const appError = toAppError(error);
  const status = errorHttp[appError.code].status;
  if (status >= 500) request.log.error({ err: error, code: appError.code }, 'request failed');
  else request.log.info({ code: appError.code, detail: appError.message }, 'request rejected');
  return sendProblem(reply, appError);
}

/** Node's refusals before there is a request, by the parser's or the server's error code. */
const clientErrors: Readonly<Record<string, { code: ErrorCode; detail: string }>> = {
  HPE_HEADER_OVERFLOW: { code: 'HEADERS_TOO_LARGE', detail: 'The request headers are larger than the server accepts' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { code: 'PAYLOAD_TOO_LARGE', detail: 'The chunk extensions are larger than the server accepts' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'REQUEST_TIMEOUT', detail: 'The request was not received in time' },
};

/**
 * The HTTP server's clientError handler: a refusal by Node itself (headers over maxHeaderSize,
 * a request not received within the header or request timeout, bytes that are not HTTP) leaves
 * as a problem document too, written on the socket since there is no request to reply to.
 */
export function writeClientErrorProblem(error: Error & { code?: string }, socket: Socket, log: Logger): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { code, detail } = clientErrors[error.code ?? ''] ?? { code: 'BAD_REQUEST' as const, detail: 'The request is not valid HTTP' };
  const { status, title } = errorHttp[code];
  const requestId = randomUUID();
  log.debug({ err: error, code, requestId }, 'client error');
  // A response already under way (a timeout while the handler answers) cannot be replaced.
  const response: unknown = Reflect.get(socket, '_httpMessage');
  if (socket.writable && !(response instanceof ServerResponse && response.headersSent)) {
    const body = JSON.stringify({ type: problemType(code), title, status, detail, code, requestId });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
