import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { validationFailed } from '../../shared/errors/app-error.js';
import { autodiscoverAddress, clientSettings, domainOfRequest, outlookAutodiscover, thunderbirdConfig } from './autoconfig.service.js';
import { targetAddress } from './mail.types.js';

export interface AutoconfigRouterDeps {
  db: Database;
  env: Env;
}

/** An autodiscover request is a few hundred bytes of XML. */
const AUTODISCOVER_BODY_LIMIT = 16 * 1024;

const thunderbirdQuery = z.strictObject({ emailaddress: targetAddress.optional() });

/**
 * Mail client autoconfiguration, outside /api and public (mail clients ask before any login), as
 * pages rather than API operations (hidden from the OpenAPI document): Thunderbird fetches
 * `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…` or
 * `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`, Outlook POSTs to
 * `https://autodiscover.<domain>/autodiscover/autodiscover.xml`. Point those names at the API
 * (README "Mail hosting"). Only hosted mail domains are answered (404 otherwise).
 */
export const autoconfigRouter: FastifyPluginAsyncZod<AutoconfigRouterDeps> = async (app, { db, env }) => {
  // Encapsulated: only this plugin's routes read XML bodies, as plain text.
  app.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'string', bodyLimit: AUTODISCOVER_BODY_LIMIT }, (_request, body, done) => done(null, body));

  for (const url of ['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml']) {
    app.get(url, { schema: { hide: true, querystring: thunderbirdQuery }, config: { public: true } }, async (request, reply) => {
      const settings = await clientSettings(db, env, domainOfRequest(request.query.emailaddress, request.headers.host));
      return reply.type('application/xml; charset=utf-8').header('cache-control', 'public, max-age=3600').send(thunderbirdConfig(settings));
    });
  }

  for (const url of ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml']) {
    app.post(url, { schema: { hide: true, body: z.string().max(AUTODISCOVER_BODY_LIMIT) }, config: { public: true }, bodyLimit: AUTODISCOVER_BODY_LIMIT }, async (request, reply) => {
      const raw = autodiscoverAddress(request.body);
      const address = raw === undefined ? undefined : targetAddress.safeParse(raw);
      if (!address?.success) throw validationFailed([{ field: 'body/EMailAddress', message: 'must hold the e-mail address to configure' }]);
      const settings = await clientSettings(db, env, domainOfRequest(address.data, undefined));
      return reply.type('application/xml; charset=utf-8').send(outlookAutodiscover(settings, address.data));
    });
  }
};
