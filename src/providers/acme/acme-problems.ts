import { z } from 'zod';
import { CertificateError, type CertificateErrorKind } from '../certificates.port.js';

/**
 * ACME problem documents (RFC 8555 §6.7, RFC 7807) and what each means for a retry.
 *
 * Retryable, because what decides them can change without anyone touching the request:
 * - rateLimited: time passes (Retry-After when the CA gives one);
 * - serverInternal, badNonce, orderNotReady, 5xx: the CA's own state;
 * - dns, connection, tls, incorrectResponse, and unauthorized when a challenge reports it: the
 *   CA could not see the proof. That depends on DNS (a zone just created, a delegation or a
 *   secondary still catching up) and on the web server (a reload not yet served, a firewall,
 *   nginx down), which converge by themselves or get fixed while the job waits. A name that never
 *   resolves still ends FAILED once the job's attempts are spent, with the CA's message.
 *   (Let's Encrypt counts failed validations per name per hour: the job's backoff must be minutes,
 *   not seconds, between attempts.)
 *
 * Permanent, because only a change to the request or the configuration can help:
 * - rejectedIdentifier, unsupportedIdentifier, malformed, badCSR, badPublicKey,
 *   badSignatureAlgorithm: the CA will not issue this request as it is;
 * - caa: the domain's CAA records forbid this CA; its owner must change them;
 * - accountDoesNotExist, invalidContact, unsupportedContact, externalAccountRequired,
 *   userActionRequired, and unauthorized outside a challenge: the account needs a human.
 *
 * An unknown type is retryable: the job's attempts are bounded, and an outage must look like one.
 */

const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:';

export interface AcmeProblem {
  readonly type: string;
  readonly detail: string;
  readonly status: number | null;
  readonly subproblems: readonly AcmeProblem[];
  /** The identifier a subproblem (or a challenge's error) is about. */
  readonly identifier: string | null;
}

const identifierSchema = z.object({ type: z.string(), value: z.string() });
const baseProblemSchema = z.object({
  type: z.string().default('about:blank'),
  detail: z.string().default(''),
  status: z.number().int().optional(),
  identifier: identifierSchema.optional(),
});
const problemSchema = baseProblemSchema.extend({ subproblems: z.array(baseProblemSchema).optional() });

/** A problem document from any JSON value, or null when it is not one. */
export function parseProblem(value: unknown): AcmeProblem | null {
  const parsed = problemSchema.safeParse(value);
  if (!parsed.success || (!parsed.data.type.startsWith(ACME_ERROR_PREFIX) && parsed.data.detail === '')) return null;
  const toProblem = (p: z.output<typeof baseProblemSchema>, subproblems: AcmeProblem[]): AcmeProblem => ({
    type: p.type,
    detail: p.detail,
    status: p.status ?? null,
    identifier: p.identifier?.value ?? null,
    subproblems,
  });
  return toProblem(parsed.data, (parsed.data.subproblems ?? []).map((sub) => toProblem(sub, [])));
}

interface Verdict {
  readonly kind: CertificateErrorKind;
  readonly permanent: boolean;
  /** What the failure means, before the CA's own words. */
  readonly summary: string;
}

/** Where the problem was seen: a challenge's error, or the answer to a request. */
export type ProblemContext = 'challenge' | 'request';

function verdictFor(shortType: string, context: ProblemContext, httpStatus: number | null): Verdict {
  switch (shortType) {
    case 'rateLimited':
      return { kind: 'rate-limited', permanent: false, summary: 'the CA rate-limited the request' };
    case 'serverInternal':
    case 'badNonce':
      return { kind: 'ca-unavailable', permanent: false, summary: 'the CA failed to process the request' };
    case 'orderNotReady':
      return { kind: 'unexpected', permanent: false, summary: 'the CA found the order not ready' };
    case 'dns':
    case 'connection':
    case 'tls':
    case 'incorrectResponse':
      return { kind: 'validation-failed', permanent: false, summary: 'the CA could not validate the challenge' };
    case 'unauthorized':
      return context === 'challenge'
        ? { kind: 'validation-failed', permanent: false, summary: 'the CA could not validate the challenge' }
        : { kind: 'account', permanent: true, summary: 'the CA refused the account' };
    case 'caa':
      return { kind: 'validation-failed', permanent: true, summary: "the domain's CAA records forbid this CA" };
    case 'rejectedIdentifier':
    case 'unsupportedIdentifier':
    case 'malformed':
    case 'badCSR':
    case 'badPublicKey':
    case 'badSignatureAlgorithm':
      return { kind: 'rejected', permanent: true, summary: 'the CA refused the request' };
    case 'accountDoesNotExist':
    case 'invalidContact':
    case 'unsupportedContact':
    case 'externalAccountRequired':
    case 'userActionRequired':
      return { kind: 'account', permanent: true, summary: 'the CA refused the account' };
    case 'alreadyRevoked':
    case 'badRevocationReason':
      return { kind: 'unexpected', permanent: true, summary: 'the CA refused a revocation' };
    default:
      if (httpStatus === 429) return { kind: 'rate-limited', permanent: false, summary: 'the CA rate-limited the request' };
      if (httpStatus !== null && httpStatus >= 500) return { kind: 'ca-unavailable', permanent: false, summary: 'the CA failed to process the request' };
      return { kind: 'unexpected', permanent: false, summary: 'the CA answered with an unexpected problem' };
  }
}

/** Control characters out, length capped: the CA's words as they may go into a record and a log. */
export function sanitizeCaMessage(text: string, max = 1_000): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function shortTypeOf(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}

/**
 * The CertificateError for a problem. For a compound problem (or one with subproblems), a
 * permanent subproblem makes the whole permanent: those names would fail again.
 */
export function certificateErrorFromProblem(
  problem: AcmeProblem,
  options: { context: ProblemContext; httpStatus?: number | null; retryAfterMs?: number | null; identifier?: string | null; cause?: unknown },
): CertificateError {
  const own = verdictFor(shortTypeOf(problem.type), options.context, options.httpStatus ?? problem.status);
  const subVerdicts = problem.subproblems.map((sub) => ({ sub, verdict: verdictFor(shortTypeOf(sub.type), options.context, sub.status) }));
  const decisive = subVerdicts.find((entry) => entry.verdict.permanent) ?? (shortTypeOf(problem.type) === 'compound' ? subVerdicts[0] : undefined);
  const verdict = decisive ? { ...decisive.verdict, permanent: own.permanent || decisive.verdict.permanent } : own;

  const parts = [problem.detail, ...problem.subproblems.map((sub) => `${sub.identifier ?? '?'}: ${sub.detail} (${shortTypeOf(sub.type)})`)].filter((part) => part !== '');
  const caMessage = sanitizeCaMessage(parts.join('; '));
  const identifier = options.identifier ?? problem.identifier ?? decisive?.sub.identifier ?? null;
  const about = identifier ? ` for ${identifier}` : '';
  return new CertificateError(verdict.kind, `${verdict.summary}${about} (${shortTypeOf(problem.type)}): ${caMessage || 'no detail given'}`, {
    permanent: verdict.permanent,
    problemType: problem.type,
    caMessage,
    identifier,
    retryAfterMs: options.retryAfterMs ?? null,
    cause: options.cause,
  });
}
