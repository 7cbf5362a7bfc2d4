import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createDatabase, type DatabaseHandle } from './config/database.js';
import type { Env } from './config/env.js';
import { createRedis, waitForRedis } from './config/redis.js';
import { assertMigrated } from './db/migrate.js';
import { JobProducer } from './jobs/queue.js';
import type { JobOutcomes } from './jobs/runner.js';
import { issueSsl } from './modules/certificates/steps/issue-ssl.js';
import { suspendMail, terminateMail, unsuspendMail } from './modules/mail/steps/mail-lifecycle.js';
import { provisionMail } from './modules/mail/steps/provision-mail.js';
import { provisionDns } from './modules/dns/steps/provision-dns.js';
import { provisionHosting } from './modules/hosting/steps/provision-hosting.js';
import { suspendSite, terminateSite, unsuspendSite } from './modules/hosting/steps/site-lifecycle.js';
import { provisioningOutcomes } from './modules/provisioning/provisioning-outcomes.js';
import { verifyAndActivate } from './modules/provisioning/steps/verify-and-activate.js';
import type { StepDefinition, StepServices } from './modules/step-services.js';
import { existsSync, readFileSync } from 'node:fs';
import { AcmeAuthorities } from './providers/acme/acme-authorities.js';
import type { CertificateAuthorities } from './providers/certificates.port.js';
import type { DnsPort } from './providers/dns.port.js';
import { HostDirectory } from './providers/host/host-directory.js';
import type { MailerPort } from './providers/mailer.port.js';
import { SmtpMailer } from './providers/smtp/smtp-mailer.js';
import { StripePayments } from './providers/stripe/stripe-payments.js';
import type { PaymentPort } from './providers/stripe/stripe.port.js';
import type { HostingProvider } from './providers/hosting.port.js';
import type { MailProvider } from './providers/mailserver.port.js';
import { NginxProvider, type NginxSettings } from './providers/nginx/nginx-provider.js';
import { PostfixDovecotProvider, type MailSettings } from './providers/postfix-dovecot/postfix-dovecot.js';
import { PowerDnsClient, type PowerDnsClientOptions } from './providers/powerdns/powerdns.client.js';
import { createSecretBox, type SecretBox } from './shared/crypto/secret-box.js';
import { createLogger } from './shared/logger.js';
import { safeUrl, StartupError } from './shared/startup.js';

/**
 * The production steps: each feature's step, one line each. A job whose type has no handler here
 * fails with a clear error and stays retryable by an admin once the handler ships.
 */
export const productionSteps: readonly StepDefinition[] = [
  provisionDns,
  provisionHosting,
  provisionMail,
  issueSsl,
  verifyAndActivate,
  suspendSite,
  unsuspendSite,
  terminateSite,
  suspendMail,
  unsuspendMail,
  terminateMail,
];

/** How job outcomes move the features' state (the subscription state machine). */
export const jobOutcomes: JobOutcomes = provisioningOutcomes;

// Adapters take plain settings, not Env: the composition root reads the configuration for them.

export function powerDnsSettings(env: Env, logger?: Logger): PowerDnsClientOptions {
  return {
    apiUrl: env.POWERDNS_API_URL,
    apiKey: env.POWERDNS_API_KEY,
    serverId: env.POWERDNS_SERVER_ID,
    timeoutMs: env.POWERDNS_TIMEOUT_MS,
    retries: env.POWERDNS_RETRIES,
    ...(logger ? { logger } : {}),
  };
}

function uidGid(value: string | undefined): { uid: number; gid: number } | null {
  const match = value === undefined ? null : /^(\d+):(\d+)$/.exec(value);
  return match ? { uid: Number(match[1]), gid: Number(match[2]) } : null;
}

export function nginxSettings(env: Env): NginxSettings {
  return {
    layout: { webRoot: env.WEB_ROOT, sitesDir: env.NGINX_SITES_DIR, nginxConf: env.NGINX_CONF, certsDir: env.NGINX_CERTS_DIR, nginxCommand: env.NGINX_COMMAND.split(/\s+/).filter(Boolean) },
    batchWindowMs: env.NGINX_RELOAD_BATCH_MS,
    fileOwner: uidGid(env.WEB_FILE_OWNER),
    siteErrorLogs: env.NGINX_SITE_ERROR_LOGS,
    httpsPort: env.NGINX_HTTPS_PORT,
    tlsKeyOwner: uidGid(env.NGINX_TLS_KEY_OWNER),
    siteLayout: env.NGINX_SITE_LAYOUT,
  };
}

export function mailSettings(env: Env): MailSettings {
  return {
    layout: {
      usersFile: env.DOVECOT_USERS_FILE,
      mailRoot: env.MAIL_ROOT,
      panelDir: env.MAIL_PANEL_DIR,
      dovecotConf: env.DOVECOT_CONF,
      postfixConfigDir: env.POSTFIX_CONFIG_DIR,
      opendkimPidFile: env.OPENDKIM_PID_FILE,
    },
    imapPort: env.MPANEL_IMAP_PORT,
    smtpInPort: env.MPANEL_SMTP_IN_PORT,
  };
}

