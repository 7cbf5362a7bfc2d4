import { generateKeyPair } from 'node:crypto';
import type * as acme from 'acme-client';
import type { Logger } from 'pino';
import { z } from 'zod';
import { certificateErrorFromProblem, parseProblem, sanitizeCaMessage, type AcmeProblem } from './acme-problems.js';
import { AcmeTransport, parseRetryAfter, type AcmeHttpResponse } from './acme-transport.js';
import { readIssuedCertificate } from './certificate-pem.js';
import {
  CertificateError,
  checkCertificateRequest,
  printable,
  type CertificateAccount,
  type CertificateAuthority,
  type CertificateKeyType,
  type CertificateRequest,
  type IssuedCertificate,
} from '../certificates.port.js';

/**
 * The ACME adapter of the CertificateAuthority port, on npm acme-client (5.4): Pebble on loopback
 * in development and tests, Let's Encrypt in production, by settings only.
 *
 * - Plain settings, not mPanel's Env: the composition root reads the configuration, the account
 *   key (decrypted) and the CA bundle file.
 * - One transport per authority (acme-transport.ts) replaces acme-client's process-wide axios
 *   instance, so the CA bundle, timeouts and retries here apply to this authority only.
 * - acme-client's own challenge pre-check is skipped: it resolves with the system resolver and
 *   fetches port 80, neither of which is what the CA uses (Pebble resolves through PowerDNS and
 *   fetches :8080). The CA's validation is the check that counts.
 * - Errors: acme-client throws plain Errors carrying only the problem's detail. The transport
 *   sees every answer, so each operation records the problem documents it met and the thrown
 *   message is matched back to its document, giving the ACME problem type (acme-problems.ts says
 *   which types are retryable, and why).
 */

const settingsSchema = z.strictObject({
  /** The ACME directory, e.g. https://127.0.0.1:14000/dir (Pebble) or Let's Encrypt's. */
  directoryUrl: z.url({ protocol: /^https?$/ }),
  /** Sent as the account's contact (mailto:); null registers without one. */
  contactEmail: z.email().nullable(),
  /** PEM of the CA that signed the ACME server's own TLS certificate (Pebble's cert.pem); null: the system's roots. */
  caCertificatePem: z.string().includes('-----BEGIN CERTIFICATE-----', { message: 'must be a PEM certificate' }).nullable(),
  /** The install's account key (PKCS#8 PEM), or null to have ensureAccount() create one (then store it). */
  accountKeyPem: z.string().includes('PRIVATE KEY-----', { message: 'must be a PEM private key' }).nullable(),
  /** The account URL ensureAccount() returned for this key: issue() then skips the newAccount request. */
  accountUrl: z.url({ protocol: /^https?$/ }).nullable().default(null),
  /** The operator accepts the CA's terms of service by configuring it; the CA requires it. */
  termsOfServiceAgreed: z.literal(true),
  /** Per HTTP request to the CA. */
  requestTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Extra attempts after a connection error, timeout, 5xx or 429 (acme-client's default: 5). */
  requestRetries: z.number().int().min(0).max(10).default(2),
  /** Retry n waits n × this unless the CA sent Retry-After (acme-client's default: 5 s). */
  retryDelayMs: z.number().int().min(0).max(60_000).default(200),
  /** A longer Retry-After fails the request as rate-limited at once, for the job's own backoff. */
  maxRetryAfterMs: z.number().int().min(0).max(600_000).default(10_000),
  /**
   * Polling of challenges and the order: attempts, first wait, longest wait (doubling). The
   * defaults suit Pebble (validation in milliseconds); Let's Encrypt takes seconds: use about
   * 10 attempts, 1,000 ms, 10,000 ms there.
   */
  pollAttempts: z.number().int().min(1).max(50).default(5),
  pollMinMs: z.number().int().min(10).max(60_000).default(100),
  pollMaxMs: z.number().int().min(10).max(300_000).default(1_000),
});

export type AcmeAuthoritySettings = z.input<typeof settingsSchema> & { readonly logger?: Logger };

const USER_AGENT = 'mPanel (acme-client 5)';

/** acme-client is loaded at the first ACME request, not at start-up: ~28 MB of RSS in every process that builds the authority. */
const loadAcme = (): Promise<typeof acme> => import('acme-client');

/** A new private key, PKCS#8 PEM (node:crypto, off the main thread). */
function generateKeyPem(keyType: CertificateKeyType): Promise<string> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, _publicKey: string, privateKey: string) => (error ? reject(error) : resolve(privateKey));
    const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
    const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
    if (keyType === 'rsa-2048') generateKeyPair('rsa', { modulusLength: 2048, publicKeyEncoding, privateKeyEncoding }, done);
    else generateKeyPair('ec', { namedCurve: 'P-256', publicKeyEncoding, privateKeyEncoding }, done);
  });
}

