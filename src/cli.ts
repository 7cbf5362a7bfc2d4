import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { eq, sql } from 'drizzle-orm';
import { ConfigError, loadEnv, secretNames, type Env, type SecretName } from './config/env.js';
import { ensureSecrets, readEnvFile } from './config/secrets-file.js';
import { createContainer, type Container } from './container.js';
import { tenants, users } from './db/schema/index.js';
import { LOGIN_EMAIL_SETTING } from './db/schema/rls.js';
import { runMigrations } from './db/migrate.js';
import { withTenant } from './db/tenant-tx.js';
import { sealAuditLog } from './modules/audit/audit-seal.js';
import { verifyAuditChain } from './modules/audit/audit-verify.js';
import { cliActor } from './modules/audit/audit.service.js';
import { runSslRenew, type SslRenewSelection } from './modules/certificates/ssl-renew-cli.js';
import { runDnsSync } from './modules/dns/dns-sync.js';
import { runBillingCommand } from './modules/billing/billing-run-cli.js';
import { dnsSettings } from './modules/dns/dns-template.js';
import { generatePassword } from './modules/auth/password.js';
import { createServer, ensureServer, listServerRows, serverAddressPolicy } from './modules/servers/servers.service.js';
import { serverDriver, serverRole } from './modules/servers/servers.types.js';
import { createTenant, findTenantBySlug } from './modules/tenants/tenants.service.js';
import { createUser } from './modules/users/users.service.js';
import { userRole } from './modules/users/users.types.js';
import { AppError } from './shared/errors/app-error.js';
import { StartupError } from './shared/startup.js';
import { z } from 'zod';

const DEMO_TENANT = { slug: 'demo', name: 'Demo Hosting' } as const;
const DEFAULT_ADMIN_EMAIL = 'admin@demo.mpanel.test';
const DEMO_WEB_SERVER = 'web1.local';

