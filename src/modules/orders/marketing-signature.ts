import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * `X-Mpanel-Signature: t=<unix seconds>,v1=<hex>`, v1 = HMAC-SHA256(secret, `${t}.${rawBody}`).
 * Several v1 values may be sent (secret rotation): one match is enough. Rejected when the
 * timestamp is more than `toleranceSeconds` away from now, in either direction.
 */
export const SIGNATURE_HEADER = 'x-mpanel-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function signMarketingPayload(secret: string, rawBody: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

export function verifyMarketingSignature(secret: string, header: string | undefined, rawBody: Buffer | undefined, nowSeconds = Date.now() / 1000): void {
  const reject = (why: string) => new AppError('UNAUTHENTICATED', `Invalid X-Mpanel-Signature: ${why}`);
  if (!header) throw reject('the header is missing');
  if (!rawBody) throw reject('the request has no JSON body');
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (!key || value === undefined || rest.length > 0) throw reject('expected t=<unix seconds>,v1=<hex>');
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
    else throw reject('expected t=<unix seconds>,v1=<hex>');
  }
  if (timestamp === undefined || candidates.length === 0) throw reject('expected t=<unix seconds>,v1=<hex>');
  if (Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) throw reject(`the timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} s from now`);
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
  const matches = candidates.some((candidate) => timingSafeEqual(Buffer.from(candidate, 'hex'), expected));
  if (!matches) throw reject('the signature does not match the body');
}
