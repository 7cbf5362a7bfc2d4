import { z } from 'zod';
import { userRoles } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { queryBoolean, timestamp } from '../../shared/http/schemas.js';
import { passwordSchema } from '../auth/password.js';

export const userRole = z.enum(userRoles);
export const userEmail = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase());
export const userName = z.string().trim().min(1).max(120);

export const createUserInput = z.strictObject({
  email: userEmail,
  name: userName,
  role: userRole,
  password: passwordSchema,
});
export type CreateUserInput = z.input<typeof createUserInput>;
export type CreateUserData = z.output<typeof createUserInput>;

export const updateUserBody = z
  .strictObject({
    name: userName.optional(),
    role: userRole.optional(),
    isActive: z.boolean().optional(),
    password: passwordSchema.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'must contain at least one of name, role, isActive, password');
export type UpdateUserBody = z.output<typeof updateUserBody>;

export const listUsersQuery = z.strictObject({
  role: userRole.optional(),
  isActive: queryBoolean.optional(),
  q: z.string().trim().min(1).max(100).optional().meta({ description: 'Substring of the email or the name (case-insensitive)' }),
  ...paginationQuery,
});
export type ListUsersQuery = z.output<typeof listUsersQuery>;

export const userResponse = z
  .object({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: userRole,
    tenantId: z.uuid(),
    isActive: z.boolean(),
    lastLoginAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'User' });
export type UserView = z.output<typeof userResponse>;

export const usersPage = pageOf(userResponse);
export type UsersPage = z.output<typeof usersPage>;
