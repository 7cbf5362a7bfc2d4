import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance, type RouteOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DatabaseHandle } from './config/database.js';
import type { Env } from './config/env.js';
import type { JobProducer } from './jobs/queue.js';
import { docsRouter } from './modules/docs/docs.router.js';
import { consoleBuilt, consoleIndex, consoleRouter, DEFAULT_CONSOLE_DIR } from './modules/console/console.router.js';
import { openapiOptions } from './modules/docs/openapi.js';
import { healthRouter } from './modules/health/health.router.js';
import { autoconfigRouter } from './modules/mail/autoconfig.router.js';
import { apiRouters } from './modules/index.js';
import { portalApi } from './modules/portal/index.js';
import { emailCustomerLinkMailer, type CustomerLinkMailer } from './modules/customer-auth/customer-link-mailer.js';
import { emailStaffInvitationMailer, type StaffInvitationMailer } from './modules/users/staff-invitation-mailer.js';
import { AppError } from './shared/errors/app-error.js';
import './shared/http/fastify-augment.js';
import { authenticateRoutes } from './modules/auth/authenticate.js';
import { startSessionCache } from './modules/auth/session-cache.js';
import { errorHandler, sendProblem, writeClientErrorProblem } from './shared/http/problem.js';
import type { RouterDeps } from './modules/router-deps.js';
import type { DnsPort } from './providers/dns.port.js';
import type { MailProvider } from './providers/mailserver.port.js';
import { createHttpMetrics, type HttpMetrics } from './shared/metrics/metrics.js';
import type { MailerPort } from './providers/mailer.port.js';
import type { PaymentPort } from './providers/stripe/stripe.port.js';

export interface AppDeps {
  env: Env;
  logger: Logger;
  database: DatabaseHandle;
  /** A fail-fast ("command") connection: see config/redis.ts. */
  redis: Redis;
  producer: JobProducer;
  providers: { readonly dns: DnsPort; readonly mail: MailProvider; readonly mailer: MailerPort; readonly payments: PaymentPort };
  metrics?: HttpMetrics;
  /** Sends customer links (by email through providers.mailer unless given: tests capture them). */
  customerLinkMailer?: CustomerLinkMailer;
  /** Sends staff invitations (by email through providers.mailer unless given). */
  staffInvitationMailer?: StaffInvitationMailer;
  /** Called for every route as it is registered: tests collect the route table with it. */
  onRoute?: (route: RouteOptions) => void;
}

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger, ZodTypeProvider>;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Slow clients. Node waits 60 s for headers and, under Fastify, for ever for a body, and checks
 * only every 30 s: 20 sockets sending a byte now and then sat for minutes. Headers come in one
 * packet from any real client or proxy, so 5 s is generous; a whole request (1 MB at most) in
 * 15 s needs 70 KB/s. Both are checked every second, so a socket is closed with a 408 at most
 * a second late. Idle keep-alive connections keep Fastify's 72 s, longer than the 60 s idle
 * timeout of the usual proxies in front, so that the proxy, not us, closes them first.
 */
export const HTTP_HEADERS_TIMEOUT_MS = 5_000;
export const HTTP_REQUEST_TIMEOUT_MS = 15_000;
const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

/**
 * Deepest nesting of arrays and objects accepted in a JSON body (400 beyond). Our deepest schema
 * is 4 levels and a Stripe event under 10; deep nesting only costs (parsing, then recursion
 * in validation and serialisation) and is refused before it is parsed.
 */
export const MAX_JSON_DEPTH = 32;

/** True when the JSON text nests arrays and objects deeper than `limit` (strings are skipped; validity is JSON.parse's job). */
function exceedsJsonDepth(text: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    if (inString) {
      if (byte === 0x5c) i++; // a backslash escapes the next character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > limit) return true;
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--;
    }
  }
  return false;
}

/**
 * Helmet's defaults for an API (its document-oriented headers — Origin-Agent-Cluster, COOP,
 * X-DNS-Prefetch-Control, X-Download-Options, X-Permitted-Cross-Domain-Policies, X-XSS-Protection,
 * CSP — protect HTML pages; the docs page sets its own CSP).
 */
const SECURITY_HEADERS = {
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
} as const;

