import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { openapiDocument } from './docs.types.js';

export const DOCS_PREFIX = '/api/docs';

/**
 * The swagger-ui package's own Content-Security-Policy (its `staticCSP`) with the sources that
 * point off the machine removed: the page and its assets are served from the npm package, so
 * nothing needs `https:` or the public swagger validator. `upgrade-insecure-requests` goes too:
 * an install reached over plain HTTP (loopback, a private network) would have its same-origin
 * assets rewritten to https and fail to load; TLS belongs to the proxy in front.
 * Checked in headless Chromium: the page renders every operation; the one inline style it blocks
 * is in swagger-ui's own top-bar SVG logo, which the page replaces with an image at once.
 */
export function localOnlyCsp(policy: string): string {
  const offMachine = new Set(['https:', 'http:', 'validator.swagger.io']);
  return policy
    .split(';')
    .map((directive) => directive.trim().split(/\s+/).filter((token) => token !== '' && !offMachine.has(token)))
    .filter((tokens) => tokens.length > 0 && tokens[0] !== 'upgrade-insecure-requests')
    .map((tokens) => tokens.join(' '))
    .join('; ');
}

/**
 * GET /api/openapi.json and the rendered docs at /api/docs (swagger-ui from the npm package, no
 * CDN). Registered by app.ts outside the /api plugin: swagger-ui adds its own routes (page,
 * assets, its copy of the document), which carry no access config, and every route of the
 * /api plugin must declare one. All of it is public.
 */
export const docsRouter: FastifyPluginAsyncZod = async (app) => {
  let document: z.output<typeof openapiDocument> | undefined;
  app.get(
    '/api/openapi.json',
    {
      schema: {
        tags: ['docs'],
        summary: 'This OpenAPI 3.1 document',
        description: 'Generated from the zod schemas the routes validate with.',
        response: { 200: openapiDocument },
      },
      config: { public: true },
    },
    // The document is fixed once the app is ready: checked against its declared shape once.
    async () => (document ??= openapiDocument.parse(app.swagger())),
  );

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: true,
    transformStaticCSP: localOnlyCsp,
    theme: { title: 'mPanel API' },
    uiConfig: { deepLinking: true, displayOperationId: true, defaultModelsExpandDepth: 0, docExpansion: 'list', tryItOutEnabled: false },
  });
};
