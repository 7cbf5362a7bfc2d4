import { z } from 'zod';
import { isNormalizedDomain } from '../shared/domain-name.js';
import { ProviderError } from './provider-error.js';

/**
 * Certificates as the rest of mPanel sees them: a certificate authority that issues a
 * certificate for some names, in our own types. acme-authority.ts is the ACME adapter (Pebble in
 * development, Let's Encrypt in production); nothing outside src/providers/acme sees acme-client.
 *
 * The authority knows nothing of files or DNS servers: the caller proves control of the names
 * through hooks (an http-01 token written to the site's web root through the host transport, a
 * dns-01 TXT record written through the DNS port).
 */

export type ChallengeType = 'http-01' | 'dns-01';
export type CertificateKeyType = 'ecdsa-p256' | 'rsa-2048';

/**
 * http-01: between put() and remove(), `http://<name>/.well-known/acme-challenge/<token>` must
 * answer 200 with `keyAuthorization` as its body, for every name of the request. `token` is
 * base64url (checked before put is called), safe as a file name.
 */
export interface Http01Hooks {
  put(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

/**
 * dns-01: between setTxt() and removeTxt(), `fqdn` (`_acme-challenge.<name>`, lower-case, no
 * trailing dot) must have a TXT record with `value`. A wildcard and its base name share one fqdn
 * with two values at once, set concurrently: add the value to the RRset, never replace it, and
 * remove only that value.
 */
export interface Dns01Hooks {
  setTxt(fqdn: string, value: string): Promise<void>;
  removeTxt(fqdn: string, value: string): Promise<void>;
}

interface CertificateRequestBase {
  /**
   * Normalised names (lower-case ASCII, no trailing dot, see shared/domain-name.ts); the first
   * is the certificate's common name. `*.example.com` (wildcard as the whole leftmost label)
   * needs dns-01. At most 100 names, no duplicates.
   */
  readonly names: readonly string[];
  /** The certificate's key, generated for this certificate; default ECDSA P-256. */
  readonly keyType?: CertificateKeyType;
}

export type CertificateRequest =
  | (CertificateRequestBase & { readonly challenge: 'http-01'; readonly http01: Http01Hooks })
  | (CertificateRequestBase & { readonly challenge: 'dns-01'; readonly dns01: Dns01Hooks });

export interface CertificateIssuer {
  readonly commonName: string | null;
  readonly organization: string | null;
}

/** Read from the issued certificate itself (node:crypto X509Certificate), not from the request. */
export interface IssuedCertificate {
  /** Leaf first, then the intermediates, as the CA sent them (nginx's `ssl_certificate`). */
  readonly certificatePem: string;
  /** PKCS#8 PEM. A secret: store it encrypted, never log it. */
  readonly privateKeyPem: string;
  readonly keyType: CertificateKeyType;
  /** DNS names in the leaf's subjectAltName, in the certificate's order. */
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly issuer: CertificateIssuer;
  /** Upper-case hex, as X509Certificate prints it. */
  readonly serialNumber: string;
  /** SHA-256 of the leaf's DER, upper-case hex with colons: tells one certificate from the next. */
  readonly fingerprintSha256: string;
}

export interface CertificateAccount {
  /** The account's URL at the CA (what an ACME client calls its key id). */
  readonly accountUrl: string;
  /** PKCS#8 PEM. A secret: store it encrypted. */
  readonly accountKeyPem: string;
}

export interface CertificateAuthority {
  /** e.g. https://acme-v02.api.letsencrypt.org/directory; for logs and the certificate record. */
  readonly directoryUrl: string;
  /**
   * Registers the account key with the CA, or finds the account already registered for it (the
   * CA answers with the same URL for the same key: safe to call again).
   */
  ensureAccount(): Promise<CertificateAccount>;
  /**
   * A new certificate and key for `request.names`. The request is checked before any network
   * call (CertificateError 'invalid-request'). Challenge hooks are always undone, also on failure.
   */
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
  /** Closes kept-alive connections to the CA. */
  close(): Promise<void>;
}

/**
 * The install's CA, built once by the composition root: an authority per ACME account. The
 * account key lives in the database (sealed), which providers never touch, so the caller loads it
 * and asks for the authority of that account; null asks for a new account (ensureAccount() then
 * returns the key to store).
 */
export interface CertificateAuthorities {
  readonly directoryUrl: string;
  forAccount(account: CertificateAccount | null): CertificateAuthority;
  close(): Promise<void>;
}

export type CertificateErrorKind =
  /** Refused by our own checks before anything was sent (a hostile or malformed name). */
  | 'invalid-request'
  /** The CA refused the request itself: identifiers it will not issue for, a bad CSR, a contact it refuses. */
  | 'rejected'
  /** The account is unknown, deactivated, or needs a human (new terms of service). */
  | 'account'
  /** The CA's TLS certificate did not verify against the configured CA bundle: configuration. */
  | 'ca-untrusted'
  /** Connection refused, reset or timed out, or the CA answered 5xx, after the transport's retries. */
  | 'ca-unavailable'
  /** The CA limits this account or these names for now; `retryAfterMs` when it said until when. */
  | 'rate-limited'
  /** The CA could not validate a challenge (DNS, connection, wrong content, CAA). */
  | 'validation-failed'
  /** A caller's hook (http01/dns01) failed. */
  | 'challenge-hook'
  /** The order or a challenge was still pending when polling gave up. */
  | 'timeout'
  /** The CA answered something this client does not understand, or a certificate that does not match the request. */
  | 'unexpected';

/**
 * Every failure of a CertificateAuthority. `permanent`: the same request cannot succeed until
 * someone changes something (the names, the configuration, the account); otherwise a retry with
 * backoff may. `caMessage` is the CA's own words (control characters removed, at most 1,000
 * characters), for a FAILED certificate's lastError; messages never carry key material.
 */
export class CertificateError extends ProviderError {
  override name = 'CertificateError';
  readonly kind: CertificateErrorKind;
  /** The ACME problem type (`urn:ietf:params:acme:error:...`), when the CA sent one. */
  readonly problemType: string | null;
  readonly caMessage: string | null;
  /** The name the failure is about, when one is known (a challenge of that name failed). */
  readonly identifier: string | null;
  /** How long the CA asked to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | null;

  constructor(
    kind: CertificateErrorKind,
    message: string,
    options: {
      permanent: boolean;
      problemType?: string | null;
      caMessage?: string | null;
      identifier?: string | null;
      retryAfterMs?: number | null;
      cause?: unknown;
    },
  ) {
    super(message, options.permanent, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.problemType = options.problemType ?? null;
    this.caMessage = options.caMessage ?? null;
    this.identifier = options.identifier ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** For error messages: a hostile value shown without newlines or control characters, and short. */
export function printable(value: string, max = 80): string {
  const safe = value.replace(/[^\x20-\x7e]/g, '?');
  return safe.length > max ? `${safe.slice(0, max)}…` : safe;
}

/** Let's Encrypt's limit, and a sane one for any CA. */
export const MAX_CERTIFICATE_NAMES = 100;

/** Why `name` cannot be a certificate name for `challenge`, or null when it can. */
export function certificateNameProblem(name: string, challenge: ChallengeType): string | null {
  const base = name.startsWith('*.') ? name.slice(2) : name;
  if (base !== name && challenge !== 'dns-01') return 'a wildcard name needs the dns-01 challenge';
  if (!isNormalizedDomain(base)) return 'is not a normalised domain name (lower-case ASCII letters, digits, hyphens and dots, at most 253 characters)';
  return null;
}

function hasMethods(value: unknown, methods: readonly string[]): boolean {
  return typeof value === 'object' && value !== null && methods.every((method) => typeof Reflect.get(value, method) === 'function');
}

const http01Hooks = z.custom<Http01Hooks>((value) => hasMethods(value, ['put', 'remove']), { message: 'must be an object with put and remove functions' });
const dns01Hooks = z.custom<Dns01Hooks>((value) => hasMethods(value, ['setTxt', 'removeTxt']), { message: 'must be an object with setTxt and removeTxt functions' });

const requestSchema = z.discriminatedUnion('challenge', [
  z.strictObject({
    names: z.array(z.string()).min(1).max(MAX_CERTIFICATE_NAMES),
    keyType: z.enum(['ecdsa-p256', 'rsa-2048']).default('ecdsa-p256'),
    challenge: z.literal('http-01'),
    http01: http01Hooks,
  }),
  z.strictObject({
    names: z.array(z.string()).min(1).max(MAX_CERTIFICATE_NAMES),
    keyType: z.enum(['ecdsa-p256', 'rsa-2048']).default('ecdsa-p256'),
    challenge: z.literal('dns-01'),
    dns01: dns01Hooks,
  }),
]);

export interface CheckedCertificateRequest {
  readonly names: readonly string[];
  readonly keyType: CertificateKeyType;
  readonly challenge: ChallengeType;
  readonly request: CertificateRequest;
}

/**
 * The request as an adapter may use it, or CertificateError 'invalid-request' (permanent) naming
 * the first problem. Runs before anything reaches the network, a path or a CSR.
 */
export function checkCertificateRequest(request: CertificateRequest): CheckedCertificateRequest {
  const parsed = requestSchema.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || 'request';
    throw new CertificateError('invalid-request', `certificate request refused: ${field} ${issue?.message ?? 'is invalid'}`, { permanent: true });
  }
  const { names, keyType, challenge } = parsed.data;
  const seen = new Set<string>();
  for (const [index, name] of names.entries()) {
    const problem = certificateNameProblem(name, challenge);
    if (problem) throw new CertificateError('invalid-request', `certificate request refused: names.${index} "${printable(name)}" ${problem}`, { permanent: true, identifier: printable(name) });
    if (seen.has(name)) throw new CertificateError('invalid-request', `certificate request refused: names.${index} "${name}" is listed twice`, { permanent: true, identifier: name });
    seen.add(name);
  }
  return { names, keyType, challenge, request };
}
