import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createRedis } from '../../config/redis.js';
import type { RouterDeps } from '../router-deps.js';
import { problems } from '../../shared/http/schemas.js';
import { notModified, publicCatalogQuery, publicPlansResponse, publicProductsResponse } from './catalog.types.js';
import { matchesIfNoneMatch, type PublicCatalogCache, type PublicEndpoint } from './public-catalog.cache.js';
import { PublicTenantLookup, renderPublicCatalog } from './public-catalog.service.js';
import { sendJsonText } from '../../shared/http/serve-as-is.js';

export interface PublicCatalogRouterDeps extends RouterDeps {
  cache: PublicCatalogCache;
}

const CACHE_CONTROL = 'public, max-age=60';

/** The marketing site's read of the catalog: no token, cached bodies with ETags (public-catalog.cache.ts). */
export const publicCatalogRouter: FastifyPluginAsyncZod<PublicCatalogRouterDeps> = async (app, { env, db, cache }) => {
  // A subscribed connection can send nothing but (un)subscribe commands: it is its own connection.
  const subscriber = createRedis(env.REDIS_URL, 'worker');
  let subscriberDown = false;
  subscriber.on('error', (error) => {
    if (!subscriberDown) app.log.warn({ err: error }, 'public catalog: invalidation subscriber lost Redis; retrying');
    subscriberDown = true;
  });
  subscriber.on('ready', () => {
    subscriberDown = false;
  });
  app.addHook('onClose', async () => {
    subscriber.disconnect();
  });
  await cache.listen(subscriber);

  const tenants = new PublicTenantLookup(db);

  /** Cached body with its ETag; 304 when the client has it. The body is sent as is, never re-serialised. */
  async function serve(endpoint: PublicEndpoint, request: FastifyRequest<{ Querystring: { tenant?: string | undefined } }>, reply: FastifyReply) {
    const tenant = await tenants.resolve(request.query.tenant);
    const { body, etag } = await cache.get(tenant.id, endpoint, () => renderPublicCatalog(db, tenant.id, endpoint));
    reply.header('etag', etag).header('cache-control', CACHE_CONTROL);
    if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return sendJsonText(reply, body);
  }

  const description =
    'Only active, public, non-deleted products and active prices, sorted by product name then amount. ' +
    'Responses carry a strong ETag and Cache-Control; If-None-Match with the current ETag answers 304. ' +
    '`tenant` may be omitted when exactly one tenant is active (otherwise 400); an unknown or inactive tenant answers 404.';

  app.get(
    '/public/products',
    {
      schema: {
        tags: ['catalog'],
        summary: "A tenant's public products with their prices (for the marketing site)",
        description,
        querystring: publicCatalogQuery,
        response: { 200: publicProductsResponse, 304: notModified, ...problems(400, 404) },
      },
      config: { public: true },
    },
    (request, reply) => serve('products', request, reply),
  );

  app.get(
    '/public/plans',
    {
      schema: {
        tags: ['catalog'],
        summary: "A tenant's plans: one per public product and active price (planId is the price id an order names)",
        description,
        querystring: publicCatalogQuery,
        response: { 200: publicPlansResponse, 304: notModified, ...problems(400, 404) },
      },
      config: { public: true },
    },
    (request, reply) => serve('plans', request, reply),
  );
};
