import { z } from 'zod';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { passwordSchema } from '../auth/password.js';
import { userEmail, userName, userRole } from './users.types.js';

export const inviteUserBody = z.strictObject({ email: userEmail, name: userName, role: userRole });
export type InviteUserBody = z.output<typeof inviteUserBody>;

export const acceptStaffInvitationBody = z.strictObject({
  token: z.string().min(20).max(200).meta({ description: 'The token from the emailed link' }),
  password: passwordSchema,
});
export type AcceptStaffInvitationBody = z.output<typeof acceptStaffInvitationBody>;

export const listStaffInvitationsQuery = z.strictObject({ ...paginationQuery });
export type ListStaffInvitationsQuery = z.output<typeof listStaffInvitationsQuery>;

export const staffInvitationStatuses = ['PENDING', 'ACCEPTED', 'REVOKED', 'EXPIRED'] as const;

export const staffInvitationResponse = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: userRole,
    status: z.enum(staffInvitationStatuses),
    invitedBy: z.uuid().nullable(),
    expiresAt: timestamp,
    acceptedAt: timestamp.nullable(),
    userId: z.uuid().nullable().meta({ description: 'The user the invitation created, once accepted' }),
    revokedAt: timestamp.nullable(),
    createdAt: timestamp,
  })
  .meta({ id: 'StaffInvitation' });
export type StaffInvitationView = z.output<typeof staffInvitationResponse>;

export const staffInvitationsPage = pageOf(staffInvitationResponse);
export type StaffInvitationsPage = z.output<typeof staffInvitationsPage>;

export const acceptedStaffInvitationResponse = z.object({
  email: z.string(),
  tenant: z.string().meta({ description: "The tenant's slug" }),
  message: z.string(),
});
