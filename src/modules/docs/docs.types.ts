import { z } from 'zod';

/** The shape GET /api/openapi.json promises; the full structure is the OpenAPI 3.1 specification's. */
export const openapiDocument = z
  .looseObject({
    openapi: z.string(),
    info: z.looseObject({ title: z.string(), version: z.string() }),
    paths: z.record(z.string(), z.looseObject({})),
  })
  .meta({ description: 'An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)' });
