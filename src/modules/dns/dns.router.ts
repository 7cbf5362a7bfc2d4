import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import { platformHostNames } from '../domains/hosted-names.js';
import { dnsSettings } from './dns-template.js';
import { createRecord, deleteRecord, getZone, listZones, updateRecord, type DnsCaller, type DnsDeps } from './dns.service.js';
import { createRecordBody, dnsRecordResponse, dnsZoneDetail, dnsZonesPage, listZonesQuery, noContent, updateRecordBody } from './dns.types.js';

const caller = (request: FastifyRequest): DnsCaller => ({ tenantId: authOf(request).tenantId, actor: actorOf(request) });

const writeDescription =
  'Written to PowerDNS and the database together: if PowerDNS refuses the change (422, with its reason) or cannot be reached (503), nothing changes.';

export const dnsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env, logger, dns }) => {
  const deps: DnsDeps = { db, dns, settings: dnsSettings(env), logger, platformNames: platformHostNames(env) };
  const tags = ['dns'];

  app.get(
    '/dns/zones',
    {
      schema: {
        tags,
        summary: "List the tenant's DNS zones, newest first",
        querystring: listZonesQuery,
        response: { 200: dnsZonesPage, ...authProblems },
      },
      config: { permission: 'dns:read' },
    },
    async (request) => listZones(db, authOf(request).tenantId, request.query),
  );

  app.get(
    '/dns/zones/:id',
    {
      schema: {
        tags,
        summary: 'A DNS zone with its records and name servers',
        params: idParams,
        response: { 200: dnsZoneDetail, ...authProblems },
      },
      config: { permission: 'dns:read' },
    },
    async (request) => getZone(deps, authOf(request).tenantId, request.params.id),
  );

  app.post(
    '/dns/zones/:id/records',
    {
      schema: {
        tags,
        summary: 'Add a record to a zone',
        description: `${writeDescription} A CNAME shares its name with no other record; the zone's own NS records come from the configuration.`,
        params: idParams,
        body: createRecordBody,
        response: { 201: dnsRecordResponse, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'dns:write' },
    },
    async (request, reply) => reply.code(201).send(await createRecord(deps, caller(request), request.params.id, request.body)),
  );

  app.patch(
    '/dns/records/:id',
    {
      schema: {
        tags,
        summary: "Change a record's name, content, TTL or priority",
        description: `${writeDescription} A TTL applies to every record of the same name and type.`,
        params: idParams,
        body: updateRecordBody,
        response: { 200: dnsRecordResponse, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'dns:write' },
    },
    async (request) => updateRecord(deps, caller(request), request.params.id, request.body),
  );

  app.delete(
    '/dns/records/:id',
    {
      schema: {
        tags,
        summary: 'Delete a record',
        description: writeDescription,
        params: idParams,
        response: { 204: noContent, ...authProblems, ...problems(409, 422, 503) },
      },
      config: { permission: 'dns:write' },
    },
    async (request, reply) => {
      await deleteRecord(deps, caller(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