/** Runs `fn` with a container (database + Redis) and always closes it. */
async function withContainer<T>(fn: (container: Container) => Promise<T>): Promise<T> {
  const container = createContainer(loadEnv(), 'cli');
  try {
    return await fn(container);
  } finally {
    await container.close();
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

const program = new Command()
  .name('mpanel')
  .description('mPanel: multi-tenant hosting billing and provisioning back office')
  .showHelpAfterError('(run with --help for usage)')
  .configureHelp({ sortSubcommands: true });

program
  .command('migrate')
  .description('apply pending database migrations (as the owner role, MIGRATION_DATABASE_URL); safe to run again')
  .action(async () => {
    const env = loadEnv();
    const { applied } = await runMigrations(env.MIGRATION_DATABASE_URL);
    say(applied === 0 ? 'migrate: database is up to date' : `migrate: applied ${applied} migration(s)`);
  });

program
  .command('seed')
  .description(`create the demo tenant "${DEMO_TENANT.slug}", its LOCAL web server ${DEMO_WEB_SERVER} (the services script's nginx) and a SUPER_ADMIN (idempotent)`)
  .option('--admin-email <email>', 'SUPER_ADMIN email (env MPANEL_ADMIN_EMAIL)', process.env.MPANEL_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL)
  .option('--admin-password <password>', 'SUPER_ADMIN password, 12-72 bytes (env MPANEL_ADMIN_PASSWORD; generated and printed once when absent)')
  .action(async (options: { adminEmail: string; adminPassword?: string }) => {
    await withContainer(async ({ env, database: { db } }) => {
      const tenant = (await findTenantBySlug(db, DEMO_TENANT.slug)) ?? (await createTenant(db, DEMO_TENANT, cliActor));
      say(`seed: tenant "${tenant.slug}" (${tenant.id})`);
      // The services script's nginx on this machine, so a demo order has a web server to land on.
      const web = await withTenant(db, tenant.id, (tx) =>
        ensureServer(tx, tenant.id, { hostname: DEMO_WEB_SERVER, role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.1', httpPort: env.NGINX_HTTP_PORT }, cliActor, serverAddressPolicy(env)),
      );
      say(`seed: web server ${web.server.hostname} (LOCAL, 127.0.0.1:${web.server.httpPort}) ${web.created ? 'registered' : 'already registered'} (${web.server.id})`);
      const email = options.adminEmail.toLowerCase();
      const existing = await db.transaction(async (tx) => {
        await tx.execute(sql`select set_config(${LOGIN_EMAIL_SETTING}, ${email}, true)`);
        const [row] = await tx.select({ id: users.id }).from(users).where(eq(sql`lower(${users.email})`, email));
        return row;
      });
      if (existing) {
        say(`seed: SUPER_ADMIN ${email} already exists (password unchanged)`);
        return;
      }
      const givenPassword = options.adminPassword ?? process.env.MPANEL_ADMIN_PASSWORD;
      const password = givenPassword ?? generatePassword();
      await withTenant(db, tenant.id, (tx) => createUser(tx, tenant.id, { email, name: 'Administrator', role: 'SUPER_ADMIN', password }, cliActor));
      say(`seed: SUPER_ADMIN ${email} created`);
      if (!givenPassword) say(`seed: generated password (shown once): ${password}`);
    });
  });

const DEFAULT_ENV_FILE = '.env';

/** A commander parser for one of the secrets' names. */
function secretName(value: string): SecretName {
  const name = secretNames.find((candidate) => candidate === value.toUpperCase());
  if (!name) throw new InvalidArgumentError(`must be one of ${secretNames.join(', ')}`);
  return name;
}

const secrets = program
  .command('secrets')
  .description(`the secrets (${secretNames.join(', ')}): generated once into ./.env, which the CLI and scripts/services.sh read`);
secrets
  .command('generate')
  .description(
    'write a strong random value (crypto.randomBytes) for every secret missing from the env file, creating it with mode 0600. ' +
      'An existing value is never replaced: to rotate one, delete its line and run this again. Values are not printed (see `secrets show`)',
  )
  .option('--env-file <path>', 'the env file to complete (the CLI reads ./.env of the directory it runs in)', DEFAULT_ENV_FILE)
  .action((options: { envFile: string }) => {
    const result = ensureSecrets(options.envFile);
    if (result.written.length > 0) {
      say(`secrets: ${result.created ? 'created' : 'added to'} ${result.file} (mode 0600): ${result.written.join(', ')}`);
    }
    if (result.kept.length > 0) say(`secrets: kept the existing ${result.kept.join(', ')} in ${result.file} (never replaced)`);
    if (result.tightened) say(`secrets: ${result.file} was readable by others; its mode is now 0600`);
    const fromEnvironment = secretNames.filter((name) => process.env[name] && process.env[name] !== readEnvFile(result.file)[name]);
    if (fromEnvironment.length > 0) say(`secrets: ${fromEnvironment.join(', ')} also set in the environment, whose value wins over the file`);
    say('secrets: values are not printed; `mpanel secrets show <NAME>` prints one');
    say(
      'secrets: the marketing site signs each order (X-Mpanel-Signature) with MARKETING_WEBHOOK_SECRET: put the output of ' +
        '`mpanel secrets show MARKETING_WEBHOOK_SECRET` in its secret settings (never by e-mail or chat)',
    );
    say('secrets: connecting Stripe? replace STRIPE_WEBHOOK_SECRET with the signing secret (whsec_...) Stripe shows for /api/webhooks/stripe, and STRIPE_API_KEY with the secret key (sk_...)');
    if (result.written.includes('POWERDNS_API_KEY')) {
      say('secrets: scripts/services.sh configures PowerDNS with POWERDNS_API_KEY from ./.env: `scripts/services.sh up` (re)starts it with the new key');
    }
  });
secrets
  .command('show')
  .description('print the value of one secret from the env file (for the marketing site, or Stripe): the only command that prints one')
  .argument('<name>', secretNames.join(' | '), secretName)
  .option('--env-file <path>', 'the env file to read', DEFAULT_ENV_FILE)
  .action((name: SecretName, options: { envFile: string }) => {
    const value = readEnvFile(options.envFile)[name];
    if (!value) throw new AppError('NOT_FOUND', `${name} is not set in ${options.envFile}: run \`mpanel secrets generate\``);
    say(value);
  });

const tenant = program.command('tenant').description('manage tenants');
tenant
  .command('create')
  .description('create a tenant')
  .requiredOption('--slug <slug>', 'URL-safe identifier, e.g. acme-hosting')
  .requiredOption('--name <name>', 'display name')
  .action(async (options: { slug: string; name: string }) => {
    await withContainer(async ({ database: { db } }) => {
      const created = await createTenant(db, options, cliActor);
      say(`tenant ${created.slug} created: ${created.id}`);
    });
  });

const user = program.command('user').description('manage staff users');
user
  .command('create')
  .description('create a staff user in a tenant')
  .requiredOption('--tenant <slug>', 'tenant slug')
  .requiredOption('--email <email>', 'login email (unique across tenants)')
  .requiredOption('--name <name>', 'display name')
  .requiredOption('--role <role>', `one of ${userRole.options.join(', ')}`, (value) => {
    const parsed = userRole.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(`must be one of ${userRole.options.join(', ')}`);
    return parsed.data;
  })
  .option('--password <password>', '12-72 bytes; generated and printed once when absent')
  .action(async (options: { tenant: string; email: string; name: string; role: (typeof userRole.options)[number]; password?: string }) => {
    await withContainer(async ({ database: { db } }) => {
      const target = await findTenantBySlug(db, options.tenant);
      if (!target) throw new AppError('NOT_FOUND', `tenant "${options.tenant}" not found`);
      const password = options.password ?? generatePassword();
      const created = await withTenant(db, target.id, (tx) =>
        createUser(tx, target.id, { email: options.email, name: options.name, role: options.role, password }, cliActor),
      );
      say(`user ${created.email} (${created.role}) created in ${target.slug}: ${created.id}`);
      if (!options.password) say(`generated password (shown once): ${password}`);
    });
  });

const audit = program.command('audit').description('the audit log');
audit
  .command('verify')
  .description("check each tenant's sealed audit hash chain, name the first broken row and count rows not sealed yet; exits 1 when a chain is broken")
  .option('--tenant <slug>', 'check only this tenant (default: every tenant)')
  .action(async (options: { tenant?: string }) => {
    await withContainer(async ({ database: { db } }) => {
      let targets: { id: string; slug: string }[];
      if (options.tenant) {
        const target = await findTenantBySlug(db, options.tenant);
        if (!target) throw new AppError('NOT_FOUND', `tenant "${options.tenant}" not found`);
        targets = [target];
      } else {
        targets = await db.select({ id: tenants.id, slug: tenants.slug }).from(tenants).orderBy(tenants.slug);
      }
      let broken = 0;
      for (const target of targets) {
        const result = await verifyAuditChain(db, target.id);
        const { rows: unsealed, oldest } = result.unsealed;
        const waiting = unsealed === 0 ? '' : `, ${unsealed} not sealed yet (oldest ${oldest?.toISOString() ?? '?'}: is a worker running?)`;
        if (result.ok) {
          say(`audit verify: ${target.slug} ok (${result.rows} rows${waiting})`);
        } else {
          broken += 1;
          const { seq, id, reason } = result.firstBroken;
          say(`audit verify: ${target.slug} BROKEN at seq ${seq} (${id}): ${reason}${waiting}`);
        }
      }
      if (targets.length !== 1) say(`audit verify: ${targets.length} tenant(s) checked, ${broken} broken`);
      if (broken > 0) process.exitCode = 1;
    });
  });

audit
  .command('seal')
  .description('seal the audit rows written since the last run into their tenant\'s hash chain (a running worker does it every AUDIT_SEAL_INTERVAL_MS)')
  .action(async () => {
    await withContainer(async ({ database: { db } }) => {
      const { tenants: count, sealed } = await sealAuditLog(db);
      say(`audit seal: ${sealed} row(s) sealed in ${count} tenant(s)`);
    });
  });

const dns = program.command('dns').description('DNS zones in PowerDNS');
dns
  .command('sync')
  .description('compare every ACTIVE zone in the database (the source of truth) with PowerDNS and print the drift; exits 1 while drift remains')
  .option('--zone <name>', 'check only this zone (default: every ACTIVE zone)')
  .option('--fix', 'repair PowerDNS to match the database')
  .action(async (options: { zone?: string; fix?: boolean }) => {
    await withContainer(async (container) => {
      const deps = { db: container.database.db, dns: container.providers.dns, settings: dnsSettings(container.env), logger: container.logger };
      process.exitCode = await runDnsSync(deps, { zone: options.zone, fix: options.fix === true }, { out: say, progress: process.stderr });
    });
  });

const billing = program.command('billing').description('invoices, renewals and dunning (mPanel-billed subscriptions)');
billing
  .command('run')
  .description(
    'issue the renewal invoices that are due, send reminders and overdue notices, move unpaid subscriptions to PAST_DUE, suspend (NON_PAYMENT) and, when a tenant enabled it, terminate them; end subscriptions cancelled at period end. ' +
      'Safe to run at any time and twice at once: what was done is never done again. A running worker does it every BILLING_RUN_INTERVAL_MS. Prints each action and a summary; exits 1 when a subscription failed',
  )
  .option('--tenant <slug>', 'only this tenant (default: every tenant)')
  .option('--as-of <date>', 'act as if it were this instant (ISO 8601, e.g. 2026-03-01 or 2026-03-01T12:00:00Z; default: now)', (value) => {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) throw new InvalidArgumentError('must be an ISO 8601 date or date-time');
    return at;
  })
  .option('--dry-run', 'print what it would do; change nothing, send nothing')
  .addHelpText('after', '\nExamples:\n  mpanel billing run --dry-run\n  mpanel billing run --tenant demo --as-of 2026-03-01\n')
  .action(async (options: { tenant?: string; asOf?: Date; dryRun?: boolean }) => {
    await withContainer(async (container) => {
      const { db } = container.database;
      let tenantId: string | undefined;
      if (options.tenant) {
        const target = await findTenantBySlug(db, options.tenant);
        if (!target) throw new AppError('NOT_FOUND', `tenant "${options.tenant}" not found`);
        tenantId = target.id;
      }
      const deps = { db, producer: container.producer, logger: container.logger, maxAttempts: container.env.JOB_MAX_ATTEMPTS };
      process.exitCode = await runBillingCommand(deps, { asOf: options.asOf ?? new Date(), tenantId, dryRun: options.dryRun === true }, { out: say, progress: process.stderr });
    });
  });

const ssl = program.command('ssl').description("the sites' certificates (ACME)");
ssl
  .command('renew')
  .description(
    'schedule certificate renewals now, as the worker does every SSL_RENEW_INTERVAL_MS, and follow them with a progress bar until each has renewed or failed ' +
      '(a worker runs them; exits 1 when one failed or the wait timed out)',
  )
  .argument('[domain]', "renew this site's certificate (also the retry of a FAILED first issuance, with --tenant)")
  .option('--due', 'renew every certificate whose renewal time has passed')
  .option('--all', 'renew every certificate, due or not')
  .option('--tenant <slug>', 'only this tenant (default: every tenant)')
  .option('--no-wait', 'schedule only; do not follow the jobs')
  .option('--timeout <seconds>', 'how long to follow the jobs', integerOption(1, 86_400), 600)
  .addHelpText('after', '\nExamples:\n  mpanel ssl renew --due\n  mpanel ssl renew --all --tenant acme-hosting\n  mpanel ssl renew shop.example.com --tenant acme-hosting')
  .action(async (domain: string | undefined, options: { due?: boolean; all?: boolean; tenant?: string; wait: boolean; timeout: number }) => {
    const chosen = [options.due ? 'due' : null, options.all ? 'all' : null, domain ? 'domain' : null].filter(Boolean);
    if (chosen.length !== 1) throw new AppError('VALIDATION_FAILED', 'say which certificates: --due, --all or a domain (one of them)');
    const selection: SslRenewSelection = options.due ? { kind: 'due' } : options.all ? { kind: 'all' } : { kind: 'domain', domain: domain ?? '' };
    await withContainer(async (container) => {
      const { db } = container.database;
      const tenantId = options.tenant ? (await tenantBySlug(db, options.tenant)).id : undefined;
      const deps = { db, producer: container.producer, logger: container.logger, maxAttempts: container.env.SSL_ISSUE_MAX_ATTEMPTS };
      process.exitCode = await runSslRenew(
        deps,
        { selection, tenantId, actor: cliActor, wait: options.wait, timeoutMs: options.timeout * 1000, leaseMs: container.env.SSL_RENEW_RETRY_BASE * 1000 },
        { out: say, progress: process.stderr },
      );
    });
  });

/** A commander parser for one of `choices`, given in any case (`--driver ssh`). */
function upperChoice<const Choice extends string>(choices: readonly Choice[]) {
  return (value: string): Choice => {
    const choice = choices.find((candidate) => candidate === value.toUpperCase());
    if (!choice) throw new InvalidArgumentError(`must be one of ${choices.map((c) => c.toLowerCase()).join(', ')}`);
    return choice;
  };
}

function integerOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

interface ServersAddOptions {
  tenant: string;
  role: (typeof serverRole.options)[number];
  hostname: string;
  driver: (typeof serverDriver.options)[number];
  ipv4?: string;
  ipv6?: string;
  httpPort?: number;
  sshHost?: string;
  sshPort?: number;
  sshUser?: string;
  sshHostKey?: string;
  capacity?: number;
}

async function tenantBySlug(db: Container['database']['db'], slug: string) {
  const target = await findTenantBySlug(db, slug);
  if (!target) throw new AppError('NOT_FOUND', `tenant "${slug}" not found`);
  return target;
}

const serverCommands = program.command('servers').description('the web, mail and DNS servers workers act on');
serverCommands
  .command('add')
  .description('register a server in a tenant (audited). LOCAL: a worker runs on that machine (`mpanel worker` there); SSH: workers drive it over SSH, its host key pinned')
  .requiredOption('--tenant <slug>', 'tenant slug')
  .requiredOption('--role <role>', 'web, mail or dns', upperChoice(serverRole.options))
  .requiredOption('--hostname <name>', 'fully qualified host name, e.g. web1.example.net')
  .requiredOption('--driver <driver>', 'local or ssh', upperChoice(serverDriver.options))
  .option('--ipv4 <address>', 'address customer DNS records point to (WEB and MAIL need an IPv4 or IPv6 address)')
  .option('--ipv6 <address>', 'IPv6 address')
  .option('--http-port <port>', 'port nginx serves the sites on (default 80)', integerOption(1, 65535))
  .option('--ssh-host <host>', 'SSH: host name or address to connect to')
  .option('--ssh-port <port>', 'SSH: port (default 22)', integerOption(1, 65535))
  .option('--ssh-user <user>', 'SSH: user to log in as (key auth with SSH_PRIVATE_KEY_PATH)')
  .option('--ssh-host-key <line>', 'SSH: the server\'s host key as an OpenSSH line ("ssh-ed25519 AAAA..."), e.g. from ssh-keyscan')
  .option('--capacity <n>', 'maximum number of websites (default: unlimited)', integerOption(0, 1_000_000))
  .action(async (options: ServersAddOptions) => {
    await withContainer(async ({ env, database: { db } }) => {
      const target = await tenantBySlug(db, options.tenant);
      const server = await withTenant(db, target.id, (tx) =>
        createServer(
          tx,
          target.id,
          {
            hostname: options.hostname,
            role: options.role,
            driver: options.driver,
            ipv4: options.ipv4,
            ipv6: options.ipv6,
            httpPort: options.httpPort,
            sshHost: options.sshHost,
            sshPort: options.sshPort,
            sshUser: options.sshUser,
            sshHostKey: options.sshHostKey,
            capacity: options.capacity,
          },
          cliActor,
          serverAddressPolicy(env),
        ),
      );
      say(`server ${server.hostname} (${server.role}, ${server.driver}) registered in ${target.slug}: ${server.id}`);
    });
  });
serverCommands
  .command('list')
  .description("list a tenant's servers, newest first")
  .requiredOption('--tenant <slug>', 'tenant slug')
  .action(async (options: { tenant: string }) => {
    await withContainer(async ({ database: { db } }) => {
      const target = await tenantBySlug(db, options.tenant);
      let cursor: string | undefined;
      let count = 0;
      do {
        const page = await withTenant(db, target.id, (tx) => listServerRows(tx, target.id, { limit: 200, cursor }));
        for (const row of page.items) {
          const address = [row.ipv4, row.ipv6].filter(Boolean).join(' ') || '-';
          const ssh = row.driver === 'SSH' ? ` ssh ${row.sshUser ?? '?'}@${row.sshHost ?? '?'}:${row.sshPort ?? 22}` : '';
          say(`${row.id}  ${row.hostname}  ${row.role} ${row.driver} ${row.status}  ${address} http:${row.httpPort}${ssh}`);
          count += 1;
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      say(`servers: ${count} in ${target.slug}`);
    });
  });

program
  .command('api')
  .description('run the HTTP API on HOST:PORT (default 127.0.0.1:2271) and its Prometheus metrics on API_METRICS_HOST:API_METRICS_PORT (default 127.0.0.1:2273)')
  .action(async () => {
    const { startApi } = await import('./server.js');
    await startApi();
  });

program
  .command('worker')
  .description('run queue workers (provisioning steps)')
  .option('--queues <names>', 'comma-separated queue names to consume (default: provisioning + every LOCAL server\'s queue)', (value) =>
    value.split(',').filter(Boolean),
  )
  .option('--server <id>', 'consume only this server\'s queue (a worker running on that web or mail server)')
  .option('--concurrency <n>', 'jobs in parallel per queue', (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
    return n;
  })
  .action(async (options: { queues?: string[]; concurrency?: number; server?: string }) => {
    const { runWorker } = await import('./worker.js');
    await runWorker({ queues: options.queues, concurrency: options.concurrency, serverId: options.server });
  });

program
  .command('start')
  .description('run the API and one worker as two processes (what `npm start` does); stops both on SIGTERM/SIGINT')
  .action(() => startAll(loadEnv()));

/** Supervises `mpanel api` and `mpanel worker`: forwards signals, exits when both have stopped. */
function startAll(env: Env): void {
  const bin = fileURLToPath(new URL('../bin/mpanel.js', import.meta.url));
  const children = (['api', 'worker'] as const).map((role) => ({ role, child: spawn(process.execPath, [bin, role], { stdio: 'inherit', env: process.env }) }));
  let exitCode = 0;
  let running = children.length;
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const { child } of children) if (child.exitCode === null) child.kill(signal);
  };
  for (const { role, child } of children) {
    child.on('exit', (code, signal) => {
      running -= 1;
      if (code !== 0) exitCode = code ?? 1;
      if (!stopping) {
        process.stderr.write(`mpanel start: ${role} exited (${signal ?? code}); stopping the other process\n`);
        stopAll('SIGTERM');
      }
      if (running === 0) process.exit(exitCode);
    });
  }
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
  process.stdout.write(`mpanel start: API on http://${env.HOST}:${env.PORT}, worker running (Ctrl-C stops both)\n`);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`mpanel: ${error.message}\nSee .env.example for every setting and its default.\n`);
    process.exit(2);
  }
  if (error instanceof AppError) {
    const fields = error.fields.map((f) => `\n  - ${f.field}: ${f.message}`).join('');
    process.stderr.write(`mpanel: ${error.message}${fields}\n`);
    process.exit(1);
  }
  if (error instanceof z.ZodError) {
    process.stderr.write(`mpanel: invalid input:\n${z.prettifyError(error)}\n`);
    process.exit(1);
  }
  if (error instanceof StartupError || (error instanceof Error && error.name === 'DatabaseNotMigratedError')) {
    process.stderr.write(`mpanel: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