/** Builds the HTTP app without listening: server.ts listens, tests use app.inject(). */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { env, logger, database, redis } = deps;
  const metrics = deps.metrics ?? createHttpMetrics();

  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: env.BODY_LIMIT_BYTES,
    requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
    http: {
      headersTimeout: HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: HTTP_TIMEOUT_CHECK_INTERVAL_MS,
    },
    // Node's own refusals (431, 408, 400 for what is not HTTP) as problems, not Fastify's plain JSON.
    clientErrorHandler: (error, socket) => writeClientErrorProblem(error, socket, logger),
    trustProxy: env.TRUST_PROXY,
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    // Our onResponse hook writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true },
    // The router's own refusals (a malformed percent-encoding in the path, a path parameter over
    // maxParamLength) bypass setErrorHandler; without this they leave as plain JSON, not problems.
    frameworkErrors: (error, request, reply) => {
      void errorHandler(error, request, reply);
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  // The staff console (web/), when built: its client-side routes are answered with its page.
  const consoleDir = env.CONSOLE_DIR ?? DEFAULT_CONSOLE_DIR;
  const consolePage = consoleBuilt(consoleDir) ? consoleIndex(consoleDir) : undefined;
  app.setNotFoundHandler((request, reply) => {
    if (consolePage?.(request, reply)) return;
    return sendProblem(reply, new AppError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`));
  });
  // Added before any router so that it sees every route, /api and operations alike.
  const { onRoute } = deps;
  if (onRoute) app.addHook('onRoute', onRoute);

  // JSON bodies are read as bytes and kept on the request: signature checks (order webhook,
  // Stripe) need the exact bytes received, not a re-serialisation. Parsing uses Fastify's own
  // secure parser, which rejects __proto__ / constructor.prototype keys, after a depth check.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
    request.rawBody = raw;
    if (exceedsJsonDepth(raw, MAX_JSON_DEPTH)) {
      const message = `nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`;
      done(new AppError('BAD_REQUEST', `The JSON body ${message}`, { fields: [{ field: 'body', message }] }), undefined);
      return;
    }
    void parseJson(request, raw.toString('utf8'), done);
  });

  // The security headers that matter for a JSON API, and the request id, set before the handler
  // (which may override one, e.g. the docs page's CSP). Static values in one synchronous hook:
  // @fastify/helmet set the same five headers through its middleware at about 28 µs of CPU per
  // request here, two thirds of what the whole rest of the shell costs (README, Benchmarks).
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    reply.header('x-request-id', request.id);
    done();
  });

  // One readable line per request, with the route template and duration; also feeds the histogram.
  // Successful reads of public endpoints (catalog, probes, docs) are high-volume and say nothing
  // an operator needs: they are logged at debug; everything else at info. Synchronous: an async
  // hook costs a promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    const { url, config } = request.routeOptions; // a getter that builds a new object each time
    const route = url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.observeRequest(request.method, route, status, reply.elapsedTime / 1000);
    const routine = status < 400 && (request.method === 'GET' || request.method === 'HEAD') && config.public === true;
    const level = routine ? 'debug' : 'info';
    if (logger.isLevelEnabled(level)) {
      request.log[level]({ method: request.method, url: request.url, route, status, ms: Math.round(reply.elapsedTime * 10) / 10 }, `${request.method} ${request.url} ${status}`);
    }
    done();
  });

  // The document's fixed parts and the transforms that complete it live in modules/docs/openapi.ts.
  await app.register(swagger, openapiOptions(env));

  await app.register(healthRouter, { pool: database.pool, redis, billingRunIntervalMs: env.BILLING_RUN_INTERVAL_MS });
  // Mail clients' autoconfig / autodiscover: public pages outside /api (modules/mail/autoconfig.router.ts).
  await app.register(autoconfigRouter, { db: database.db, env });
  // Outside the /api plugin: swagger-ui's own routes carry no access config (all of it is public).
  await app.register(docsRouter);
  // Its files, outside /api like the docs.
  if (consolePage) await app.register(consoleRouter, { dir: consoleDir });

  const sessions = await startSessionCache(app, { db: database.db, redis, redisUrl: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX, logger, ttlMs: env.AUTH_CACHE_TTL_MS });
  const routerDeps: RouterDeps = {
    env,
    logger,
    db: database.db,
    redis,
    producer: deps.producer,
    metrics,
    dns: deps.providers.dns,
    mail: deps.providers.mail,
    payments: deps.providers.payments,
    customerLinkMailer: deps.customerLinkMailer ?? emailCustomerLinkMailer({ db: database.db, mailer: deps.providers.mailer, from: env.EMAIL_FROM }),
    staffInvitationMailer: deps.staffInvitationMailer ?? emailStaffInvitationMailer({ db: database.db, mailer: deps.providers.mailer, from: env.EMAIL_FROM }),
    sessions,
  };
  await app.register(
    async (api) => {
      api.addHook('onRoute', authenticateRoutes({ env, db: database.db, sessions }));
      for (const router of apiRouters) await api.register(router, routerDeps);
    },
    { prefix: '/api' },
  );
  // The client portal: customer tokens only (modules/portal/index.ts).
  await app.register(async (portal) => portal.register(portalApi, routerDeps), { prefix: '/api/portal' });

  return app;
}
