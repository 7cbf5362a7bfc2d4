import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems, problems } from '../../shared/http/schemas.js';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { webhookSettings } from './webhook-deliveries.js';
import { createEndpoint, deleteEndpoint, getDelivery, getEndpoint, listDeliveries, listEndpoints, redeliver, rotateSecret, sendTestEvent, updateEndpoint } from './webhooks.service.js';
import {
  createEndpointBody,
  deliveryDetail,
  deliveryPage,
  deliveryParams,
  deliveryView,
  endpointList,
  endpointParams,
  endpointView,
  endpointWithSecret,
  listDeliveriesQuery,
  rotatedSecret,
  testDeliveryView,
  updateEndpointBody,
} from './webhooks.types.js';

const tags = ['webhook-endpoints'];

/** The tenant's outgoing webhooks: endpoints, their secrets, and their delivery log (ADMIN). */
export const webhooksRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db, env }) => {
  const settings = webhookSettings(env);

  app.post(
    '/webhook-endpoints',
    {
      schema: {
        tags,
        summary: 'Register a webhook endpoint',
        description:
          'The URL is checked now (https, every address it resolves to public) and again before each delivery. The answer carries the signing secret, ' +
          'shown this once: deliveries are signed per the Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature).',
        body: createEndpointBody,
        response: { 201: endpointWithSecret, ...authProblems },
      },
      config: { permission: 'webhooks:write' },
    },
    async (request, reply) => reply.code(201).send(await createEndpoint(db, settings, authOf(request), request.body, actorOf(request))),
  );

  app.get(
    '/webhook-endpoints',
    { schema: { tags, summary: "The tenant's webhook endpoints", response: { 200: endpointList, ...authProblems } }, config: { permission: 'webhooks:read' } },
    async (request) => listEndpoints(db, authOf(request)),
  );

  app.get(
    '/webhook-endpoints/:id',
    { schema: { tags, summary: 'One webhook endpoint (never its secret)', params: endpointParams, response: { 200: endpointView, ...authProblems } }, config: { permission: 'webhooks:read' } },
    async (request) => getEndpoint(db, authOf(request), request.params.id),
  );

  app.patch(
    '/webhook-endpoints/:id',
    {
      schema: {
        tags,
        summary: 'Change a webhook endpoint',
        description: 'Absent keeps a field, null clears the description. enabled: true re-enables an endpoint disabled after failing (its failures are forgotten).',
        params: endpointParams,
        body: updateEndpointBody,
        response: { 200: endpointView, ...authProblems },
      },
      config: { permission: 'webhooks:write' },
    },
    async (request) => updateEndpoint(db, settings, authOf(request), request.params.id, request.body, actorOf(request)),
  );

  app.delete(
    '/webhook-endpoints/:id',
    {
      schema: {
        tags,
        summary: 'Delete a webhook endpoint',
        description: 'With its delivery log; deliveries not sent yet fail.',
        params: endpointParams,
        response: { 204: z.null().meta({ description: 'The endpoint is deleted' }), ...authProblems },
      },
      config: { permission: 'webhooks:write' },
    },
    async (request, reply) => {
      await deleteEndpoint(db, authOf(request), request.params.id, actorOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        tags,
        summary: "Rotate an endpoint's signing secret",
        description: 'The new secret is shown this once. For 24 hours messages carry two signatures (new and previous secret), so the receiver can switch without losing any.',
        params: endpointParams,
        response: { 200: rotatedSecret, ...authProblems },
      },
      config: { permission: 'webhooks:write' },
    },
    async (request) => rotateSecret(db, settings, authOf(request), request.params.id, actorOf(request)),
  );

  app.post(
    '/webhook-endpoints/:id/test',
    {
      schema: {
        tags,
        summary: 'Send a test event to an endpoint now',
        description:
          'A signed webhook.test event (data: { endpointId }) is POSTed to the endpoint at once, its address checked as for every delivery, and the answer ' +
          'waits for the outcome (up to the 10 s webhook deadline): HTTP status, duration, error. It is recorded in the endpoint\'s delivery log and not ' +
          'retried. A disabled endpoint: 409.',
        params: endpointParams,
        response: { 200: testDeliveryView, ...authProblems, ...problems(409) },
      },
      config: { permission: 'webhooks:write' },
    },
    async (request) => sendTestEvent(db, settings, env.EVENT_DELIVERY_LEASE_MS, authOf(request), request.params.id, actorOf(request)),
  );

  app.get(
    '/webhook-endpoints/:id/deliveries',
    {
      schema: {
        tags,
        summary: "An endpoint's deliveries, newest first",
        description: 'One per event sent to it: status, attempts, and the last attempt\'s HTTP status, latency and response excerpt.',
        params: endpointParams,
        querystring: listDeliveriesQuery,
        response: { 200: deliveryPage, ...authProblems },
      },
      config: { permission: 'webhooks:read' },
    },
    async (request) => listDeliveries(db, authOf(request), request.params.id, request.query),
  );

  app.get(
    '/webhook-endpoints/:id/deliveries/:deliveryId',
    {
      schema: { tags, summary: 'One delivery with its attempt log', params: deliveryParams, response: { 200: deliveryDetail, ...authProblems } },
      config: { permission: 'webhooks:read' },
    },
    async (request) => getDelivery(db, authOf(request), request.params.id, request.params.deliveryId),
  );

  app.post(
    '/webhook-endpoints/:id/deliveries/:deliveryId/redeliver',
    {
      schema: {
        tags,
        summary: 'Send a delivery again',
        description: 'A DELIVERED or FAILED delivery is queued again at once (same webhook-id, fresh timestamp and signature). On its way already, or the endpoint disabled: 409.',
        params: deliveryParams,
        response: { 202: deliveryView, ...authProblems, ...problems(409) },
      },
      config: { permission: 'webhooks:write' },
    },
    async (request, reply) => reply.code(202).send(await redeliver(db, authOf(request), request.params.id, request.params.deliveryId, actorOf(request))),
  );
};
