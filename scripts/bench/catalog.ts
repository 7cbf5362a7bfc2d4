import { eq } from 'drizzle-orm';
import { fileURLToPath } from 'node:url';
import { loadEnv } from '../../src/config/env.js';
import { createDatabase } from '../../src/config/database.js';
import { prices, products, tenants } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { load, loadFloor, responseHeaders, startServer, stop, type Figure } from './lib.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TENANT = 'bench-catalog';

/** A tenant with a realistic public catalog: 6 hosting products, monthly and yearly prices each. */
async function seedCatalog(): Promise<void> {
  const env = loadEnv();
  const { db, pool } = createDatabase(env.DATABASE_URL, { max: 2 });
  try {
    const [existing] = await db.select().from(tenants).where(eq(tenants.slug, TENANT));
    if (existing) return;
    const [tenant] = await db.insert(tenants).values({ slug: TENANT, name: 'Benchmark Hosting' }).returning();
    if (!tenant) throw new Error('no tenant');
    await withTenant(db, tenant.id, async (tx) => {
      for (let i = 1; i <= 6; i++) {
        const [product] = await tx
          .insert(products)
          .values({ tenantId: tenant.id, name: `Web ${i}`, description: `Shared hosting plan ${i}`, type: 'SHARED_HOSTING', features: { diskQuotaMb: 1024 * i, mailboxes: 5 * i, sslIncluded: true } })
          .returning();
        if (!product) throw new Error('no product');
        await tx.insert(prices).values([
          { tenantId: tenant.id, productId: product.id, amount: 499 * i, currency: 'EUR', interval: 'MONTH' },
          { tenantId: tenant.id, productId: product.id, amount: 4990 * i, currency: 'EUR', interval: 'YEAR' },
        ]);
      }
    });
  } finally {
    await pool.end();
  }
}

/**
 * GET /api/public/plans (cached, ETag) through the whole API against a plain node:http server
 * answering the same bytes. Target (issue 5): ≥ 0.8× its req/s at p99 ≤ 2× its p99. The same
 * floor sending mPanel's response headers too is measured beside it (reported, no target).
 */
export async function benchCatalog(): Promise<Figure[]> {
  await seedCatalog();
  const api = await startServer(process.execPath, [`${root}/bin/mpanel.js`, 'api'], { HOST: '127.0.0.1', PORT: '0', API_METRICS_PORT: '0', LOG_LEVEL: 'info' });
  const url = `${api.url}/api/public/plans?tenant=${TENANT}`;
  let body: string;
  let headers: Record<string, string>;
  let mpanel;
  try {
    body = await (await fetch(url)).text();
    headers = await responseHeaders(url);
    mpanel = await load(url);
  } finally {
    await stop(api.child);
  }
  const floorResult = await loadFloor(body);
  const headedResult = await loadFloor(body, headers);

  const ratio = mpanel.requestsPerSecond / floorResult.requestsPerSecond;
  const p99Ratio = mpanel.p99Ms / Math.max(floorResult.p99Ms, 1);
  return [
    { section: 'catalog', name: 'node:http floor (same JSON) req/s', value: Math.round(floorResult.requestsPerSecond), unit: 'req/s' },
    { section: 'catalog', name: 'node:http floor p99', value: floorResult.p99Ms, unit: 'ms' },
    { section: 'catalog', name: `node:http floor, same JSON and mPanel's ${Object.keys(headers).length} headers, req/s`, value: Math.round(headedResult.requestsPerSecond), unit: 'req/s' },
    { section: 'catalog', name: 'GET /api/public/plans req/s', value: Math.round(mpanel.requestsPerSecond), unit: 'req/s' },
    { section: 'catalog', name: 'GET /api/public/plans p99', value: mpanel.p99Ms, unit: 'ms' },
    { section: 'catalog', name: 'plans vs floor (req/s)', value: ratio, unit: 'x', target: '>= 0.8x', met: ratio >= 0.8 },
    { section: 'catalog', name: 'plans vs floor (p99)', value: p99Ratio, unit: 'x', target: '<= 2x', met: p99Ratio <= 2 },
    { section: 'catalog', name: 'plans vs the floor with the same headers (req/s)', value: mpanel.requestsPerSecond / headedResult.requestsPerSecond, unit: 'x' },
    { section: 'catalog', name: 'non-2xx + errors', value: mpanel.non2xx + mpanel.errors, unit: 'responses', target: '0', met: mpanel.non2xx + mpanel.errors === 0 },
  ];
}
