import { randomBytes } from 'node:crypto';
import type { Database } from '../src/config/database.js';
import { tenants, users, type Tenant, type User, type UserRole } from '../src/db/schema/index.js';
import { withTenant } from '../src/db/tenant-tx.js';
import { hashPassword } from '../src/modules/auth/password.js';
import { prices, products, type Price, type Product, type ProductType } from '../src/db/schema/index.js';
import { eq } from 'drizzle-orm';
import { customers, domains, jobs, orders, subscriptions, type Customer, type Domain, type Job, type JobStatus, type Order, type OrderStatus, type Subscription, type SubscriptionStatus } from '../src/db/schema/index.js';
import { PROVISIONING_QUEUE } from '../src/jobs/queue.js';
import { servers, type Server } from '../src/db/schema/index.js';

/**
 * Factories: each test builds the tenants and users it needs, with overrides, so tests never
 * depend on each other or on seed data.
 */
const unique = () => randomBytes(4).toString('hex');

export const DEFAULT_PASSWORD = 'correct-horse-battery-staple';

// bcrypt cost 4 keeps factories fast; verification reads the cost from the hash, and the
// production path (users.service) always hashes at cost 12.
const hashes = new Map<string, Promise<string>>();
const fastHash = (password: string) => {
  let hash = hashes.get(password);
  if (!hash) hashes.set(password, (hash = hashPassword(password, 4)));
  return hash;
};

export async function buildTenant(db: Database, overrides: Partial<typeof tenants.$inferInsert> = {}): Promise<Tenant> {
  const slug = overrides.slug ?? `t-${unique()}`;
  const [tenant] = await db
    .insert(tenants)
    .values({ slug, name: `Tenant ${slug}`, ...overrides })
    .returning();
  if (!tenant) throw new Error('buildTenant: no row');
  return tenant;
}

export interface BuiltUser {
  user: User;
  password: string;
}

export async function buildUser(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  overrides: { role?: UserRole; email?: string; name?: string; password?: string; isActive?: boolean } = {},
): Promise<BuiltUser> {
  const password = overrides.password ?? DEFAULT_PASSWORD;
  const passwordHash = await fastHash(password);
  const user = await withTenant(db, tenant.id, async (tx) => {
    const [row] = await tx
      .insert(users)
      .values({
        tenantId: tenant.id,
        email: overrides.email ?? `user-${unique()}@example.test`,
        name: overrides.name ?? 'Test User',
        role: overrides.role ?? 'ADMIN',
        isActive: overrides.isActive ?? true,
        passwordHash,
      })
      .returning();
    return row;
  });
  if (!user) throw new Error('buildUser: no row');
  return { user, password };
}

/** Valid features for each product type (the catalog validates them on every API write). */
export function defaultFeatures(type: ProductType): Record<string, unknown> {
  switch (type) {
    case 'SHARED_HOSTING':
      return { diskQuotaMb: 10_240, mailboxes: 5, sslIncluded: true };
    case 'VPS':
      return { vcpus: 2, memoryMb: 4096, diskGb: 80 };
    case 'EMAIL':
      return { mailboxes: 10, mailboxQuotaMb: 2048 };
    case 'DNS':
      return { zones: 5 };
    case 'DOMAIN':
      return { tld: 'com', registrationYears: 1 };
  }
}

/** An active, public product (SHARED_HOSTING unless overridden) with valid features for its type. */
export async function buildProduct(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  overrides: Partial<Omit<typeof products.$inferInsert, 'tenantId'>> = {},
): Promise<Product> {
  const type = overrides.type ?? 'SHARED_HOSTING';
  const product = await withTenant(db, tenant.id, async (tx) => {
    const [row] = await tx
      .insert(products)
      .values({ name: `Product ${unique()}`, features: defaultFeatures(type), ...overrides, type, tenantId: tenant.id })
      .returning();
    return row;
  });
  if (!product) throw new Error('buildProduct: no row');
  return product;
}

/** An active price of `product`: 999 USD a month (a year for DOMAIN products) unless overridden. */
export async function buildPrice(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  product: Pick<Product, 'id' | 'type'>,
  overrides: Partial<Omit<typeof prices.$inferInsert, 'tenantId' | 'productId'>> = {},
): Promise<Price> {
  const price = await withTenant(db, tenant.id, async (tx) => {
    const [row] = await tx
      .insert(prices)
      .values({ amount: 999, currency: 'USD', interval: product.type === 'DOMAIN' ? 'YEAR' : 'MONTH', ...overrides, tenantId: tenant.id, productId: product.id })
      .returning();
    return row;
  });
  if (!price) throw new Error('buildPrice: no row');
  return price;
}