/** The vendor adapters, built once per process and handed to routes and steps as ports. */
export interface Providers {
  readonly dns: DnsPort;
  readonly hosts: HostDirectory;
  readonly hosting: HostingProvider;
  readonly certificates: CertificateAuthorities;
  readonly mail: MailProvider;
  /** mPanel's own outbound mail (notifications), to SMTP_HOST:SMTP_PORT. */
  readonly mailer: MailerPort;
  /** Stripe (retrieve objects, Checkout for an invoice), at STRIPE_API_BASE. */
  readonly payments: PaymentPort;
}

/** The ACME CA: its listener's CA bundle only when the file exists (Pebble in development; none for Let's Encrypt). */
export function acmeSettings(env: Env, logger?: Logger) {
  return {
    directoryUrl: env.ACME_DIRECTORY_URL,
    contactEmail: env.ACME_EMAIL,
    caCertificatePem: existsSync(env.ACME_CA_CERT) ? readFileSync(env.ACME_CA_CERT, 'utf8') : null,
    termsOfServiceAgreed: true as const,
    ...(logger ? { logger } : {}),
  };
}

export function createProviders(env: Env, logger: Logger): Providers {
  const hosts = new HostDirectory({ sshPrivateKeyPath: env.SSH_PRIVATE_KEY_PATH ?? null });
  return {
    dns: new PowerDnsClient(powerDnsSettings(env, logger)),
    hosts,
    hosting: new NginxProvider(hosts, nginxSettings(env)),
    certificates: new AcmeAuthorities(acmeSettings(env, logger)),
    mail: new PostfixDovecotProvider(hosts, mailSettings(env)),
    payments: new StripePayments({ apiKey: env.STRIPE_API_KEY, apiBase: env.STRIPE_API_BASE }),
    mailer: new SmtpMailer({ host: env.SMTP_HOST, port: env.SMTP_PORT, user: env.SMTP_USER, password: env.SMTP_PASSWORD, maxConnections: env.SMTP_MAX_CONNECTIONS, timeoutMs: env.SMTP_TIMEOUT_MS }),
  };
}

export function createSecrets(env: Env): SecretBox {
  return createSecretBox({ key: env.SECRETS_ENCRYPTION_KEY });
}

/**
 * Composition root: plain factory functions, no DI framework. Each process (API, worker, CLI)
 * builds one container and closes it on the way out.
 */
export interface Container {
  readonly env: Env;
  readonly logger: Logger;
  readonly database: DatabaseHandle;
  /** Fail-fast connection for request-path commands (see config/redis.ts). */
  readonly redis: Redis;
  /** Adds jobs to BullMQ (the producer side of the outbox), for the API, the sweeper and the runner. */
  readonly producer: JobProducer;
  readonly providers: Providers;
  /** What provisioning steps receive. */
  readonly stepServices: StepServices;
  close(): Promise<void>;
}

export function createContainer(env: Env, role: 'api' | 'worker' | 'cli'): Container {
  const logger = createLogger(env, `mpanel-${role}`);
  const database = createDatabase(env.DATABASE_URL, { max: env.DATABASE_POOL_MAX, logger, applicationName: `mpanel-${role}` });
  const redis = createRedis(env.REDIS_URL, 'command');
  const producer = new JobProducer(env);
  const providers = createProviders(env, logger);
  // ioredis reports every failed reconnect; one line per state change is enough.
  let redisDown = false;
  redis.on('error', (error) => {
    if (!redisDown) logger.warn({ err: error }, 'Redis connection lost; retrying');
    redisDown = true;
  });
  redis.on('ready', () => {
    if (redisDown) logger.info('Redis connection restored');
    redisDown = false;
  });
  return {
    env,
    logger,
    database,
    redis,
    producer,
    providers,
    stepServices: { env, dns: providers.dns, hosting: providers.hosting, mail: providers.mail, certificates: providers.certificates, secrets: createSecrets(env) },
    async close() {
      await producer.close();
      await providers.hosts.close();
      await providers.certificates.close();
      providers.mailer.close();
      redis.disconnect();
      await database.pool.end();
    },
  };
}

/**
 * What the API and worker check before they start serving: PostgreSQL reachable and migrated,
 * Redis reachable. Each failure names the variable to fix.
 */
export async function checkDependencies(container: Container): Promise<void> {
  const { env, database, redis } = container;
  try {
    await database.pool.query('select 1');
  } catch (error) {
    throw new StartupError(`cannot connect to PostgreSQL at DATABASE_URL=${safeUrl(env.DATABASE_URL)}: ${describe(error)}`);
  }
  await assertMigrated(database.pool);
  try {
    await waitForRedis(redis, 5_000);
  } catch (error) {
    throw new StartupError(`cannot connect to Redis at REDIS_URL=${safeUrl(env.REDIS_URL)}: ${describe(error)}`);
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describe).join('; ');
  return error instanceof Error ? error.message || error.name : String(error);
}
