import { z } from 'zod';

/** Shared request/response pieces for route schemas (and so for the OpenAPI document). */

export const idParams = z.strictObject({ id: z.uuid() });

export const fieldError = z.object({ field: z.string(), message: z.string() });

// Loose: a problem may carry extension members (RFC 9457 §3.2), e.g. the violated constraint.
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    instance: z.string(),
    requestId: z.string(),
    errors: z.array(fieldError).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem document (application/problem+json)' });

/** The error responses a route can give, for its `response` schema. */
export function problems<const Codes extends readonly number[]>(...codes: Codes) {
  return Object.fromEntries(codes.map((code) => [code, problemSchema])) as { [K in Codes[number]]: typeof problemSchema };
}

/** Error responses every authenticated route can give. */
export const authProblems = problems(400, 401, 403, 404);

export const messageResponse = z.object({ message: z.string() });

export const timestamp = z.date().meta({ description: 'RFC 3339 date-time' });

/** A boolean in a query string: only `true` or `false` (z.coerce.boolean would read "false" as true). */
export const queryBoolean = z.enum(['true', 'false']).transform((value) => value === 'true');
