import path from 'node:path';
import { z } from 'zod';
import { isNormalizedDomain } from '../shared/domain-name.js';

/**
 * Every setting mPanel reads, parsed once from the environment. Defaults point at the loopback
 * services started by `scripts/services.sh`. The secrets have public defaults for the test suite
 * only (NODE_ENV=test): anywhere else a missing secret stops start-up, naming the command that
 * generates it, since anyone who reads this file could sign an order or mint a token with them.
 */

/** The command that writes strong values for the missing secrets to ./.env. */
export const GENERATE_SECRETS_COMMAND = 'mpanel secrets generate';

const TEST_SECRETS = {
  JWT_SECRET: 'dev-only-jwt-secret-change-me-0123456789abcdef',
  MARKETING_WEBHOOK_SECRET: 'dev-only-marketing-webhook-secret',
  STRIPE_WEBHOOK_SECRET: 'whsec_dev_only_stripe_webhook_secret',
  STRIPE_API_KEY: 'sk_test_dev_only_mpanel_stripe_key',
  POWERDNS_API_KEY: 'dev-pdns-key',
  SECRETS_ENCRYPTION_KEY: 'dev-only-encryption-key-change-me-0123456789',
} as const;
export const secretNames = ['JWT_SECRET', 'MARKETING_WEBHOOK_SECRET', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_KEY', 'POWERDNS_API_KEY', 'SECRETS_ENCRYPTION_KEY'] as const;
export type SecretName = (typeof secretNames)[number];

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = (protocols: readonly string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** "15m", "7d", "3600s" or a bare number of seconds. */
const duration = z
  .string()
  .regex(/^\d+\s*[smhd]?$/, 'must be a duration like 900, 900s, 15m, 12h or 7d')
  .transform(parseDurationSeconds);

export function parseDurationSeconds(value: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  if (!match) throw new Error(`not a duration: ${value}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** Comma-separated host names (e.g. name servers), each a normalised domain name. */
const hostList = z.string().transform((value, ctx) => {
  const hosts = value.split(',').map((host) => host.trim()).filter(Boolean);
  if (hosts.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one host name' });
  for (const host of hosts) if (!isNormalizedDomain(host)) ctx.addIssue({ code: 'custom', message: `"${host}" is not a lower-case host name like ns1.example.com` });
  return hosts;
});

/** A host name that may contain `{domain}`, replaced by the customer's domain (e.g. mail.{domain}). */
const domainTemplate = z
  .string()
  .refine((value) => isNormalizedDomain(value.replaceAll('{domain}', 'example.com')), 'must be a lower-case host name, optionally with {domain}, e.g. mail.{domain}');

/** TXT record text: printable ASCII; `{domain}` is replaced by the customer's domain. */
const txtText = z
  .string()
  .min(1)
  .max(1000)
  .regex(/^[\x20-\x7e]+$/, 'must be printable ASCII');

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    /** Loopback unless chosen: 0.0.0.0 belongs behind a reverse proxy (README, "Exposing the API"). */
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: port.default(2271),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    APP_URL: url(['http:', 'https:']).default('http://127.0.0.1:2271'),
    TRUST_PROXY: bool.default(false),
    BODY_LIMIT_BYTES: positiveInt.default(1_048_576),
    /** The built staff console (`npm run build:web`); default web/dist of this checkout. Not built: no console, the API runs. */
    CONSOLE_DIR: z.string().min(1).optional(),

    DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://mpanel_app@127.0.0.1:5432/mpanel'),
    MIGRATION_DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://mpanel@127.0.0.1:5432/mpanel'),
    DATABASE_POOL_MAX: positiveInt.default(10),
    REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, _ . : - only')
      .default('mpanel'),

    JWT_SECRET: z
      .string()
      .refine((s) => Buffer.byteLength(s, 'utf8') >= 32, 'must be at least 32 bytes')
      .optional(),
    JWT_ISSUER: z.string().min(1).default('mpanel'),
    JWT_AUDIENCE: z.string().min(1).default('mpanel-api'),
    JWT_ACCESS_EXPIRES_IN: duration.default(900),
    JWT_REFRESH_EXPIRES_IN: duration.default(7 * 86400),
    LOGIN_MAX_FAILURES_PER_ACCOUNT: positiveInt.default(5),
    LOGIN_MAX_FAILURES_PER_IP: positiveInt.default(20),
    LOGIN_FAILURE_WINDOW: duration.default(900),
    /** How long the API trusts its in-memory copy of a caller's user, tenant and session (changes also arrive by Redis pub/sub). */
    AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(1_000).default(1_000),
    /** Client portal (modules/portal): the customer tokens' audience, never accepted by staff routes. */
    JWT_PORTAL_AUDIENCE: z.string().min(1).default('mpanel-portal'),
    /** Where one-time links sent to customers point: `<PORTAL_URL>/<action>?token=...`. */
    PORTAL_URL: url(['http:', 'https:']).default('http://127.0.0.1:2271/portal'),
    /** Where staff invitation links point: `<CONSOLE_URL>/accept-invitation?token=...` (the staff console). */
    CONSOLE_URL: url(['http:', 'https:']).default('http://127.0.0.1:2271'),

    EMAIL_FROM: z.email().default('mpanel@localhost.localdomain'),
    /** mPanel's own outbound mail (notifications) goes to this relay, never through the hosted mail server's Postfix. */
    SMTP_HOST: z.string().min(1).default('127.0.0.1'),
    SMTP_PORT: port.default(2525),
    SMTP_USER: z.string().min(1).optional(),
    SMTP_PASSWORD: z.string().min(1).optional(),
    SMTP_MAX_CONNECTIONS: positiveInt.default(5),
    SMTP_TIMEOUT_MS: positiveInt.default(10_000),
    /** How often a worker looks for new events and due deliveries (modules/events/event-dispatcher.ts). */
    EVENT_POLL_INTERVAL_MS: positiveInt.default(200),
    /** Deliveries one worker sends at once. */
    EVENT_DELIVERY_CONCURRENCY: positiveInt.default(20),
    /** How long a claimed delivery stays claimed before another worker may take it (a worker died). */
    EVENT_DELIVERY_LEASE_MS: positiveInt.default(60_000),
    /** Temporary failures are retried with exponential backoff for this long, then the delivery fails. */
    EVENT_DELIVERY_MAX_AGE: duration.default(3 * 86400),
    EVENT_DELIVERY_BACKOFF_BASE_MS: positiveInt.default(5_000),
    /** Outgoing webhooks (modules/events/webhooks): how long one request may take before it counts as failed. */
    WEBHOOK_TIMEOUT_MS: positiveInt.default(10_000),
    /** An endpoint whose deliveries have failed without a success for this long is disabled (its admins are told). */
    WEBHOOK_DISABLE_AFTER: duration.default(3 * 86400),
    /**
     * Endpoints on loopback (127.0.0.0/8, ::1, and http:// to them) are accepted: default outside
     * production (development, tests), refused at start-up in production. Private, link-local and
     * metadata addresses are refused whatever this says.
     */
    WEBHOOK_ALLOW_LOOPBACK: bool.optional(),
    /** address:port of the resolver webhook host names are looked up with (default: the system's; in tests DNS_RESOLVER). */
    WEBHOOK_DNS_RESOLVER: z
      .string()
      .regex(/^[0-9a-fA-F.:[\]]+:\d+$/, 'must be address:port, e.g. 127.0.0.1:53')
      .optional(),

    POWERDNS_API_URL: url(['http:', 'https:']).default('http://127.0.0.1:8081/api/v1'),
    POWERDNS_API_KEY: z.string().min(1).optional(),
    POWERDNS_SERVER_ID: z.string().min(1).default('localhost'),
    DNS_RESOLVER: z
      .string()
      .regex(/^[0-9a-fA-F.:[\]]+:\d+$/, 'must be address:port, e.g. 127.0.0.1:5300')
      .default('127.0.0.1:5300'),
    POWERDNS_TIMEOUT_MS: positiveInt.default(5_000),
    POWERDNS_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
    DNS_NAMESERVERS: hostList.default(['ns1.mpanel.test', 'ns2.mpanel.test']),
    /** More host names of the platform that no tenant may host (nor a name under or above them), comma-separated. */
    PLATFORM_HOSTNAMES: hostList.optional().transform((hosts) => hosts ?? []),
    DNS_HOSTMASTER: z.email().default('hostmaster@mpanel.test'),
    DNS_DEFAULT_TTL: z.coerce.number().int().min(60).max(604_800).default(3600),
    DNS_DEFAULT_WEB_IPV4: z.ipv4().default('127.0.0.1'),
    DNS_DEFAULT_WEB_IPV6: z.ipv6().optional(),
    DNS_MAIL_HOST: domainTemplate.default('mail.{domain}'),
    DNS_DEFAULT_MAIL_IPV4: z.ipv4().default('127.0.0.1'),
    DNS_DEFAULT_MAIL_IPV6: z.ipv6().optional(),
    DNS_SPF: txtText.default('v=spf1 mx -all'),
    DNS_DMARC: bool.default(true),
    DNS_DMARC_RECORD: txtText.default('v=DMARC1; p=quarantine'),
    /**
     * Mail client autoconfiguration in every new zone: `autoconfig` and `autodiscover` CNAME to
     * this host (the API's public name, which answers them: README "Mail hosting" → Autoconfig),
     * and `_autodiscover._tcp` SRV to it on 443. Unset: no such records.
     */
    DNS_AUTOCONFIG_HOST: z
      .string()
      .refine(isNormalizedDomain, 'must be a lower-case host name like panel.example.com')
      .optional(),

    MARKETING_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    STRIPE_WEBHOOK_SECRET: z.string().startsWith('whsec_', 'must start with whsec_').optional(),
    /**
     * Which Stripe mode this install takes events from (an event's `livemode`): live in
     * production, test mode elsewhere, unless set. An event of the other mode is recorded and ignored.
     */
    STRIPE_LIVEMODE: bool.optional(),
    /** The Stripe secret (or restricted) key the payment port calls Stripe with (providers/stripe/stripe-payments.ts). */
    STRIPE_API_KEY: z
      .string()
      .regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/, 'must be a Stripe secret or restricted key (sk_live_..., sk_test_..., rk_live_..., rk_test_...)')
      .optional(),
    /**
     * Where the SDK sends API requests (scheme, host, port; no path): Stripe itself unless set. With
     * NODE_ENV=test a closed loopback port, so a test never reaches Stripe; tests that need it
     * point it at the loopback stand-in (test/helpers/stripe-standin.ts).
     */
    STRIPE_API_BASE: z
      .string()
      .refine((value) => {
        try {
          const parsed = new URL(value);
          return (parsed.protocol === 'https:' || parsed.protocol === 'http:') && (parsed.pathname === '/' || parsed.pathname === '') && !parsed.search && !parsed.username;
        } catch {
          return false;
        }
      }, 'must be a URL with only a scheme (http or https), a host and optionally a port, e.g. https://api.stripe.com')
      .optional(),
    /** Where Stripe Checkout sends the customer after paying an invoice, or giving up (`{invoice}` is replaced by its id); default: the portal's invoices page. */
    STRIPE_CHECKOUT_SUCCESS_URL: url(['http:', 'https:']).optional(),
    STRIPE_CHECKOUT_CANCEL_URL: url(['http:', 'https:']).optional(),
    SECRETS_ENCRYPTION_KEY: z
      .string()
      .refine((s) => Buffer.byteLength(s, 'utf8') >= 32, 'must be at least 32 bytes')
      .optional(),

    /** Where TERMINATE_SITE archives a site before removing it (default $MPANEL_RUN_DIR/backups). */
    BACKUPS_DIR: z.string().min(1).optional(),
    /** How long a terminated subscription's DNS zone keeps answering before it is deleted. */
    DNS_ZONE_RETENTION: duration.default(7 * 86400),
    DNS_RETENTION_SWEEP_INTERVAL_MS: positiveInt.default(60_000),
    /** How often the worker runs the billing run (renewal invoices, dunning, cancellations): modules/billing/billing-run.ts. */
    BILLING_RUN_INTERVAL_MS: positiveInt.default(3_600_000),
    JOB_MAX_ATTEMPTS: positiveInt.default(6),
    JOB_BACKOFF_BASE_MS: positiveInt.default(1_000),
    OUTBOX_SWEEP_INTERVAL_MS: positiveInt.default(5_000),
    /** How often the worker seals new audit rows into their tenant's hash chain (modules/audit/audit-seal.ts). */
    AUDIT_SEAL_INTERVAL_MS: positiveInt.default(1_000),
    OUTBOX_PENDING_AFTER_MS: positiveInt.default(10_000),
    WORKER_CONCURRENCY: positiveInt.default(10),
    WORKER_LOCK_DURATION_MS: positiveInt.default(30_000),
    WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    WORKER_METRICS_PORT: port.default(2272),
    /** The API's Prometheus endpoint, on its own port so that it is never public with the API (0 = any free port). */
    API_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
    API_METRICS_PORT: port.default(2273),

    MPANEL_RUN_DIR: z.string().min(1).default('/var/lib/mpanel'),
    WEB_ROOT: z.string().min(1).optional(),
    NGINX_SITES_DIR: z.string().min(1).optional(),
    NGINX_CONF: z.string().min(1).optional(),
    NGINX_HTTP_PORT: port.default(8080),
    /** The nginx command (argv, split on spaces) for `-t` and `-s reload`, locally and over SSH (e.g. `sudo -n /usr/sbin/nginx`). */
    NGINX_COMMAND: z
      .string()
      .regex(/^[A-Za-z0-9_./= -]+$/, 'must be a command and its arguments (letters, digits, _ . / = - and spaces), e.g. nginx or sudo -n /usr/sbin/nginx')
      .default('nginx'),
    /**
     * Each site's own error.log beside its access.log. Every log file is an open file in nginx's
     * master and workers, twice in the master during a reload: 2 logs per site need ~4 files per
     * site of RLIMIT_NOFILE (20,000 for 5,000 sites); false keeps errors in nginx's main log.
     */
    NGINX_SITE_ERROR_LOGS: bool.default(true),
    /**
     * How sites reach nginx (README "Hosting" → Layouts): `shared` (two generic server blocks, a
     * site is files and links: no reload to add, suspend or switch one to HTTPS; errors in nginx's
     * main log) or `per-site` (a vhost per site, each change tested and reloaded; per-site error logs).
     */
    NGINX_SITE_LAYOUT: z.enum(['shared', 'per-site']).default('shared'),
    /** Vhost changes arriving within this window share one `nginx -t` + reload. */
    NGINX_RELOAD_BATCH_MS: z.coerce.number().int().min(0).max(5_000).default(50),
    /** uid:gid given to each site's directory and placeholder (unset: the worker's own user). */
    WEB_FILE_OWNER: z
      .string()
      .regex(/^\d+:\d+$/, 'must be numeric uid:gid, e.g. 33:33')
      .optional(),
    /** Private key (OpenSSH or PEM file) the SSH hosting driver logs in with. */
    SSH_PRIVATE_KEY_PATH: z.string().min(1).optional(),
    /** How long VERIFY_AND_ACTIVATE keeps checking DNS + HTTP in one attempt before it fails (and retries). */
    SITE_CHECK_TIMEOUT_MS: positiveInt.default(5_000),
    ACME_DIRECTORY_URL: url(['https:', 'http:']).default('https://127.0.0.1:14000/dir'),
    ACME_CA_CERT: z.string().min(1).optional(),
    ACME_EMAIL: z.email().default('hostmaster@localhost.localdomain'),
    /** HTTPS: nginx's TLS port for every site (443 in production), per-site certificate directory, owner of the key files (nginx's worker user, which loads them at handshake time). */
    NGINX_HTTPS_PORT: port.default(8443),
    NGINX_CERTS_DIR: z.string().min(1).optional(),
    NGINX_TLS_KEY_OWNER: z
      .string()
      .regex(/^\d+:\d+$/, 'must be numeric uid:gid of nginx\'s worker user, e.g. 33:33')
      .default('65534:65534'),
    /** Roots VERIFY_AND_ACTIVATE trusts for the sites' certificates (default outside production: Pebble's root; production: the system's). */
    SITE_CHECK_CA_FILE: z.string().min(1).optional(),
    /** Attempts of ISSUE_SSL before the certificate is recorded FAILED and the site stays on HTTP (the order still activates). */
    SSL_ISSUE_MAX_ATTEMPTS: positiveInt.default(4),
    /** Renewal (README "HTTPS" → Renewal): how often the worker looks for due certificates, and how many it schedules per run (the rest wait for the next). */
    SSL_RENEW_INTERVAL_MS: positiveInt.default(600_000),
    SSL_RENEW_BATCH: positiveInt.default(200),
    /** After a renewal gives up, the next try waits this long, doubling per failure in a row up to SSL_RENEW_RETRY_MAX. */
    SSL_RENEW_RETRY_BASE: duration.default(3600),
    SSL_RENEW_RETRY_MAX: duration.default(86400),
    /** A certificate this close to its notAfter and still not renewed raises certificate.expiring (once per certificate). */
    SSL_EXPIRY_ALERT: duration.default(7 * 86400),
    DOVECOT_USERS_FILE: z.string().min(1).optional(),
    MAIL_ROOT: z.string().min(1).optional(),
    /** The mail server's files, as `scripts/services.sh env` prints them; the contract is in services.sh (Mail). */
    DOVECOT_CONF: z.string().min(1).optional(),
    /** Postfix maps (vdomains, vmailboxes, valiases) and OpenDKIM tables + keys (dkim/) that mPanel rewrites. */
    MAIL_PANEL_DIR: z.string().min(1).optional(),
    POSTFIX_CONFIG_DIR: z.string().min(1).optional(),
    OPENDKIM_PID_FILE: z.string().min(1).optional(),
    MPANEL_IMAP_PORT: port.default(1143),
    MPANEL_LMTP_PORT: port.default(2424),
    /** Postfix's inbound SMTP (stands for port 25): mail for the hosted domains. */
    MPANEL_SMTP_IN_PORT: port.default(2500),
    /** Postfix's submission with SASL AUTH (stands for port 587); not mPanel's own outbound relay (SMTP_PORT). */
    MPANEL_SUBMISSION_PORT: port.default(5870),
    /** Mail hosting (README "Mail hosting"): a mailbox's quota when the product names none, the DKIM selector, the verification budget. */
    MAIL_DEFAULT_QUOTA_MB: positiveInt.default(1024),
    MAIL_DKIM_SELECTOR: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS label: lower-case letters, digits, hyphens').default('mpanel'),
    MAIL_VERIFY_TIMEOUT_MS: positiveInt.default(15_000),
    /** What mail clients are told by autoconfig / autodiscover (README "Mail hosting"): the IMAP and submission ports and their TLS. */
    MAIL_CLIENT_IMAP_PORT: port.default(993),
    MAIL_CLIENT_IMAP_SECURITY: z.enum(['SSL', 'STARTTLS', 'plain']).default('SSL'),
    MAIL_CLIENT_SMTP_PORT: port.default(587),
    MAIL_CLIENT_SMTP_SECURITY: z.enum(['SSL', 'STARTTLS', 'plain']).default('STARTTLS'),
  })
  .superRefine((env, ctx) => {
    for (const name of secretNames) {
      if (env[name] === undefined && env.NODE_ENV !== 'test') {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `is not set: run \`${GENERATE_SECRETS_COMMAND}\` to write a strong one to ./.env (the public default applies only with NODE_ENV=test)`,
        });
      } else if (env[name] === TEST_SECRETS[name] && env.NODE_ENV === 'production') {
        ctx.addIssue({ code: 'custom', path: [name], message: `must not be the public test value in production: run \`${GENERATE_SECRETS_COMMAND}\`` });
      }
    }
    if (env.EVENT_DELIVERY_LEASE_MS <= env.WEBHOOK_TIMEOUT_MS) {
      // A claim that ends before the request's deadline lets a second worker send the same delivery meanwhile.
      ctx.addIssue({ code: 'custom', path: ['EVENT_DELIVERY_LEASE_MS'], message: `must be longer than WEBHOOK_TIMEOUT_MS (${env.WEBHOOK_TIMEOUT_MS})` });
    }
    if (env.WEBHOOK_ALLOW_LOOPBACK === true && env.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_ALLOW_LOOPBACK'], message: 'must not be true in production: webhooks would reach services on the machine itself' });
    }
  })
  .transform((env) => {
    const runDir = path.resolve(env.MPANEL_RUN_DIR);
    return {
      ...env,
      // Set outside NODE_ENV=test, as superRefine checked.
      JWT_SECRET: env.JWT_SECRET ?? TEST_SECRETS.JWT_SECRET,
      MARKETING_WEBHOOK_SECRET: env.MARKETING_WEBHOOK_SECRET ?? TEST_SECRETS.MARKETING_WEBHOOK_SECRET,
      STRIPE_WEBHOOK_SECRET: env.STRIPE_WEBHOOK_SECRET ?? TEST_SECRETS.STRIPE_WEBHOOK_SECRET,
      STRIPE_LIVEMODE: env.STRIPE_LIVEMODE ?? env.NODE_ENV === 'production',
      STRIPE_API_KEY: env.STRIPE_API_KEY ?? TEST_SECRETS.STRIPE_API_KEY,
      STRIPE_API_BASE: env.STRIPE_API_BASE ?? (env.NODE_ENV === 'test' ? 'http://127.0.0.1:9' : 'https://api.stripe.com'),
      STRIPE_CHECKOUT_SUCCESS_URL: env.STRIPE_CHECKOUT_SUCCESS_URL ?? `${env.PORTAL_URL.replace(/\/$/, '')}/invoices/{invoice}?checkout=success`,
      STRIPE_CHECKOUT_CANCEL_URL: env.STRIPE_CHECKOUT_CANCEL_URL ?? `${env.PORTAL_URL.replace(/\/$/, '')}/invoices/{invoice}?checkout=cancelled`,
      POWERDNS_API_KEY: env.POWERDNS_API_KEY ?? TEST_SECRETS.POWERDNS_API_KEY,
      SECRETS_ENCRYPTION_KEY: env.SECRETS_ENCRYPTION_KEY ?? TEST_SECRETS.SECRETS_ENCRYPTION_KEY,
      MPANEL_RUN_DIR: runDir,
      WEB_ROOT: path.resolve(env.WEB_ROOT ?? path.join(runDir, 'www')),
      NGINX_SITES_DIR: path.resolve(env.NGINX_SITES_DIR ?? path.join(runDir, 'nginx', 'sites')),
      NGINX_CONF: path.resolve(env.NGINX_CONF ?? path.join(runDir, 'nginx', 'nginx.conf')),
      ACME_CA_CERT: path.resolve(env.ACME_CA_CERT ?? path.join(runDir, 'pebble', 'cert.pem')),
      NGINX_CERTS_DIR: path.resolve(env.NGINX_CERTS_DIR ?? path.join(runDir, 'nginx', 'certs')),
      SITE_CHECK_CA_FILE: env.SITE_CHECK_CA_FILE ? path.resolve(env.SITE_CHECK_CA_FILE) : env.NODE_ENV === 'production' ? undefined : path.join(runDir, 'pebble', 'root.pem'),
      DOVECOT_USERS_FILE: path.resolve(env.DOVECOT_USERS_FILE ?? path.join(runDir, 'dovecot', 'users')),
      MAIL_ROOT: path.resolve(env.MAIL_ROOT ?? path.join(runDir, 'mail')),
      DOVECOT_CONF: path.resolve(env.DOVECOT_CONF ?? path.join(runDir, 'dovecot', 'dovecot.conf')),
      MAIL_PANEL_DIR: path.resolve(env.MAIL_PANEL_DIR ?? path.join(runDir, 'mail-panel')),
      POSTFIX_CONFIG_DIR: path.resolve(env.POSTFIX_CONFIG_DIR ?? path.join(runDir, 'postfix', 'conf')),
      OPENDKIM_PID_FILE: path.resolve(env.OPENDKIM_PID_FILE ?? path.join(runDir, 'opendkim', 'opendkim.pid')),
      BACKUPS_DIR: path.resolve(env.BACKUPS_DIR ?? path.join(runDir, 'backups')),
      WEBHOOK_ALLOW_LOOPBACK: env.WEBHOOK_ALLOW_LOOPBACK ?? env.NODE_ENV !== 'production',
      // Tests never ask the system's resolver (it is not on loopback): PowerDNS answers for them.
      WEBHOOK_DNS_RESOLVER: env.WEBHOOK_DNS_RESOLVER ?? (env.NODE_ENV === 'test' ? env.DNS_RESOLVER : undefined),
    };
  });

export type Env = z.output<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the given environment (process.env by default); throws ConfigError naming each bad variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // Empty strings count as unset, as in most .env tooling.
  const input = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const result = envSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const given = typeof source[name] === 'string' && !isSecretName(name) ? ` (got "${source[name]}")` : '';
      return `${name}: ${issue.message}${given}`;
    }),
  );
}

function isSecretName(name: string): boolean {
  return /SECRET|KEY|PASSWORD|DATABASE_URL|REDIS_URL/.test(name);
}
