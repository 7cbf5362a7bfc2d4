import { z } from 'zod';
import { userRoles } from '../../db/schema/index.js';
import { passwordSchema } from '../auth/password.js';

export const userRole = z.enum(userRoles);
export const userEmail = z
  .email()
  .max(254)
  .transform((email) => email.toLowerCase());

export const createUserInput = z.strictObject({
  email: userEmail,
  name: z.string().trim().min(1).max(120),
  role: userRole,
  password: passwordSchema,
});
export type CreateUserInput = z.input<typeof createUserInput>;
