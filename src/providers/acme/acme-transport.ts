import http from 'node:http';
import https from 'node:https';
import { CertificateError } from '../certificates.port.js';
import { parseProblem, sanitizeCaMessage } from './acme-problems.js';

/**
 * The HTTP transport of one ACME authority, in place of acme-client's own.
 *
 * acme-client sends every request through ONE module-level axios instance (`acme.axios`): a CA
 * bundle (`httpsAgent`) or retry setting put there applies to every acme-client user in the
 * process, and its retry loop waits 5, 10, 15, 20, 25 s on a TLS failure and then throws a
 * TypeError that says nothing. This transport belongs to one authority instead:
 * - its own https.Agent, trusting `caCertificatePem` only when one is given (the system's roots
 *   otherwise); nothing process-wide is touched (no acme.axios defaults, no
 *   NODE_TLS_REJECT_UNAUTHORIZED);
 * - its own timeout and retries (connection errors, 5xx, 429 with a short Retry-After);
 * - a TLS verification failure is a CertificateError 'ca-untrusted' at once, never retried;
 * - answers are capped in size and parsed as acme-client expects (JSON, or text for the PEM chain).
 * acme-client's HttpClient.request(url, method, opts) is replaced per client (acme-authority.ts).
 */

export interface AcmeTransportSettings {
  /** PEM of the CA that signed the ACME server's TLS certificate (Pebble's), or null for the system's roots. */
  readonly caCertificatePem: string | null;
  /** Per request: connect, send, whole answer. */
  readonly requestTimeoutMs: number;
  /** Extra attempts after a connection error, a timeout, a 5xx or a 429. */
  readonly requestRetries: number;
  /** Wait before retry n is n × this (unless the CA sent Retry-After). */
  readonly retryDelayMs: number;
  /** A Retry-After longer than this is not waited for: the request fails as rate-limited at once. */
  readonly maxRetryAfterMs: number;
  readonly userAgent: string;
}

export interface AcmeHttpResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", " (Link). */
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON for JSON answers, the text otherwise ('' when empty). */
  readonly data: unknown;
}

/** What acme-client passes to HttpClient.request as its third argument (an axios config). */
export interface AcmeRequestOptions {
  readonly headers?: Readonly<Record<string, string>>;
  readonly data?: unknown;
}

const MAX_RESPONSE_BYTES = 1 << 20;

/** Node's codes for a server certificate that does not verify. */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError';
  readonly code = 'ETIMEDOUT';
}

function errorCode(error: unknown): string {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : '';
}

/** Seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class AcmeTransport {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;

  constructor(private readonly settings: AcmeTransportSettings) {
    // keepAlive: an issuance is ~15 requests to the same host. `ca` replaces the default roots
    // for this agent only: with Pebble's certificate configured, nothing else is trusted here.
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ...(settings.caCertificatePem ? { ca: settings.caCertificatePem } : {}) });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  async request(url: string, method: string, options: AcmeRequestOptions = {}): Promise<AcmeHttpResponse> {
    const target = new URL(url);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      throw new CertificateError('unexpected', `the CA sent a URL that is neither https nor http: ${sanitizeCaMessage(url, 200)}`, { permanent: false });
    }
    const body = options.data === undefined ? undefined : typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
    const headers: Record<string, string> = { ...options.headers, 'user-agent': this.settings.userAgent, accept: 'application/json, application/pem-certificate-chain, */*' };
    if (body !== undefined) {
      // Every ACME POST is a JWS (RFC 8555 §6.2); acme-client's own request() added this header.
      headers['content-type'] = 'application/jose+json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }

    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.settings.requestRetries;
      let response: AcmeHttpResponse;
      try {
        response = await this.send(target, method.toUpperCase(), headers, body);
      } catch (error) {
        const code = errorCode(error);
        if (TLS_VERIFY_CODES.has(code)) {
          throw new CertificateError(
            'ca-untrusted',
            `the ACME server ${target.origin} presented a TLS certificate that does not verify (${code}: ${error instanceof Error ? error.message : String(error)}): ` +
              (this.settings.caCertificatePem ? 'it is not signed by the configured CA certificate' : 'no CA certificate is configured for it, and the system does not trust it'),
            { permanent: true, cause: error },
          );
        }
        if (canRetry) {
          await sleep(this.settings.retryDelayMs * (attempt + 1));
          continue;
        }
        const what = error instanceof RequestTimeoutError ? `no answer within ${this.settings.requestTimeoutMs} ms` : `${code || 'error'}: ${error instanceof Error ? error.message : String(error)}`;
        throw new CertificateError('ca-unavailable', `the ACME server ${target.origin} is unreachable (${what}) after ${attempt + 1} attempt(s)`, { permanent: false, cause: error });
      }

      if (response.status !== 429 && response.status < 500) return response;
      const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      const problem = parseProblem(response.data);
      if (canRetry && (retryAfterMs === null || retryAfterMs <= this.settings.maxRetryAfterMs)) {
        await sleep(retryAfterMs ?? this.settings.retryDelayMs * (attempt + 1));
        continue;
      }
      const caMessage = problem ? sanitizeCaMessage(problem.detail) : sanitizeCaMessage(typeof response.data === 'string' ? response.data : '', 300);
      if (response.status === 429) {
        throw new CertificateError('rate-limited', `the CA rate-limited the request (HTTP 429${retryAfterMs === null ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)} s`}): ${caMessage}`, {
          permanent: false,
          problemType: problem?.type ?? null,
          caMessage,
          retryAfterMs,
        });
      }
      throw new CertificateError('ca-unavailable', `the ACME server ${target.origin} answered HTTP ${response.status} after ${attempt + 1} attempt(s): ${caMessage}`, {
        permanent: false,
        problemType: problem?.type ?? null,
        caMessage,
        retryAfterMs,
      });
    }
  }

  private send(target: URL, method: string, headers: Record<string, string>, body: string | undefined): Promise<AcmeHttpResponse> {
    const secure = target.protocol === 'https:';
    const requestFn = secure ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const request = requestFn(target, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) request.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const headersOut: Record<string, string> = {};
          for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined) headersOut[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          const type = headersOut['content-type'] ?? '';
          let data: unknown = text;
          if (text !== '' && /\bjson\b/i.test(type)) {
            try {
              data = JSON.parse(text);
            } catch {
              reject(new CertificateError('unexpected', `the ACME server answered ${response.statusCode} with ${type} that is not JSON`, { permanent: false }));
              return;
            }
          }
          resolve({ status: response.statusCode ?? 0, headers: headersOut, data });
        });
      });
      const timer = setTimeout(() => request.destroy(new RequestTimeoutError(`no answer within ${this.settings.requestTimeoutMs} ms`)), this.settings.requestTimeoutMs);
      request.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      request.end(body);
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}
