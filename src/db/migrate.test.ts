import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertMigrated, runMigrations } from './migrate.js';
import * as s from './schema/index.js';

// Each describe block works in its own throwaway database, created here as the superuser and
// owned by the migration role, exactly as in production: migrations run as `mpanel`, the
// application as `mpanel_app` (neither superuser nor BYPASSRLS).
const SERVER = '127.0.0.1:5432';
const SUPERUSER_URL = `postgres://postgres@${SERVER}/postgres`;
const urlFor = (role: 'postgres' | 'mpanel' | 'mpanel_app', database: string) => `postgres://${role}@${SERVER}/${database}`;

const journalLength = (): number => {
  const journal: unknown = JSON.parse(readFileSync(new URL('./migrations/meta/_journal.json', import.meta.url), 'utf8'));
  if (typeof journal !== 'object' || journal === null || !('entries' in journal) || !Array.isArray(journal.entries)) {
    throw new Error('unexpected journal shape');
  }
  return journal.entries.length;
};

/** Every table with `tenant_id NOT NULL`: each must have RLS enabled and forced. */
const TENANT_TABLES = [
  'audit_logs',
  'backups',
  'billing_actions',
  'billing_logos',
  'billing_settings',
  'credit_notes',
  'customer_link_tokens',
  'customer_logins',
  'customer_refresh_tokens',
  'customers',
  'deployments',
  'dns_records',
  'dns_zones',
  'document_sequences',
  'domain_events',
  'domains',
  'event_deliveries',
  'invoice_lines',
  'invoices',
  'jobs',
  'mail_aliases',
  'mail_domains',
  'mailboxes',
  'notification_settings',
  'notification_templates',
  'orders',
  'payments',
  'prices',
  'products',
  'refresh_tokens',
  'servers',
  'ssl_certificates',
  'staff_invitations',
  'subscriptions',
  'tax_rates',
  'two_factor_factors',
  'users',
  'webhook_attempts',
  'webhook_endpoints',
  'websites',
];

const TIMEOUT = 60_000;

async function withSuperuser<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor('postgres', database) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createDatabase(): Promise<string> {
  const name = `mpanel_mig_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: SUPERUSER_URL });
  await client.connect();
  try {
    await client.query(`create database "${name}" owner mpanel`);
  } finally {
    await client.end();
  }
  return name;
}

/**
 * A pool on a test database that is dropped WITH (FORCE) after: pool.end() resolves before its
 * socket closes, and a connection terminated in that window emits 'error' on the pool, which
 * without a listener is an uncaught exception (seen once on Node 24). migrate.ts does the same.
 */
function poolOn(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  return pool;
}

async function dropDatabase(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: SUPERUSER_URL });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}

/** One transaction on one connection, with `app.*` settings local to it; always rolled back. */
async function inTransaction<T>(
  pool: pg.Pool,
  settings: Record<string, string>,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    for (const [name, value] of Object.entries(settings)) {
      await client.query('select set_config($1, $2, true)', [name, value]);
    }
    return await fn(client);
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}

async function countRows(client: pg.Pool | pg.ClientBase, table: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from "${table}"`);
  return rows[0]?.n ?? Number.NaN;
}

/** A textual picture of the schema, privileges and RLS settings, to compare before/after. */
async function schemaPicture(database: string): Promise<string[]> {
  return withSuperuser(database, async (client) => {
    const { rows } = await client.query<{ line: string }>(`
      select format('col %s.%s.%s %s %s %s', table_schema, table_name, column_name, data_type, is_nullable, column_default) as line
        from information_schema.columns where table_schema in ('public', 'drizzle')
      union all
      select format('idx %s %s', tablename, indexdef) from pg_indexes where schemaname in ('public', 'drizzle')
      union all
      select format('con %s %s', conname, pg_get_constraintdef(oid)) from pg_constraint where connamespace = 'public'::regnamespace
      union all
      select format('pol %s %s %s %s %s %s', tablename, policyname, cmd, roles, qual, with_check) from pg_policies
      union all
      select format('rel %s %s %s %s %s', relnamespace::regnamespace, relname, relrowsecurity, relforcerowsecurity, relacl)
        from pg_class where relnamespace in ('public'::regnamespace, 'drizzle'::regnamespace)
      union all
      select format('mig %s %s', hash, created_at) from drizzle.__drizzle_migrations
      order by 1`);
    return rows.map((row) => row.line);
  });
}

