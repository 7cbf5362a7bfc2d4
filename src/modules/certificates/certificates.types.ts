import { z } from 'zod';
import { certificateStatuses } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';

export const certificateStatus = z.enum(certificateStatuses);

export const listCertificatesQuery = z.strictObject({
  status: certificateStatus.optional(),
  ...paginationQuery,
});
export type ListCertificatesQuery = z.output<typeof listCertificatesQuery>;

/** A site's certificate as staff see it: never its key (sealed in the database, 0600 on the server). */
export const certificateResponse = z
  .object({
    id: z.uuid(),
    domainId: z.uuid(),
    websiteId: z.uuid().nullable(),
    commonName: z.string(),
    names: z.array(z.string()).meta({ description: 'The names the certificate covers (subjectAltName)' }),
    status: certificateStatus.meta({ description: 'PENDING until issued; FAILED when every attempt failed (the site stays on HTTP); ISSUED' }),
    challenge: z.string().meta({ description: 'http-01, or dns-01 for a wildcard' }),
    issuer: z.string().nullable(),
    serialNumber: z.string().nullable(),
    fingerprintSha256: z.string().nullable(),
    notBefore: timestamp.nullable(),
    notAfter: timestamp.nullable(),
    renewAfter: timestamp.nullable().meta({ description: 'When the renewal task takes it' }),
    lastError: z.string().nullable().meta({ description: "The last failure, in the CA's words when it gave some" }),
    renewalFailures: z.number().int().meta({ description: 'Renewals that gave up in a row (0 after an issuance); the old certificate keeps serving meanwhile' }),
    expiryAlertedAt: timestamp.nullable().meta({ description: 'When `certificate.expiring` was raised for this failing renewal (cleared by the next issuance)' }),
    failedAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'SslCertificate' });
export type CertificateView = z.output<typeof certificateResponse>;

export const certificatesPage = pageOf(certificateResponse);
export type CertificatesPage = z.output<typeof certificatesPage>;

export const renewAccepted = z
  .object({
    certificateId: z.uuid(),
    job: z.object({ id: z.uuid(), type: z.string(), status: z.string() }),
  })
  .meta({ id: 'SslCertificateRenewAccepted' });
export type RenewAccepted = z.output<typeof renewAccepted>;
