import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { actorOf, authOf, clientMeta } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { acceptStaffInvitation, inviteUser, listStaffInvitations, revokeStaffInvitation } from './staff-invitations.service.js';
import { acceptedStaffInvitationResponse, acceptStaffInvitationBody, inviteUserBody, listStaffInvitationsQuery, staffInvitationResponse, staffInvitationsPage } from './staff-invitations.types.js';
import { addUser, deleteUser, getUser, listUsers, updateUser } from './users.service.js';
import { createUserInput, listUsersQuery, updateUserBody, userResponse, usersPage } from './users.types.js';

const tags = ['users'];

export const usersRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env, sessions, staffInvitationMailer, logger }) => {
  app.get(
    '/users',
    {
      schema: { tags, summary: "List the tenant's users", querystring: listUsersQuery, response: { 200: usersPage, ...authProblems } },
      config: { permission: 'users:read' },
    },
    async (request) => listUsers(db, authOf(request), request.query),
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        summary: 'Create a user in a tenant, with a password (platform SUPER_ADMIN only)',
        description:
          'Emails are unique across all tenants (409), so this answer would tell a tenant that an address is used elsewhere: ' +
          "tenant ADMINs invite staff with POST /api/users/invitations instead. Nobody can grant a role above their own (403).",
        body: createUserInput,
        response: { 201: userResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:create' },
    },
    async (request, reply) => reply.status(201).send(await addUser(db, authOf(request), request.body, actorOf(request))),
  );

  app.post(
    '/users/invitations',
    {
      schema: {
        tags,
        summary: 'Invite a person to the tenant as staff (emails them a link to choose a password, valid 72 h)',
        description:
          'The same answer whatever the address (an address used in another tenant is not revealed: its owner learns it on accepting). ' +
          '409 only when a user of this tenant has the address; an open invitation to it is replaced. Nobody can grant a role above their own (403).',
        body: inviteUserBody,
        response: { 201: staffInvitationResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request, reply) => {
      const { invitation, mail } = await inviteUser(db, authOf(request), request.body, actorOf(request), env.CONSOLE_URL);
      // Committed. The relay's answer is not awaited: an invitation that did not arrive is sent again by inviting again.
      staffInvitationMailer.send(mail).catch((error: unknown) => logger.error({ err: error, invitation: invitation.id }, 'users: the invitation email could not be sent'));
      return reply.status(201).send(invitation);
    },
  );

  app.get(
    '/users/invitations',
    {
      schema: { tags, summary: "The tenant's staff invitations, newest first", querystring: listStaffInvitationsQuery, response: { 200: staffInvitationsPage, ...authProblems } },
      config: { permission: 'users:read' },
    },
    async (request) => listStaffInvitations(db, authOf(request), request.query),
  );

  app.delete(
    '/users/invitations/:id',
    {
      schema: {
        tags,
        summary: 'Revoke an invitation: its link stops working',
        description: '409 once accepted (disable or delete the user instead).',
        params: idParams,
        response: { 204: z.null().meta({ description: 'The invitation is revoked' }), ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request, reply) => {
      await revokeStaffInvitation(db, authOf(request), request.params.id, actorOf(request));
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/auth/accept-invitation',
    {
      schema: {
        tags: ['auth'],
        summary: "Accept a staff invitation: choose the password of the new user (the link's token, single use)",
        description: '401 for a link that is unknown, expired, revoked or used; 409 when the address already has an account (in any tenant).',
        body: acceptStaffInvitationBody,
        response: { 201: acceptedStaffInvitationResponse, ...problems(400, 401, 409) },
      },
      config: { public: true },
    },
    async (request, reply) => {
      const accepted = await acceptStaffInvitation(db, request.body.token, request.body.password, clientMeta(request));
      return reply.status(201).send({ ...accepted, message: 'Your user is ready: sign in with this email and your password' });
    },
  );

  app.get(
    '/users/:id',
    {
      schema: { tags, summary: 'A user of the tenant', params: idParams, response: { 200: userResponse, ...authProblems } },
      config: { permission: 'users:read' },
    },
    async (request) => getUser(db, authOf(request), request.params.id),
  );

  app.patch(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Rename, change the role of, disable or re-enable a user, or set their password',
        description:
          'Disabling a user or changing their password revokes their refresh tokens. 403 for a role above your own; ' +
          '409 for disabling yourself or taking away the last active ADMIN.',
        params: idParams,
        body: updateUserBody,
        response: { 200: userResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request) => {
      const user = await updateUser(db, authOf(request), request.params.id, request.body, actorOf(request));
      // Committed: the user's requests see the change now, in every API process.
      await sessions.invalidate({ user: user.id });
      return user;
    },
  );

  app.delete(
    '/users/:id',
    {
      schema: {
        tags,
        summary: 'Delete a user (soft delete; their sessions end)',
        description: '409 for deleting yourself or the last active ADMIN.',
        params: idParams,
        response: { 204: z.null().meta({ description: 'The user is deleted' }), ...authProblems, ...problems(409) },
      },
      config: { permission: 'users:write' },
    },
    async (request, reply) => {
      await deleteUser(db, authOf(request), request.params.id, actorOf(request));
      await sessions.invalidate({ user: request.params.id });
      return reply.status(204).send(null);
    },
  );
};