describe('runMigrations', () => {
  let database = '';
  beforeAll(async () => {
    database = await createDatabase();
  }, TIMEOUT);
  afterAll(async () => {
    if (database) await dropDatabase(database);
  }, TIMEOUT);

  it(
    'applies every migration once, even when started twice at the same time, and a re-run changes nothing',
    async () => {
      const ownerUrl = urlFor('mpanel', database);
      const concurrent = await Promise.all([runMigrations(ownerUrl), runMigrations(ownerUrl)]);
      expect(concurrent.map((r) => r.applied).sort()).toEqual([0, journalLength()]);

      const before = await schemaPicture(database);
      expect(await runMigrations(ownerUrl)).toEqual({ applied: 0 });
      expect(await schemaPicture(database)).toEqual(before);
    },
    TIMEOUT,
  );
});

describe('assertMigrated', () => {
  let database = '';
  let appPool: pg.Pool | undefined;
  beforeAll(async () => {
    database = await createDatabase();
    appPool = poolOn(urlFor('mpanel_app', database), 2);
  }, TIMEOUT);
  afterAll(async () => {
    await appPool?.end();
    if (database) await dropDatabase(database);
  }, TIMEOUT);

  it(
    'rejects an empty or partly migrated database with a message that says to run `mpanel migrate`',
    async () => {
      if (!appPool) throw new Error('no pool');
      await expect(assertMigrated(appPool)).rejects.toThrow(
        /not migrated: the migrations table drizzle\.__drizzle_migrations is missing \(\d+ migrations pending\)\. Run `mpanel migrate`/,
      );

      await runMigrations(urlFor('mpanel', database));
      await expect(assertMigrated(appPool)).resolves.toBeUndefined();

      // Forget the newest migration: one pending.
      await withSuperuser(database, (c) =>
        c.query('delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)'),
      );
      const total = journalLength();
      await expect(assertMigrated(appPool)).rejects.toThrow(
        new RegExp(`not migrated: 1 of ${total} migrations pending \\(\\w+\\)\\. Run \`mpanel migrate\``),
      );
    },
    TIMEOUT,
  );
});