/** A new ECDSA P-256 account key (PKCS#8 PEM): create once per install, store encrypted. */
export function createAccountKeyPem(): Promise<string> {
  return generateKeyPem('ecdsa-p256');
}

/** RFC 8555 §8.1: a token is base64url with at least 128 bits; it becomes a file name in the caller's hook. */
const TOKEN = /^[A-Za-z0-9_-]{22,256}$/;
const KEY_AUTHORIZATION = /^[A-Za-z0-9_-]{22,256}\.[A-Za-z0-9_-]{43}$/;
const DNS_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** A common name longer than 64 characters does not fit X.509's CN; the names are in the SAN anyway. */
const MAX_COMMON_NAME = 64;

const requestArgs = z.tuple([z.string(), z.string(), z.object({ headers: z.record(z.string(), z.string()).optional(), data: z.unknown() }).loose().optional()]);

/** The message acme-client 5 throws for an answer it refuses (util.formatResponseError), rebuilt to match it. */
function acmeClientMessage(data: unknown): string {
  const field = (value: unknown, name: string): unknown => (typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined);
  const error = field(data, 'error');
  const result: unknown = !data ? '' : error ? field(error, 'detail') || error : field(data, 'detail') || JSON.stringify(data);
  return (typeof result === 'string' ? result : JSON.stringify(result) ?? '').replace(/\n/g, '');
}

interface RecordedProblem {
  readonly problem: AcmeProblem;
  /** The message acme-client builds from the same answer (util.formatResponseError). */
  readonly clientMessage: string;
  readonly context: 'challenge' | 'request';
  readonly httpStatus: number;
  readonly retryAfterMs: number | null;
  readonly identifier: string | null;
}

/** One operation's view of the CA: the problems it met, and which challenge URL is which name. */
class OperationLog {
  readonly problems: RecordedProblem[] = [];
  readonly identifierByChallengeUrl = new Map<string, string>();

  observe(url: string, response: AcmeHttpResponse): void {
    const data = response.data;
    if (response.status >= 400) {
      const problem = parseProblem(data);
      if (problem) this.record(problem, 'request', response, null);
      return;
    }
    // A challenge (or order) that went invalid answers 200 with its error inside.
    const error: unknown = typeof data === 'object' && data !== null ? Reflect.get(data, 'error') : undefined;
    const problem = error === undefined ? null : parseProblem(error);
    if (problem) this.record(problem, 'challenge', response, this.identifierByChallengeUrl.get(url) ?? null);
  }

  private record(problem: AcmeProblem, context: 'challenge' | 'request', response: AcmeHttpResponse, identifier: string | null): void {
    this.problems.push({ problem, clientMessage: acmeClientMessage(response.data), context, httpStatus: response.status, retryAfterMs: parseRetryAfter(response.headers['retry-after']), identifier });
  }

  /** The failure as a CertificateError: ours as they are, acme-client's matched to the problem that caused it. */
  toCertificateError(error: unknown, what: string): CertificateError {
    if (error instanceof CertificateError) return error;
    const message = error instanceof Error ? error.message : String(error);
    const recorded = [...this.problems].reverse().find((entry) => entry.clientMessage === message);
    if (recorded) {
      return certificateErrorFromProblem(recorded.problem, {
        context: recorded.context,
        httpStatus: recorded.httpStatus,
        retryAfterMs: recorded.retryAfterMs,
        identifier: recorded.identifier,
        cause: error,
      });
    }
    if (message === 'Operation is pending or processing') {
      return new CertificateError('timeout', `${what}: the CA had not finished validating when polling gave up (raise pollAttempts / pollMaxMs for this CA)`, { permanent: false, cause: error });
    }
    return new CertificateError('unexpected', `${what}: ${sanitizeCaMessage(message, 300)}`, { permanent: false, caMessage: sanitizeCaMessage(message), cause: error });
  }
}

