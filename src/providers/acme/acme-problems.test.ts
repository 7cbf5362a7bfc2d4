import { describe, expect, it } from 'vitest';
import { certificateErrorFromProblem, parseProblem, sanitizeCaMessage } from './acme-problems.js';
import { parseRetryAfter } from './acme-transport.js';

/** Pure unit tests: which ACME problem types are retried, and what reaches a FAILED record. */

const problem = (type: string, detail = 'detail from the CA', extra: object = {}) => {
  const parsed = parseProblem({ type: `urn:ietf:params:acme:error:${type}`, detail, ...extra });
  if (!parsed) throw new Error('not a problem');
  return parsed;
};

describe('ACME problem types', () => {
  it.each([
    ['rateLimited', 'request', 'rate-limited', false],
    ['serverInternal', 'request', 'ca-unavailable', false],
    ['badNonce', 'request', 'ca-unavailable', false],
    ['orderNotReady', 'request', 'unexpected', false],
    ['dns', 'challenge', 'validation-failed', false],
    ['connection', 'challenge', 'validation-failed', false],
    ['tls', 'challenge', 'validation-failed', false],
    ['incorrectResponse', 'challenge', 'validation-failed', false],
    ['unauthorized', 'challenge', 'validation-failed', false],
    ['unauthorized', 'request', 'account', true],
    ['caa', 'challenge', 'validation-failed', true],
    ['rejectedIdentifier', 'request', 'rejected', true],
    ['unsupportedIdentifier', 'request', 'rejected', true],
    ['malformed', 'request', 'rejected', true],
    ['badCSR', 'request', 'rejected', true],
    ['badPublicKey', 'request', 'rejected', true],
    ['badSignatureAlgorithm', 'request', 'rejected', true],
    ['accountDoesNotExist', 'request', 'account', true],
    ['invalidContact', 'request', 'account', true],
    ['unsupportedContact', 'request', 'account', true],
    ['externalAccountRequired', 'request', 'account', true],
    ['userActionRequired', 'request', 'account', true],
    ['somethingNew', 'request', 'unexpected', false],
  ] as const)('%s (%s) → %s, permanent %s', (type, context, kind, permanent) => {
    const error = certificateErrorFromProblem(problem(type), { context });
    expect({ kind: error.kind, permanent: error.permanent, problemType: error.problemType }).toEqual({ kind, permanent, problemType: `urn:ietf:params:acme:error:${type}` });
    expect(error.caMessage).toBe('detail from the CA');
    expect(error.message).toContain('detail from the CA');
  });

  it('an unknown type follows the HTTP status: 429 rate-limited, 5xx unavailable', () => {
    expect(certificateErrorFromProblem(problem('future', 'x', { status: 429 }), { context: 'request' }).kind).toBe('rate-limited');
    expect(certificateErrorFromProblem(problem('future'), { context: 'request', httpStatus: 503 }).kind).toBe('ca-unavailable');
  });

  it('keeps Retry-After and the identifier', () => {
    const error = certificateErrorFromProblem(problem('rateLimited', 'too many certificates already issued for "example.com"'), { context: 'request', retryAfterMs: 3_600_000 });
    expect(error.retryAfterMs).toBe(3_600_000);
    const validation = certificateErrorFromProblem(problem('dns', 'NXDOMAIN looking up A for www.example.com'), { context: 'challenge', identifier: 'www.example.com' });
    expect(validation.identifier).toBe('www.example.com');
    expect(validation.message).toMatch(/^the CA could not validate the challenge for www\.example\.com \(dns\): NXDOMAIN/);
  });

  it('a subproblem that is permanent makes the whole permanent, and each subproblem is in the message', () => {
    const compound = problem('rejectedIdentifier', 'Error creating new order', {
      subproblems: [
        { type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'Domain name contains an invalid character', identifier: { type: 'dns', value: 'bad_name.example.com' } },
        { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down', identifier: { type: 'dns', value: 'ok.example.com' } },
      ],
    });
    const error = certificateErrorFromProblem(compound, { context: 'request' });
    expect(error.permanent).toBe(true);
    expect(error.kind).toBe('rejected');
    expect(error.identifier).toBe('bad_name.example.com');
    expect(error.caMessage).toBe('Error creating new order; bad_name.example.com: Domain name contains an invalid character (rejectedIdentifier); ok.example.com: slow down (rateLimited)');

    const transient = certificateErrorFromProblem(problem('compound', '', { subproblems: [{ type: 'urn:ietf:params:acme:error:dns', detail: 'SERVFAIL' }] }), { context: 'challenge' });
    expect({ kind: transient.kind, permanent: transient.permanent }).toEqual({ kind: 'validation-failed', permanent: false });
  });

  it('the CA message loses control characters and is capped', () => {
    expect(sanitizeCaMessage('line one\r\nline two\u0000\u001b[31m')).toBe('line one line two [31m');
    expect(sanitizeCaMessage('x'.repeat(5_000))).toHaveLength(1_001);
    const error = certificateErrorFromProblem(problem('malformed', 'bad\nname'), { context: 'request' });
    expect(error.message).not.toContain('\n');
  });

  it('parses only problem documents', () => {
    expect(parseProblem({ status: 'valid', identifier: { type: 'dns', value: 'a.example' } })).toBeNull();
    expect(parseProblem('text')).toBeNull();
    expect(parseProblem(null)).toBeNull();
    expect(parseProblem({ type: 'about:blank', detail: 'Not found', status: 404 })?.status).toBe(404);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Fri, 04 Dec 2026 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Fri, 04 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});
