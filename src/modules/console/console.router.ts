import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build:web` writes the staff console (web/dist), unless CONSOLE_DIR says otherwise. */
export const DEFAULT_CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

/**
 * The console's Content-Security-Policy, on its own responses only (the API's JSON needs none; the
 * docs page sets its own). Everything comes from this origin; no inline script or style (Vite's
 * production build has none; React sets style properties through the CSSOM, which CSP allows);
 * no framing, no <base>, no plugins. `connect-src 'self'`: the console talks to this API only.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Hashed file names (Vite's `assets/<name>-<hash>.<ext>`) never change content: cached for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** Paths that belong to the API (or are missing assets), never to the console's client-side routes. */
const NOT_CONSOLE = /^\/(?:api|health|ready|metrics|assets)(?:[/?]|$)/;

function consoleHeaders(reply: FastifyReply, cacheControl: string): void {
  reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', cacheControl);
}

/** True when the console has been built into `dir` (index.html present). */
export const consoleBuilt = (dir: string): boolean => existsSync(path.join(dir, 'index.html'));

/**
 * The staff console: the built single-page app at `/`. Files are served as built (the hashed
 * assets with their pre-compressed .br / .gz twins, long-cached). Client-side routes
 * (/subscriptions/…) are answered by the app's not-found handler with consoleIndex() (see
 * app.ts), not by a wildcard route: a `/*` route would also catch what the router refuses on
 * /api paths (a parameter over maxParamLength), turning those 400 problems into 404s.
 */
export const consoleRouter: FastifyPluginAsync<{ dir: string }> = async (app, { dir }) => {
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    wildcard: false,
    index: false,
    preCompressed: true,
    cacheControl: false,
    globIgnore: ['**/index.html', '**/*.br', '**/*.gz', '**/.vite/**'],
    setHeaders: (reply, file) => {
      const immutable = path.relative(dir, file).startsWith(`assets${path.sep}`);
      consoleHeaders(reply, immutable ? IMMUTABLE : 'no-cache');
    },
  });
};

/**
 * index.html of the built console, read once at start-up (a few hundred bytes), and the answer
 * for a GET of a client-side route: the page, no-cache, with the console's CSP. Returns false for
 * what is not the console's (other methods, API paths, missing assets): a 404 problem then.
 */
export function consoleIndex(dir: string): (request: FastifyRequest, reply: FastifyReply) => boolean {
  const html = readFileSync(path.join(dir, 'index.html'));
  return (request, reply) => {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || NOT_CONSOLE.test(request.url)) return false;
    consoleHeaders(reply, 'no-cache');
    void reply.code(200).type('text/html; charset=utf-8').send(html);
    return true;
  };
}
