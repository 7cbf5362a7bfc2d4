import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { authProblems, idParams, problems } from '../../shared/http/schemas.js';
import {
  createProductBody,
  listProductsQuery,
  noContent,
  priceInput,
  priceResponse,
  productPage,
  productResponse,
  updatePriceBody,
  updateProductBody,
} from './catalog.types.js';
import { createPrice, updatePrice } from './prices.service.js';
import { createProduct, deleteProduct, getProduct, listProducts, updateProduct, type CatalogCaller, type CatalogDeps } from './products.service.js';
import { PublicCatalogCache } from './public-catalog.cache.js';
import { publicCatalogRouter } from './public-catalog.router.js';

const caller = (request: FastifyRequest): CatalogCaller => ({ tenantId: authOf(request).tenantId, actor: actorOf(request) });

/**
 * Products and prices: staff management under /api/products and /api/prices, and the public
 * catalog (public-catalog.router.ts). Both share one cache so a write here drops this process's
 * cached public bodies before its response is sent.
 */
export const catalogRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, deps) => {
  const cache = new PublicCatalogCache({ redis: deps.redis, keyPrefix: deps.env.REDIS_KEY_PREFIX, logger: deps.logger });
  await app.register(publicCatalogRouter, { ...deps, cache });

  const catalog: CatalogDeps = { db: deps.db, invalidate: (tenantId) => cache.invalidate(tenantId) };
  const { db } = deps;
  const tags = ['catalog'];

  app.get(
    '/products',
    {
      schema: {
        tags,
        summary: 'List products, each with all its prices',
        description: 'Newest first, cursor-paginated. Deleted products are left out unless includeDeleted=true.',
        querystring: listProductsQuery,
        response: { 200: productPage, ...authProblems },
      },
      config: { permission: 'catalog:read' },
    },
    async (request) => listProducts(db, authOf(request).tenantId, request.query),
  );

  app.get(
    '/products/:id',
    {
      schema: {
        tags,
        summary: 'One product with all its prices',
        description: 'Deleted products are returned too (with deletedAt): existing subscriptions still refer to them.',
        params: idParams,
        response: { 200: productResponse, ...authProblems },
      },
      config: { permission: 'catalog:read' },
    },
    async (request) => getProduct(db, authOf(request).tenantId, request.params.id),
  );

  app.post(
    '/products',
    {
      schema: {
        tags,
        summary: 'Create a product, optionally with prices',
        description: "`features` is validated against the type's schema. Intervals: MONTH or YEAR; ONE_TIME only for DOMAIN products.",
        body: createProductBody,
        response: { 201: productResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'catalog:write' },
    },
    async (request, reply) => reply.code(201).send(await createProduct(catalog, caller(request), request.body)),
  );

  app.patch(
    '/products/:id',
    {
      schema: {
        tags,
        summary: 'Change a product (its type is fixed)',
        description: '`features` replaces the whole object and is validated against the product type. A deleted product cannot be changed (409).',
        params: idParams,
        body: updateProductBody,
        response: { 200: productResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'catalog:write' },
    },
    async (request) => updateProduct(catalog, caller(request), request.params.id, request.body),
  );

  app.delete(
    '/products/:id',
    {
      schema: {
        tags,
        summary: 'Delete a product (soft delete)',
        description: 'Hidden from the public catalog and from new orders; existing subscriptions are left as they are. Already deleted: 409.',
        params: idParams,
        response: { 204: noContent, ...authProblems, ...problems(409) },
      },
      config: { permission: 'catalog:write' },
    },
    async (request, reply) => {
      await deleteProduct(catalog, caller(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/products/:id/prices',
    {
      schema: {
        tags,
        summary: 'Add a price to a product',
        description: 'MONTH or YEAR; ONE_TIME only for DOMAIN products. The interval cannot change later.',
        params: idParams,
        body: priceInput,
        response: { 201: priceResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'catalog:write' },
    },
    async (request, reply) => reply.code(201).send(await createPrice(catalog, caller(request), request.params.id, request.body)),
  );

  app.patch(
    '/prices/:id',
    {
      schema: {
        tags,
        summary: 'Activate or deactivate a price, or correct its amount or currency',
        description: 'The amount and currency of a price that has subscriptions cannot change (409: create a new price instead). The interval is fixed.',
        params: idParams,
        body: updatePriceBody,
        response: { 200: priceResponse, ...authProblems, ...problems(409) },
      },
      config: { permission: 'catalog:write' },
    },
    async (request) => updatePrice(catalog, caller(request), request.params.id, request.body),
  );
};
