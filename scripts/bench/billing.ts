import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { loadEnv } from '../../src/config/env.js';
import { createDatabase } from '../../src/config/database.js';
import { runMigrations } from '../../src/db/migrate.js';
import type { JobProducer } from '../../src/jobs/queue.js';
import { runBilling } from '../../src/modules/billing/billing-run.js';
import { round, type Figure } from './lib.js';

const SUBSCRIPTIONS = Number(process.env.BENCH_BILLING_SUBSCRIPTIONS ?? 100_000);
const TENANTS = 10;

/** A database of its own (the run scans every tenant): created, migrated, seeded, dropped. */
function urlFor(base: string, role: string, database: string): string {
  const url = new URL(base);
  url.username = role;
  url.password = '';
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * The billing run over SUBSCRIPTIONS subscriptions in TENANTS tenants, 5 % of them within the
 * renewal lead time (the rest paid for 14 to 365 days more). Issue 16's targets: the first run
 * (issuing the due invoices and acting on dunning) ≤ 60 s; a second run at once ≤ 10 s, creating
 * nothing.
 */
export async function benchBilling(): Promise<Figure[]> {
  const env = loadEnv();
  const admin = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `mpanel_bench_billing_${randomBytes(4).toString('hex')}`;
  const adminClient = new pg.Client({ connectionString: admin });
  await adminClient.connect();
  await adminClient.query(`create database "${name}" owner mpanel`);
  try {
    await runMigrations(urlFor(admin, 'mpanel', name));
    const seed = new pg.Client({ connectionString: urlFor(admin, 'postgres', name) });
    await seed.connect();
    const asOf = new Date('2031-06-01T00:00:00Z');
    try {
      // As the superuser (no RLS): plain SQL is the fastest way to 100,000 rows.
      await seed.query(`
        insert into tenants (id, slug, name) select gen_random_uuid(), 'bench-billing-' || i, 'Bench ' || i from generate_series(1, ${TENANTS}) i;
        insert into products (id, tenant_id, name, type, features)
          select gen_random_uuid(), id, 'Web', 'SHARED_HOSTING', '{"diskQuotaMb":1024,"mailboxes":0,"sslIncluded":false}'::jsonb from tenants;
        insert into prices (id, tenant_id, product_id, amount, currency, interval) select gen_random_uuid(), tenant_id, id, 999, 'EUR', 'MONTH' from products;
        insert into customers (id, tenant_id, email, name)
          select gen_random_uuid(), t.id, 'c' || i || '@' || t.slug || '.test', 'Customer ' || i
            from tenants t, generate_series(1, ${Math.ceil(SUBSCRIPTIONS / TENANTS)}) i;
        insert into subscriptions (tenant_id, customer_id, product_id, price_id, status, paid_through)
          select c.tenant_id, c.id, p.product_id, p.id, 'ACTIVE',
                 case when random() < 0.05
                   then $1::timestamptz + (random() * 13.9) * interval '1 day'
                   else $1::timestamptz + (14.1 + random() * 351) * interval '1 day' end
            from customers c join prices p on p.tenant_id = c.tenant_id;
      `.replaceAll('$1', `'${asOf.toISOString()}'`));
      await seed.query('analyze');
    } finally {
      await seed.end();
    }
    const { db, pool } = createDatabase(urlFor(admin, 'mpanel_app', name), { max: 8 });
    // Renewals and notices enqueue nothing (only suspensions do, and nothing here is overdue).
    const producer = { add: () => Promise.resolve() } as unknown as JobProducer;
    const deps = { db, producer, logger: pino({ level: 'warn' }), maxAttempts: env.JOB_MAX_ATTEMPTS };
    try {
      let started = performance.now();
      // The run's own CPU (this process, user + system): on a loaded machine the wall time is mostly waiting for a core.
      const cpu = process.cpuUsage();
      const first = await runBilling(deps, { asOf, trigger: 'cli' });
      const firstS = (performance.now() - started) / 1000;
      const { user, system } = process.cpuUsage(cpu);
      const firstCpuS = (user + system) / 1e6;
      started = performance.now();
      const second = await runBilling(deps, { asOf, trigger: 'cli' });
      const secondS = (performance.now() - started) / 1000;
      const created = Object.values(second.counts).reduce((sum, count) => sum + count, 0);
      return [
        {
          section: 'billing',
          name: `billing run: ${SUBSCRIPTIONS} subscriptions, ${first.counts.issue_renewal ?? 0} renewals issued (${first.subscriptions} looked at, ${first.errors} failed; Node CPU ${round(firstCpuS, 1)} s)`,
          value: round(firstS, 1),
          unit: 's',
          target: '≤ 60 s',
          met: firstS <= 60 && first.errors === 0,
        },
        { section: 'billing', name: `second run at once: ${created} action(s)`, value: round(secondS, 1), unit: 's', target: '≤ 10 s, nothing', met: secondS <= 10 && created === 0 },
      ];
    } finally {
      await pool.end();
    }
  } finally {
    await adminClient.query(`drop database if exists "${name}" with (force)`);
    await adminClient.end();
  }
}
