import { z } from 'zod';
import { jobStatuses, jobTypes } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';

export const jobStatus = z.enum(jobStatuses);

export const listJobsQuery = z.strictObject({
  status: jobStatus.optional(),
  type: z.enum(jobTypes).optional(),
  subscriptionId: z.uuid().optional(),
  ...paginationQuery,
});
export type ListJobsQuery = z.output<typeof listJobsQuery>;

export const jobHistoryEntry = z
  .object({
    status: jobStatus,
    at: z.string().meta({ description: 'RFC 3339 date-time' }),
    attempt: z.number().int().optional(),
    error: z.string().optional(),
  })
  .meta({ id: 'JobHistoryEntry', description: 'One status transition of a job' });

/** A job without its payload or result (they are the steps' business, and may grow secrets). */
export const jobResponse = z
  .object({
    id: z.uuid(),
    type: z.enum(jobTypes),
    status: jobStatus,
    queue: z.string(),
    subscriptionId: z.uuid().nullable(),
    orderId: z.uuid().nullable(),
    dependsOn: z.array(z.uuid()).meta({ description: 'Jobs that must have SUCCEEDED before this one runs' }),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    lastError: z.string().nullable(),
    enqueuedAt: timestamp.nullable(),
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Job' });
export type JobView = z.output<typeof jobResponse>;

export const jobWithHistory = jobResponse.extend({ history: z.array(jobHistoryEntry) }).meta({ id: 'JobWithHistory' });
export type JobWithHistoryView = z.output<typeof jobWithHistory>;

export const jobsPage = pageOf(jobResponse);
export type JobsPage = z.output<typeof jobsPage>;
