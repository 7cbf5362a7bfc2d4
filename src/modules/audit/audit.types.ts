import { z } from 'zod';
import { actorTypes } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';

// RFC 3339 with an explicit offset (Z or ±hh:mm): a local time would be ambiguous.
const dateTime = z.iso.datetime({ offset: true });

export const auditLogQuery = z
  .strictObject({
    ...paginationQuery,
    actorUserId: z.uuid().meta({ description: 'Rows written by this user' }).optional(),
    action: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[^*]+\*?$/, 'is an action name, or a prefix followed by a single trailing *')
      .meta({ description: 'Exact action (e.g. `user.created`), or a prefix with a trailing `*` (e.g. `user.*`)' })
      .optional(),
    targetType: z.string().min(1).max(100).meta({ description: 'e.g. `user`, `tenant`, `order`' }).optional(),
    targetId: z.string().min(1).max(200).optional(),
    from: dateTime.meta({ description: 'Rows created at or after this instant (inclusive), RFC 3339' }).optional(),
    to: dateTime.meta({ description: 'Rows created before this instant (exclusive), RFC 3339' }).optional(),
  })
  .refine((query) => !query.from || !query.to || Date.parse(query.from) <= Date.parse(query.to), {
    path: ['from'],
    message: 'must not be after `to`',
  });
export type AuditLogQuery = z.infer<typeof auditLogQuery>;

const jsonObject = z.record(z.string(), z.unknown()).nullable();

export const auditLogItem = z
  .object({
    id: z.uuid(),
    seq: z.number().int().meta({ description: "Position in the tenant's hash chain; the list is ordered by it, newest first" }),
    action: z.string(),
    actorType: z.enum(actorTypes),
    actorUserId: z.uuid().nullable(),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    requestId: z.string().nullable(),
    before: jsonObject,
    after: jsonObject,
    metadata: jsonObject,
    createdAt: timestamp,
    chainSeq: z.number().int().nullable().meta({ description: "The row's place in the tenant's hash chain; null until sealed (about a second after it was written)" }),
    hash: z.string().nullable().meta({ description: 'sha256(prevHash || canonical row), hex; null until sealed' }),
    prevHash: z.string().nullable().meta({ description: "The previous row's hash in the chain; null for the tenant's first row and until sealed" }),
  })
  .meta({ id: 'AuditLog' });
export type AuditLogItem = z.infer<typeof auditLogItem>;

export const auditLogPage = pageOf(auditLogItem);
export type AuditLogPage = z.infer<typeof auditLogPage>;
