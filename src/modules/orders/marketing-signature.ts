import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * `X-Mpanel-Signature: t=<unix seconds>,v1=<hex>`, v1 = HMAC-SHA256(secret, `${t}.${rawBody}`).
 * Several v1 values may be sent (secret rotation): one match is enough. Rejected when the
 * timestamp is more than `toleranceSeconds` away from now, in either direction.
 */
export const SIGNATURE_HEADER = 'x-mpanel-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;
/**
 * The largest order body accepted (413 beyond): a real order is under 2 KB (a customer, a plan,
 * a domain, up to a few dozen mailbox names); the signature is checked over bodies up to this.
 */
export const ORDER_BODY_LIMIT_BYTES = 64 * 1024;

export function signMarketingPayload(secret: string, rawBody: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export interface MarketingSignatureHeader {
  readonly timestamp: number;
  /** The v1 values, hex. */
  readonly candidates: readonly string[];
}

/**
 * The checks that need no body: the header is present, well formed, and its timestamp within
 * the window. Run before the body is read, so that an unsigned request costs nothing.
 */
export function checkMarketingSignatureHeader(header: string | undefined, nowSeconds = Date.now() / 1000): MarketingSignatureHeader {
  if (!header) throw rejectSignature('the header is missing');
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (!key || value === undefined || rest.length > 0) throw rejectSignature('expected t=<unix seconds>,v1=<hex>');
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
    else throw rejectSignature('expected t=<unix seconds>,v1=<hex>');
  }
  if (timestamp === undefined || candidates.length === 0) throw rejectSignature('expected t=<unix seconds>,v1=<hex>');
  if (Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) throw rejectSignature(`the timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s from now`);
  return { timestamp, candidates };
}

export function verifyMarketingSignature(secret: string, header: string | undefined, rawBody: Buffer | undefined, nowSeconds = Date.now() / 1000): void {
  const { timestamp, candidates } = checkMarketingSignatureHeader(header, nowSeconds);
  if (!rawBody) throw rejectSignature('the request has no JSON body');
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
  const matches = candidates.some((candidate) => timingSafeEqual(Buffer.from(candidate, 'hex'), expected));
  if (!matches) throw rejectSignature('the signature does not match the body');
}

function rejectSignature(why: string): AppError {
  return new AppError('UNAUTHENTICATED', `Invalid X-Mpanel-Signature: ${why}`);
}

/**
 * The route options of every webhook the marketing site signs (orders, payments): bodies up to
 * ORDER_BODY_LIMIT_BYTES; the header's presence, format and time window checked before the body
 * is read (a request without a plausible, fresh signature costs nothing more); the signature
 * itself before body validation (an unsigned request is 401 whatever its body).
 */
export function marketingSignedRoute(secret: string) {
  const headerOf = (request: FastifyRequest): string | undefined => {
    const header = request.headers[SIGNATURE_HEADER];
    return typeof header === 'string' ? header : undefined;
  };
  return {
    bodyLimit: ORDER_BODY_LIMIT_BYTES,
    onRequest: async (request: FastifyRequest) => {
      checkMarketingSignatureHeader(headerOf(request));
    },
    preValidation: async (request: FastifyRequest) => {
      verifyMarketingSignature(secret, headerOf(request), request.rawBody);
    },
  };
}
