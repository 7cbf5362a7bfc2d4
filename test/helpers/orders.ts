import { randomBytes } from 'node:crypto';
import type { Database } from '../../src/config/database.js';
import type { BillingInterval, Price, Product, ProductType, Tenant } from '../../src/db/schema/index.js';
import { signMarketingPayload } from '../../src/modules/orders/marketing-signature.js';
import { buildPrice, buildProduct } from '../factories.js';

/** A product with one active price (the catalog API is tested on its own), with order-friendly defaults. */
export async function buildOffer(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  options: { type?: ProductType; features?: Record<string, unknown>; amount?: number; currency?: string; interval?: BillingInterval } = {},
): Promise<{ product: Product; price: Price }> {
  const product = await buildProduct(db, tenant, {
    type: options.type ?? 'SHARED_HOSTING',
    features: options.features ?? { diskQuotaMb: 1024, mailboxes: 5, sslIncluded: false },
  });
  const price = await buildPrice(db, tenant, product, { amount: options.amount ?? 999, currency: options.currency ?? 'EUR', interval: options.interval ?? 'MONTH' });
  return { product, price };
}

export function orderPayload(tenant: Pick<Tenant, 'slug'>, price: Pick<Price, 'id' | 'amount' | 'currency'>, overrides: Record<string, unknown> = {}) {
  const id = randomBytes(6).toString('hex');
  return {
    tenant: tenant.slug,
    customer: { email: `customer-${id}@example.test`, name: 'Ada Customer' },
    priceId: price.id,
    domain: `site-${id}.example.test`,
    payment: { provider: 'stripe', reference: `cs_test_${id}`, amount: price.amount, currency: price.currency },
    ...overrides,
  };
}

/** Headers of a request signed as the marketing site signs it. */
export function signedHeaders(secret: string, rawBody: string, timestamp?: number): Record<string, string> {
  return { 'content-type': 'application/json', 'x-mpanel-signature': signMarketingPayload(secret, rawBody, timestamp) };
}

/** Polls `probe` until it returns a truthy value, or throws after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
