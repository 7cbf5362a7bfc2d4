import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { createTenant, getTenant, listTenants, tenantView, updateTenant } from './tenants.service.js';
import { createTenantInput, listTenantsQuery, tenantResponse, tenantsPage, updateTenantBody } from './tenants.types.js';

const tags = ['tenants'];

export const tenantsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, sessions }) => {
  app.get(
    '/tenants',
    {
      schema: { tags, summary: 'List all tenants (SUPER_ADMIN)', querystring: listTenantsQuery, response: { 200: tenantsPage, ...authProblems } },
      config: { permission: 'tenants:read' },
    },
    async (request) => listTenants(db, request.query),
  );

  app.post(
    '/tenants',
    {
      schema: {
        tags,
        summary: 'Create a tenant (SUPER_ADMIN)',
        body: createTenantInput,
        response: { 201: tenantResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'tenants:write' },
    },
    async (request, reply) => reply.status(201).send(tenantView(await createTenant(db, request.body, actorOf(request)))),
  );

  app.get(
    '/tenants/:id',
    {
      schema: { tags, summary: 'A tenant (SUPER_ADMIN)', params: idParams, response: { 200: tenantResponse, ...authProblems } },
      config: { permission: 'tenants:read' },
    },
    async (request) => getTenant(db, request.params.id),
  );

  app.patch(
    '/tenants/:id',
    {
      schema: {
        tags,
        summary: 'Rename, deactivate or reactivate a tenant (SUPER_ADMIN)',
        description: "A deactivated tenant's tokens stop working at once (401). 409 for deactivating your own tenant.",
        params: idParams,
        body: updateTenantBody,
        response: { 200: tenantResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'tenants:write' },
    },
    async (request) => {
      const tenant = await updateTenant(db, authOf(request), request.params.id, request.body, actorOf(request));
      await sessions.invalidate({ tenant: tenant.id });
      return tenant;
    },
  );
};