describe('row-level security', () => {
  let database = '';
  let appPool: pg.Pool | undefined;
  let ownerPool: pg.Pool | undefined;
  const tenantA = { id: randomUUID(), slug: 'tenant-a' };
  const tenantB = { id: randomUUID(), slug: 'tenant-b' };

  const app = (): pg.Pool => {
    if (!appPool) throw new Error('no pool');
    return appPool;
  };

  /** One row in every tenant-owned table, inserted as mpanel_app with the tenant set. */
  async function seedTenant(tenant: { id: string; slug: string }): Promise<void> {
    const db = drizzle({ client: app() });
    const tenantId = tenant.id;
    const id = {
      user: randomUUID(),
      customer: randomUUID(),
      product: randomUUID(),
      price: randomUUID(),
      order: randomUUID(),
      subscription: randomUUID(),
      domain: randomUUID(),
      zone: randomUUID(),
      server: randomUUID(),
      website: randomUUID(),
    };
    const domainName = `${tenant.slug}.example.test`;
    await db.insert(s.tenants).values({ id: tenantId, slug: tenant.slug, name: tenant.slug });
    await db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
      await tx.insert(s.users).values({
        id: id.user,
        tenantId,
        email: `admin@${domainName}`,
        name: 'Admin',
        passwordHash: 'x',
        role: 'ADMIN',
      });
      await tx.insert(s.refreshTokens).values({
        tenantId,
        userId: id.user,
        familyId: randomUUID(),
        tokenHash: `hash-${tenant.slug}`,
        expiresAt: new Date(Date.now() + 3_600_000),
      });
      await tx.insert(s.auditLogs).values({ tenantId, actorType: 'SYSTEM', action: 'test.seed', hash: 'h0' });
      const [event] = await tx.insert(s.domainEvents).values({ tenantId, type: 'test.seeded', subjectType: 'tenant', subjectId: tenantId, payload: {} }).returning();
      const [delivery] = await tx.insert(s.eventDeliveries).values({ tenantId, eventId: event!.id, channel: 'email', recipient: `c@${domainName}` }).returning();
      const [endpoint] = await tx
        .insert(s.webhookEndpoints)
        .values({ tenantId, url: `https://hooks.${domainName}/in`, eventTypes: ['invoice.issued'], secretSealed: 'sealed' })
        .returning();
      await tx.insert(s.webhookAttempts).values({ tenantId, deliveryId: delivery!.id, endpointId: endpoint!.id, attempt: 1, status: 200, latencyMs: 3 });
      await tx.insert(s.notificationSettings).values({ tenantId });
      await tx.insert(s.notificationTemplates).values({ tenantId, eventType: 'invoice.issued', subject: 's', text: 't', html: 'h' });
      await tx.insert(s.customers).values({ id: id.customer, tenantId, email: `c@${domainName}`, name: 'Customer' });
      await tx.insert(s.products).values({ id: id.product, tenantId, name: 'Starter', type: 'SHARED_HOSTING' });
      await tx
        .insert(s.prices)
        .values({ id: id.price, tenantId, productId: id.product, amount: 999, currency: 'EUR', interval: 'MONTH' });
      await tx.insert(s.orders).values({
        id: id.order,
        tenantId,
        customerId: id.customer,
        priceId: id.price,
        paymentProvider: 'stripe',
        paymentReference: `cs_test_${tenant.slug}`,
        amount: 999,
        currency: 'EUR',
        domainName,
        requestHash: 'rh',
      });
      await tx.insert(s.subscriptions).values({
        id: id.subscription,
        tenantId,
        customerId: id.customer,
        productId: id.product,
        priceId: id.price,
        orderId: id.order,
      });
      await tx.insert(s.domains).values({
        id: id.domain,
        tenantId,
        customerId: id.customer,
        subscriptionId: id.subscription,
        name: domainName,
      });
      await tx.insert(s.dnsZones).values({ id: id.zone, tenantId, domainId: id.domain, name: domainName });
      await tx
        .insert(s.dnsRecords)
        .values({ tenantId, zoneId: id.zone, name: domainName, type: 'A', content: '127.0.0.1', managed: true });
      await tx.insert(s.servers).values({ id: id.server, tenantId, hostname: 'web1.test', role: 'WEB', driver: 'LOCAL' });
      await tx.insert(s.websites).values({
        id: id.website,
        tenantId,
        subscriptionId: id.subscription,
        domainId: id.domain,
        serverId: id.server,
        docroot: `/srv/www/${domainName}/public`,
      });
      await tx.insert(s.deployments).values({
        tenantId,
        subscriptionId: id.subscription,
        hostname: `vps.${domainName}`,
        vcpus: 1,
        memoryMb: 1024,
        diskGb: 20,
        osImage: 'debian-12',
      });
      await tx.insert(s.mailboxes).values({ tenantId, domainId: id.domain, subscriptionId: id.subscription, localPart: 'info' });
      const [mailDomain] = await tx
        .insert(s.mailDomains)
        .values({ tenantId, domainId: id.domain, subscriptionId: id.subscription, serverId: id.server, dkimSelector: 'mp1', dkimPrivateKeyEncrypted: 'sealed', dkimPublicKey: 'pub' })
        .returning();
      await tx.insert(s.mailAliases).values({ tenantId, mailDomainId: mailDomain!.id, localPart: 'sales', targets: [`info@${domainName}`] });
      await tx.insert(s.backups).values({ tenantId, subscriptionId: id.subscription, websiteId: id.website, kind: 'WEBSITE' });
      await tx.insert(s.sslCertificates).values({
        tenantId,
        domainId: id.domain,
        websiteId: id.website,
        commonName: domainName,
        altNames: [`www.${domainName}`],
      });
      const [login] = await tx
        .insert(s.customerLogins)
        .values({ tenantId, customerId: id.customer, email: `owner@${domainName}`, name: 'Owner', role: 'OWNER' })
        .returning();
      await tx.insert(s.customerLinkTokens).values({ tenantId, customerId: id.customer, loginId: login!.id, kind: 'INVITATION', tokenHash: `link-${tenant.slug}`, expiresAt: new Date(Date.now() + 3_600_000) });
      await tx.insert(s.customerRefreshTokens).values({ tenantId, customerId: id.customer, loginId: login!.id, familyId: randomUUID(), tokenHash: `session-${tenant.slug}`, expiresAt: new Date(Date.now() + 3_600_000) });
      await tx.insert(s.twoFactorFactors).values({ tenantId, userId: id.user, secretSealed: 'sealed' });
      await tx.insert(s.jobs).values({
        tenantId,
        subscriptionId: id.subscription,
        orderId: id.order,
        type: 'PROVISION_DNS',
        queue: 'provisioning',
      });
      await tx.insert(s.billingSettings).values({ tenantId });
      await tx.insert(s.billingLogos).values({ tenantId, contentType: 'image/png', image: Buffer.from([0x89, 0x50, 0x4e, 0x47]), sha256: 'seed' });
      await tx.insert(s.documentSequences).values({ tenantId, kind: 'INVOICE', period: '2026', lastValue: 1 });
      await tx.insert(s.taxRates).values({ tenantId, name: 'VAT', country: 'FR', rateBps: 2000 });
      const invoiceId = randomUUID();
      await tx.insert(s.invoices).values({ id: invoiceId, tenantId, customerId: id.customer, subscriptionId: id.subscription, currency: 'EUR', subtotal: 999, total: 999 });
      await tx.insert(s.invoiceLines).values({ tenantId, invoiceId, position: 0, description: 'Starter', unitAmount: 999, netAmount: 999, taxAmount: 0, totalAmount: 999 });
      await tx.update(s.invoices).set({ status: 'ISSUED', number: 'INV-1' }).where(sql`id = ${invoiceId}`);
      const snapshot = { name: 'Customer', email: `c@${domainName}`, company: null, taxId: null, country: null, address: null };
      await tx.insert(s.creditNotes).values({
        tenantId,
        invoiceId,
        customerId: id.customer,
        number: 'CN-1',
        currency: 'EUR',
        subtotal: 100,
        taxTotal: 0,
        total: 100,
        reason: 'seed',
        customerSnapshot: snapshot,
        sellerSnapshot: { name: tenant.slug, address: null, taxId: null },
      });
      await tx.insert(s.payments).values({ tenantId, invoiceId, source: 'STAFF', reference: 'seed', amount: 999, currency: 'EUR', requestHash: 'x', receivedAt: new Date() });
      await tx.insert(s.billingActions).values({ tenantId, subscriptionId: id.subscription, invoiceId, key: 'seed:reminder:7', action: 'reminder', dueAt: new Date() });
      await tx.insert(s.staffInvitations).values({ tenantId, email: `invited@${tenant.slug}.test`, name: 'Invited', role: 'SUPPORT', tokenHash: `seed-${tenantId}`, expiresAt: new Date(Date.now() + 3_600_000) });
    });
  }

  beforeAll(async () => {
    database = await createDatabase();
    await runMigrations(urlFor('mpanel', database));
    appPool = poolOn(urlFor('mpanel_app', database), 1);
    ownerPool = poolOn(urlFor('mpanel', database), 1);
    await seedTenant(tenantA);
    await seedTenant(tenantB);
  }, TIMEOUT);
  afterAll(async () => {
    await appPool?.end();
    await ownerPool?.end();
    if (database) await dropDatabase(database);
  }, TIMEOUT);

  it('every table with tenant_id NOT NULL has RLS enabled and forced, with the same tenant policy', async () => {
    const forced = await app().query<{ relname: string }>(
      `select relname from pg_class
        where relnamespace = 'public'::regnamespace and relkind = 'r' and relrowsecurity and relforcerowsecurity
        order by relname`,
    );
    expect(forced.rows.map((r) => r.relname)).toEqual(TENANT_TABLES);

    const withTenantColumn = await app().query<{ table_name: string }>(
      `select table_name from information_schema.columns
        where table_schema = 'public' and column_name = 'tenant_id' and is_nullable = 'NO'
        order by table_name`,
    );
    expect(withTenantColumn.rows.map((r) => r.table_name)).toEqual(TENANT_TABLES);

    // RLS is enabled nowhere else (tenants and webhook_events are read before a tenant is known).
    const enabled = await app().query<{ relname: string }>(
      `select relname from pg_class
        where relnamespace = 'public'::regnamespace and relkind = 'r' and relrowsecurity order by relname`,
    );
    expect(enabled.rows.map((r) => r.relname)).toEqual(TENANT_TABLES);

    const policies = await app().query<{ tablename: string; cmd: string; roles: string[]; qual: string; with_check: string }>(
      `select tablename, cmd, roles::text[] as roles, qual, with_check from pg_policies
        where schemaname = 'public' and policyname = 'tenant_isolation' order by tablename`,
    );
    expect(policies.rows.map((p) => p.tablename)).toEqual(TENANT_TABLES);
    expect(new Set(policies.rows.map((p) => `${p.cmd} ${p.roles.join(',')} ${p.qual} | ${p.with_check}`))).toEqual(
      new Set([
        "ALL public (tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid) | " +
          "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)",
      ]),
    );
  });

  it('with no tenant set, mpanel_app (and even the owner) sees no rows in any tenant-owned table', async () => {
    const forced = await app().query<{ relname: string }>(
      `select relname from pg_class
        where relnamespace = 'public'::regnamespace and relkind = 'r' and relrowsecurity and relforcerowsecurity
        order by relname`,
    );
    const tables = forced.rows.map((r) => r.relname);
    expect(tables).toEqual(TENANT_TABLES);
    if (!ownerPool) throw new Error('no pool');
    for (const table of tables) {
      // The rows are there (the superuser bypasses RLS)...
      expect(await withSuperuser(database, (c) => countRows(c, table)), table).toBe(2);
      // ...but without a tenant neither the app role nor the owner (FORCE) sees any.
      expect(await inTransaction(app(), {}, (c) => countRows(c, table)), table).toBe(0);
      expect(await countRows(ownerPool, table), table).toBe(0);
    }
  });

  it('with tenant A set, only A rows are visible and writing a row for tenant B is refused', async () => {
    for (const table of TENANT_TABLES) {
      const visible = await inTransaction(app(), { 'app.tenant_id': tenantA.id }, async (c) => {
        const { rows } = await c.query<{ total: number; own: number }>(
          `select count(*)::int as total, count(*) filter (where tenant_id = $1)::int as own from "${table}"`,
          [tenantA.id],
        );
        return rows[0];
      });
      expect(visible, table).toEqual({ total: 1, own: 1 });
    }

    await expect(
      inTransaction(app(), { 'app.tenant_id': tenantA.id }, (c) =>
        c.query(`insert into customers (tenant_id, email, name) values ($1, 'x@b.test', 'X')`, [tenantB.id]),
      ),
    ).rejects.toThrow(/new row violates row-level security policy for table "customers"/);

    // Moving one of A's rows to B is refused too (WITH CHECK).
    await expect(
      inTransaction(app(), { 'app.tenant_id': tenantA.id }, (c) =>
        c.query(`update customers set tenant_id = $1`, [tenantB.id]),
      ),
    ).rejects.toThrow(/new row violates row-level security policy for table "customers"/);

    // B's rows cannot be changed from A: they are simply not there.
    const deleted = await inTransaction(app(), { 'app.tenant_id': tenantA.id }, async (c) => {
      const result = await c.query(`delete from jobs where tenant_id = $1`, [tenantB.id]);
      return result.rowCount;
    });
    expect(deleted).toBe(0);

    // The setting is transaction-local: the same pooled connection (max 1) sees nothing afterwards.
    expect(await countRows(app(), 'customers')).toBe(0);
  });

  it('customer_isolation: with a customer set, only that customer\'s rows of customer-owned tables, staff-only tables unchanged', async () => {
    const CUSTOMER_TABLES = [
      'backups',
      'billing_actions',
      'credit_notes',
      'customer_link_tokens',
      'customer_logins',
      'customer_refresh_tokens',
      'customers',
      'deployments',
      'dns_records',
      'dns_zones',
      'domains',
      'invoice_lines',
      'invoices',
      'jobs',
      'mail_aliases',
      'mail_domains',
      'mailboxes',
      'orders',
      'payments',
      'ssl_certificates',
      'subscriptions',
      'websites',
    ];
    const policies = await app().query<{ tablename: string; permissive: string }>(
      `select tablename, permissive from pg_policies where schemaname = 'public' and policyname = 'customer_isolation' order by tablename`,
    );
    expect(policies.rows.map((p) => p.tablename)).toEqual([...CUSTOMER_TABLES, 'two_factor_factors'].sort());
    expect(new Set(policies.rows.map((p) => p.permissive))).toEqual(new Set(['RESTRICTIVE']));

    const own = await inTransaction(app(), { 'app.tenant_id': tenantA.id }, async (c) => (await c.query<{ id: string }>('select id from customers')).rows[0]?.id);
    if (!own) throw new Error('no customer in tenant A');
    for (const [customerId, expected] of [[own, 1], [randomUUID(), 0]] as const) {
      for (const table of TENANT_TABLES) {
        const n = await inTransaction(app(), { 'app.tenant_id': tenantA.id, 'app.customer_id': customerId }, (c) => countRows(c, table));
        const customerOwned = CUSTOMER_TABLES.includes(table) || table === 'two_factor_factors';
        // The seeded factor is a staff user's: never visible with a customer set.
        const want = table === 'two_factor_factors' ? 0 : customerOwned ? expected : 1;
        expect(n, `${table} as customer ${customerId === own ? 'A' : 'other'}`).toBe(want);
      }
    }
    await expect(
      inTransaction(app(), { 'app.tenant_id': tenantA.id, 'app.customer_id': randomUUID() }, (c) =>
        c.query(`update customers set name = 'x' where true returning id`).then((r) => r.rowCount),
      ),
    ).resolves.toBe(0);
  });

  it('customer_isolation between two customers of one tenant: B\'s invoices, lines, credit notes, payments and mail rows are invisible to A and not writable', async () => {
    const db = drizzle({ client: app() });
    // Customer A: the seeded customer of tenant A; customer B: a second one of the same tenant, with the same chain of rows.
    const customerA = await inTransaction(app(), { 'app.tenant_id': tenantA.id }, async (c) => (await c.query<{ id: string }>('select id from customers')).rows[0]?.id);
    if (!customerA) throw new Error('no customer in tenant A');
    const b = { customer: randomUUID(), subscription: randomUUID(), domain: randomUUID(), mailDomain: randomUUID(), alias: randomUUID(), invoice: randomUUID(), draft: randomUUID(), line: randomUUID(), creditNote: randomUUID(), payment: randomUUID() };
    const tenantId = tenantA.id;
    const domainName = 'customer-b.example.test';
    await db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('app.tenant_id', ${tenantId}, true)`);
      const [price] = await tx.select().from(s.prices);
      const [server] = await tx.select().from(s.servers);
      if (!price || !server) throw new Error('tenant A has no price or server');
      await tx.insert(s.customers).values({ id: b.customer, tenantId, email: `c@${domainName}`, name: 'Customer B' });
      await tx.insert(s.subscriptions).values({ id: b.subscription, tenantId, customerId: b.customer, productId: price.productId, priceId: price.id });
      await tx.insert(s.domains).values({ id: b.domain, tenantId, customerId: b.customer, subscriptionId: b.subscription, name: domainName });
      await tx.insert(s.mailDomains).values({ id: b.mailDomain, tenantId, domainId: b.domain, subscriptionId: b.subscription, serverId: server.id, dkimSelector: 'mp1', dkimPrivateKeyEncrypted: 'sealed', dkimPublicKey: 'pub' });
      await tx.insert(s.mailAliases).values({ id: b.alias, tenantId, mailDomainId: b.mailDomain, localPart: 'sales', targets: [`info@${domainName}`] });
      await tx.insert(s.invoices).values({ id: b.invoice, tenantId, customerId: b.customer, subscriptionId: b.subscription, currency: 'EUR', subtotal: 500, total: 500 });
      await tx.insert(s.invoiceLines).values({ id: b.line, tenantId, invoiceId: b.invoice, position: 0, description: 'B', unitAmount: 500, netAmount: 500, taxAmount: 0, totalAmount: 500 });
      await tx.update(s.invoices).set({ status: 'ISSUED', number: 'INV-B-1' }).where(sql`id = ${b.invoice}`);
      await tx.insert(s.invoices).values({ id: b.draft, tenantId, customerId: b.customer, currency: 'EUR' });
      const snapshot = { name: 'Customer B', email: `c@${domainName}`, company: null, taxId: null, country: null, address: null };
      const seller = { name: tenantA.slug, address: null, taxId: null };
      await tx.insert(s.creditNotes).values({ id: b.creditNote, tenantId, invoiceId: b.invoice, customerId: b.customer, number: 'CN-B-1', currency: 'EUR', subtotal: 100, taxTotal: 0, total: 100, reason: 'b', customerSnapshot: snapshot, sellerSnapshot: seller });
      await tx.insert(s.payments).values({ id: b.payment, tenantId, invoiceId: b.invoice, source: 'STAFF', reference: 'b', amount: 500, currency: 'EUR', requestHash: 'x', receivedAt: new Date() });
    });
    const ownRows: Record<string, string> = { invoices: b.invoice, invoice_lines: b.line, credit_notes: b.creditNote, payments: b.payment, mail_domains: b.mailDomain, mail_aliases: b.alias };
    const asCustomer = (customerId: string) => ({ 'app.tenant_id': tenantId, 'app.customer_id': customerId });

    // Control: B sees its own rows, staff (no customer) sees both customers'.
    for (const [table, id] of Object.entries(ownRows)) {
      expect(await inTransaction(app(), asCustomer(b.customer), async (c) => (await c.query(`select 1 from "${table}" where id = $1`, [id])).rowCount), `${table} as B`).toBe(1);
      expect(await inTransaction(app(), { 'app.tenant_id': tenantId }, (c) => countRows(c, table)), `${table} as staff`).toBe(table === 'invoices' ? 3 : 2);
    }
    // As A: none of B's rows, by id or by count, and updates and deletes reach nothing.
    for (const [table, id] of Object.entries(ownRows)) {
      const seen = await inTransaction(app(), asCustomer(customerA), async (c) => ({
        byId: (await c.query(`select 1 from "${table}" where id = $1`, [id])).rowCount,
        all: await countRows(c, table),
        updated: (await c.query(`update "${table}" set tenant_id = tenant_id where id = $1`, [id])).rowCount,
        deleted: (await c.query(`delete from "${table}" where id = $1`, [id])).rowCount,
      }));
      expect(seen, `${table} as A`).toEqual({ byId: 0, all: 1, updated: 0, deleted: 0 });
    }
    // Writing a row under B's objects, or for B, is refused (WITH CHECK), as is moving A's draft invoice to B.
    const refused: [string, string, unknown[]][] = [
      ['invoices', `insert into invoices (tenant_id, customer_id, currency) values ($1, $2, 'EUR')`, [tenantId, b.customer]],
      ['invoice_lines', `insert into invoice_lines (tenant_id, invoice_id, position, description, unit_amount, net_amount, tax_amount, total_amount) values ($1, $2, 1, 'x', 1, 1, 0, 1)`, [tenantId, b.draft]],
      ['credit_notes', `insert into credit_notes (tenant_id, invoice_id, customer_id, number, currency, subtotal, tax_total, total, reason, customer_snapshot, seller_snapshot) values ($1, $2, $3, 'CN-X', 'EUR', 1, 0, 1, 'x', '{}', '{}')`, [tenantId, b.invoice, b.customer]],
      ['payments', `insert into payments (tenant_id, invoice_id, source, reference, amount, currency, request_hash, received_at) values ($1, $2, 'STAFF', 'x', 1, 'EUR', 'x', now())`, [tenantId, b.invoice]],
      ['mail_domains', `insert into mail_domains (tenant_id, domain_id, server_id, dkim_selector, dkim_private_key_encrypted, dkim_public_key) select $1, $2, id, 'mp2', 's', 'p' from servers limit 1`, [tenantId, b.domain]],
      ['mail_aliases', `insert into mail_aliases (tenant_id, mail_domain_id, local_part, targets) values ($1, $2, 'x', '{a@b.test}')`, [tenantId, b.mailDomain]],
    ];
    for (const [table, statement, values] of refused) {
      await expect(inTransaction(app(), asCustomer(customerA), (c) => c.query(statement, values)), table).rejects.toThrow(`new row violates row-level security policy "customer_isolation" for table "${table}"`);
    }
    await expect(
      inTransaction(app(), asCustomer(customerA), async (c) => {
        await c.query(`insert into invoices (id, tenant_id, customer_id, currency) values ($1, $2, $3, 'EUR')`, [randomUUID(), tenantId, customerA]);
        return c.query(`update invoices set customer_id = $1 where status = 'DRAFT'`, [b.customer]);
      }),
    ).rejects.toThrow('new row violates row-level security policy "customer_isolation" for table "invoices"');
    // Nothing of B's changed (read as staff).
    const after = await inTransaction(app(), { 'app.tenant_id': tenantId }, async (c) =>
      Promise.all(Object.entries(ownRows).map(async ([table, id]) => (await c.query(`select 1 from "${table}" where id = $1`, [id])).rowCount)),
    );
    expect(after).toEqual(Object.values(ownRows).map(() => 1));
  });

  it('login_lookup and refresh_lookup expose exactly the one declared user / token, read-only', async () => {
    const email = `admin@${tenantA.slug}.example.test`;
    const users = await inTransaction(app(), { 'app.login_email': email }, async (c) => {
      const { rows } = await c.query<{ tenant_id: string }>('select tenant_id from users');
      const updated = await c.query(`update users set name = 'changed'`);
      return { tenants: rows.map((r) => r.tenant_id), updated: updated.rowCount };
    });
    expect(users).toEqual({ tenants: [tenantA.id], updated: 0 });

    const tokens = await inTransaction(app(), { 'app.refresh_token_hash': `hash-${tenantB.slug}` }, async (c) => {
      const { rows } = await c.query<{ tenant_id: string }>('select tenant_id from refresh_tokens');
      return rows.map((r) => r.tenant_id);
    });
    expect(tokens).toEqual([tenantB.id]);
  });

  it('mpanel_app may INSERT and SELECT audit_logs but not UPDATE, DELETE or TRUNCATE them', async () => {
    const inserted = await inTransaction(app(), { 'app.tenant_id': tenantA.id }, async (c) => {
      await c.query(`insert into audit_logs (tenant_id, actor_type, action, hash) values ($1, 'USER', 'test.insert', 'h1')`, [
        tenantA.id,
      ]);
      const { rows } = await c.query<{ action: string }>('select action from audit_logs order by seq');
      return rows.map((r) => r.action);
    });
    expect(inserted).toEqual(['test.seed', 'test.insert']);

    for (const statement of [`update audit_logs set action = 'tampered'`, 'delete from audit_logs', 'truncate audit_logs']) {
      await expect(
        inTransaction(app(), { 'app.tenant_id': tenantA.id }, (c) => c.query(statement)),
        statement,
      ).rejects.toMatchObject({ code: '42501', message: 'permission denied for table audit_logs' });
    }
  });
});