export class AcmeAuthority implements CertificateAuthority {
  readonly directoryUrl: string;
  private readonly settings: z.output<typeof settingsSchema>;
  private readonly transport: AcmeTransport;
  private readonly logger: Logger | undefined;
  /** The account once known (from the settings or ensureAccount), shared by concurrent callers. */
  private account: Promise<CertificateAccount> | null = null;

  constructor(settings: AcmeAuthoritySettings) {
    const { logger, ...rest } = settings;
    const parsed = settingsSchema.safeParse(rest);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CertificateError('invalid-request', `ACME settings refused: ${issue?.path.join('.') || 'settings'} ${issue?.message ?? 'is invalid'}`, { permanent: true });
    }
    this.settings = parsed.data;
    this.directoryUrl = parsed.data.directoryUrl;
    this.logger = logger;
    this.transport = new AcmeTransport({
      caCertificatePem: parsed.data.caCertificatePem,
      requestTimeoutMs: parsed.data.requestTimeoutMs,
      requestRetries: parsed.data.requestRetries,
      retryDelayMs: parsed.data.retryDelayMs,
      maxRetryAfterMs: parsed.data.maxRetryAfterMs,
      userAgent: USER_AGENT,
    });
    const { accountKeyPem, accountUrl } = parsed.data;
    if (accountKeyPem && accountUrl) this.account = Promise.resolve({ accountKeyPem, accountUrl });
  }

  /** An acme-client Client whose every request goes through this authority's transport, observed by `log`. */
  private async client(accountKeyPem: string, accountUrl: string | null, log: OperationLog): Promise<acme.Client> {
    const { settings } = this;
    const { Client } = await loadAcme();
    const client = new Client({
      directoryUrl: settings.directoryUrl,
      accountKey: accountKeyPem,
      ...(accountUrl ? { accountUrl } : {}),
      backoffAttempts: settings.pollAttempts,
      backoffMin: settings.pollMinMs,
      backoffMax: settings.pollMaxMs,
    });
    // acme-client 5.x keeps its HttpClient in `client.http` (shared with `client.api`) and sends
    // everything through its `request(url, method, opts)`; its typings do not show it, so it is
    // reached with Reflect and checked, and a release that moves it fails here loudly.
    const httpClient: unknown = Reflect.get(client, 'http');
    const api: unknown = Reflect.get(client, 'api');
    if (
      typeof httpClient !== 'object' ||
      httpClient === null ||
      typeof Reflect.get(httpClient, 'request') !== 'function' ||
      typeof api !== 'object' ||
      api === null ||
      Reflect.get(api, 'http') !== httpClient
    ) {
      throw new CertificateError('unexpected', 'this acme-client release keeps its HTTP client elsewhere: the ACME transport cannot be installed (check the acme-client version)', { permanent: true });
    }
    const transport = this.transport;
    Reflect.set(httpClient, 'request', async (...args: unknown[]): Promise<AcmeHttpResponse> => {
      const [url, method, options] = requestArgs.parse(args);
      const response = await transport.request(url, method, { ...(options?.headers ? { headers: options.headers } : {}), data: options?.data });
      log.observe(url, response);
      return response;
    });
    return client;
  }

  async ensureAccount(): Promise<CertificateAccount> {
    const known = this.account;
    if (known) {
      const account = await known;
      // Registering the same key again answers with the same account: this also proves it still exists.
      return this.register(account.accountKeyPem);
    }
    const registering = this.register(this.settings.accountKeyPem ?? (await createAccountKeyPem()));
    this.account = registering;
    registering.catch(() => {
      // A failed registration is not remembered: the next call tries again.
      if (this.account === registering) this.account = null;
    });
    return registering;
  }

  private async register(accountKeyPem: string): Promise<CertificateAccount> {
    const log = new OperationLog();
    const client = await this.client(accountKeyPem, null, log);
    try {
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.settings.contactEmail ? { contact: [`mailto:${this.settings.contactEmail}`] } : {}) });
      return { accountKeyPem, accountUrl: client.getAccountUrl() };
    } catch (error) {
      throw log.toCertificateError(error, 'registering the ACME account');
    }
  }

  private async currentAccount(): Promise<CertificateAccount> {
    if (this.account) return this.account;
    if (this.settings.accountKeyPem) return this.ensureAccount();
    throw new CertificateError('account', 'no ACME account key is configured: call ensureAccount() once and store the key it returns', { permanent: true });
  }

  async issue(request: CertificateRequest): Promise<IssuedCertificate> {
    // Before anything else: a hostile name never reaches a CSR, a hook or the network.
    const checked = checkCertificateRequest(request);
    const account = await this.currentAccount();
    const privateKeyPem = checked.privateKeyPem ?? (await generateKeyPem(checked.keyType));
    const [commonName] = checked.names;
    const [, csr] = await (await loadAcme()).crypto.createCsr(
      { ...(commonName && commonName.length <= MAX_COMMON_NAME ? { commonName } : {}), altNames: [...checked.names] },
      privateKeyPem,
    );

    const log = new OperationLog();
    const client = await this.client(account.accountKeyPem, account.accountUrl, log);
    const what = `issuing a certificate for ${checked.names.join(', ')}`;
    let chainPem: string;
    try {
      chainPem = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        skipChallengeVerification: true,
        challengePriority: [checked.challenge],
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          const name = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
          log.identifierByChallengeUrl.set(challenge.url, name);
          await this.runHook(request, name, challenge.type, challenge.token, keyAuthorization, authz.identifier.value, 'create');
        },
        challengeRemoveFn: async (authz, challenge, keyAuthorization) => {
          const name = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
          try {
            await this.runHook(request, name, challenge.type, challenge.token, keyAuthorization, authz.identifier.value, 'remove');
          } catch (error) {
            // acme-client ignores a failing remove; it is logged here, and never fails issuance.
            this.logger?.warn({ err: error, name }, 'acme: removing a challenge failed');
          }
        },
      });
    } catch (error) {
      throw log.toCertificateError(error, what);
    }
    return readIssuedCertificate(chainPem, privateKeyPem, checked.keyType, checked.names);
  }

  /** Calls the caller's hook for one challenge, after checking what the CA sent. */
  private async runHook(request: CertificateRequest, name: string, type: string, token: string, keyAuthorization: string, identifier: string, step: 'create' | 'remove'): Promise<void> {
    if (type !== request.challenge) {
      throw new CertificateError('unexpected', `the CA offers no ${request.challenge} challenge for ${name} (it offered ${printable(type)})`, { permanent: true, identifier: name });
    }
    try {
      if (request.challenge === 'http-01') {
        if (!TOKEN.test(token) || !KEY_AUTHORIZATION.test(keyAuthorization) || !keyAuthorization.startsWith(`${token}.`)) {
          throw new CertificateError('unexpected', `the CA sent a challenge token that is not base64url: "${printable(token)}"`, { permanent: false, identifier: name });
        }
        if (step === 'create') await request.http01.put(token, keyAuthorization);
        else await request.http01.remove(token);
      } else {
        if (!DNS_VALUE.test(keyAuthorization)) throw new CertificateError('unexpected', 'the dns-01 value is not a base64url SHA-256 digest', { permanent: false, identifier: name });
        const fqdn = `_acme-challenge.${identifier}`;
        if (step === 'create') await request.dns01.setTxt(fqdn, keyAuthorization);
        else await request.dns01.removeTxt(fqdn, keyAuthorization);
      }
    } catch (error) {
      if (error instanceof CertificateError) throw error;
      // A hook that knows its failure cannot go away (a HostingError, a DnsRejectedError) says so.
      const permanent: unknown = typeof error === 'object' && error !== null ? Reflect.get(error, 'permanent') : undefined;
      const message = error instanceof Error ? error.message : String(error);
      throw new CertificateError('challenge-hook', `the ${request.challenge} challenge for ${name} could not be ${step === 'create' ? 'put in place' : 'removed'}: ${message}`, {
        permanent: permanent === true,
        identifier: name,
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
