import { z } from 'zod';
import { timestamp } from '../../shared/http/schemas.js';
import { certificateStatus } from '../certificates/certificates.types.js';

export const dashboardQuery = z.strictObject({
  expiringWithinDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(90)
    .default(30)
    .meta({ description: 'Certificates whose notAfter falls within this many days count as expiring (default 30)' }),
});
export type DashboardQuery = z.output<typeof dashboardQuery>;

const percentiles = {
  count: z.number().int().meta({ description: 'Orders that went live in the window' }),
  p50Seconds: z.number().nullable().meta({ description: 'Median seconds from order to live (null: no order went live)' }),
  p95Seconds: z.number().nullable(),
};

export const dashboardResponse = z
  .object({
    orderToLive: z
      .object({
        from: timestamp,
        to: timestamp,
        ...percentiles,
        hours: z
          .array(z.object({ hour: timestamp.meta({ description: 'Start of the hour (UTC)' }), ...percentiles }))
          .meta({ description: 'Hours with at least one order gone live, oldest first' }),
      })
      .meta({ description: 'Order placed (createdAt) to live (fulfilledAt), over the last 24 hours' }),
    certificates: z.object({
      expiringWithinDays: z.number().int(),
      expiringCount: z.number().int().meta({ description: 'ISSUED certificates that expire within the window (or already have)' }),
      failedCount: z.number().int(),
      expiring: z
        .array(z.object({ id: z.uuid(), commonName: z.string(), status: certificateStatus, notAfter: timestamp.nullable(), renewAfter: timestamp.nullable(), lastError: z.string().nullable() }))
        .meta({ description: 'The 10 that expire first' }),
    }),
    lastBillingRun: z
      .object({
        id: z.uuid(),
        trigger: z.string().meta({ description: 'scheduler | cli' }),
        status: z.enum(['SUCCEEDED', 'FAILED']),
        asOf: timestamp,
        startedAt: timestamp,
        finishedAt: timestamp.nullable(),
        counts: z.record(z.string(), z.number()).meta({ description: 'Actions taken, by kind (across every tenant the run covered)' }),
        error: z.string().nullable(),
      })
      .nullable()
      .meta({ description: "The last finished, not dry, billing run over every tenant or this one (null: none yet)" }),
  })
  .meta({ id: 'Dashboard' });
export type Dashboard = z.output<typeof dashboardResponse>;