/** The steps of a shared-hosting order without mail or SSL, in the order they run. */
export const ORDER_STEPS = ['PROVISION_DNS', 'PROVISION_HOSTING', 'VERIFY_AND_ACTIVATE'] as const;

export interface BuiltOrder {
  customer: Customer;
  order: Order;
  subscription: Subscription;
  domain: Domain;
  /** In ORDER_STEPS order; each depends on all the ones before it. */
  jobs: Job[];
}

/**
 * An order as intake leaves it, inserted directly (intake itself is tested through POST
 * /api/orders): a customer (new unless given), a PAID order, its subscription, domain, and one job
 * per ORDER_STEPS entry, PENDING unless overridden. A FAILED job has spent its attempts and
 * carries its error, as the pipeline leaves it.
 */
export async function buildOrder(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  overrides: {
    customer?: Pick<Customer, 'id'>;
    orderStatus?: OrderStatus;
    subscriptionStatus?: SubscriptionStatus;
    jobStatuses?: Partial<Record<(typeof ORDER_STEPS)[number], JobStatus>>;
  } = {},
): Promise<BuiltOrder> {
  const product = await buildProduct(db, tenant, { features: { diskQuotaMb: 1024, mailboxes: 0, sslIncluded: false } });
  const price = await buildPrice(db, tenant, product);
  const id = unique();
  return withTenant(db, tenant.id, async (tx) => {
    const [customer] = overrides.customer
      ? await tx.select().from(customers).where(eq(customers.id, overrides.customer.id))
      : await tx.insert(customers).values({ tenantId: tenant.id, email: `customer-${id}@example.test`, name: `Customer ${id}` }).returning();
    if (!customer) throw new Error('buildOrder: no customer');
    const [order] = await tx
      .insert(orders)
      .values({
        tenantId: tenant.id,
        customerId: customer.id,
        priceId: price.id,
        status: overrides.orderStatus ?? 'PAID',
        paymentProvider: 'stripe',
        paymentReference: `cs_test_${id}`,
        amount: price.amount,
        currency: price.currency,
        domainName: `site-${id}.example.test`,
        requestHash: id,
      })
      .returning();
    if (!order) throw new Error('buildOrder: no order');
    const [subscription] = await tx
      .insert(subscriptions)
      .values({ tenantId: tenant.id, customerId: customer.id, productId: product.id, priceId: price.id, orderId: order.id, status: overrides.subscriptionStatus ?? 'PENDING' })
      .returning();
    if (!subscription) throw new Error('buildOrder: no subscription');
    const [domain] = await tx.insert(domains).values({ tenantId: tenant.id, customerId: customer.id, subscriptionId: subscription.id, name: `site-${id}.example.test` }).returning();
    if (!domain) throw new Error('buildOrder: no domain');

    const built: Job[] = [];
    for (const type of ORDER_STEPS) {
      const status = overrides.jobStatuses?.[type] ?? 'PENDING';
      const at = new Date().toISOString();
      const finished = status === 'SUCCEEDED' || status === 'FAILED';
      const error = status === 'FAILED' ? `simulated ${type} failure` : null;
      const [job] = await tx
        .insert(jobs)
        .values({
          tenantId: tenant.id,
          subscriptionId: subscription.id,
          orderId: order.id,
          type,
          status,
          queue: PROVISIONING_QUEUE,
          payload: { subscriptionId: subscription.id, domainId: domain.id, domain: domain.name, mailboxes: [] },
          dependsOn: built.map((job) => job.id),
          attempts: status === 'FAILED' ? 5 : finished ? 1 : 0,
          maxAttempts: 5,
          lastError: error,
          history: [{ status: 'PENDING', at }, ...(status === 'PENDING' ? [] : [{ status, at, ...(error ? { attempt: 5, error } : {}) }])],
          finishedAt: finished ? new Date(at) : null,
        })
        .returning();
      if (!job) throw new Error('buildOrder: no job');
      built.push(job);
    }
    return { customer, order, subscription, domain, jobs: built };
  });
}

/** A server of the tenant (ACTIVE WEB on the local driver at 127.0.0.1 unless overridden). */
export async function buildServer(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  overrides: Partial<Omit<typeof servers.$inferInsert, 'tenantId'>> = {},
): Promise<Server> {
  const server = await withTenant(db, tenant.id, async (tx) => {
    const [row] = await tx
      .insert(servers)
      .values({ hostname: `web-${unique()}.example.test`, role: 'WEB', driver: 'LOCAL', ipv4: '127.0.0.1', ...overrides, tenantId: tenant.id })
      .returning();
    return row;
  });
  if (!server) throw new Error('buildServer: no row');
  return server;
}
