import { z } from 'zod';
import { billingIntervals, productTypes, type BillingInterval, type ProductType } from '../../db/schema/index.js';
import { AppError, type FieldError } from '../../shared/errors/app-error.js';
import { paginationQuery, pageOf } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { tenantSlug } from '../tenants/tenants.types.js';

export const productType = z.enum(productTypes);
export const billingInterval = z.enum(billingIntervals);

// ---------------------------------------------------------------------------------------------
// Features: what provisioning needs, one strict schema per product type.
// ---------------------------------------------------------------------------------------------

/**
 * A strict object whose unknown keys are reported at their own path (`body/features/foo`), not as
 * one "unrecognized keys" issue on the object (which zod's strictObject does). Every extra key goes
 * through a catch-all that always fails; the JSON Schema still says `additionalProperties: false`.
 */
function strictFeatures<Shape extends z.ZodRawShape>(shape: Shape) {
  const unknownFeature = z.unknown().refine(() => false, { error: 'is not a feature of this product type' });
  return z.object(shape).catchall(unknownFeature).meta({ additionalProperties: false });
}

const count = (min: number, max: number) => z.number().int().min(min).max(max);

export const sharedHostingFeatures = strictFeatures({
  diskQuotaMb: count(1, 10_000_000),
  mailboxes: count(0, 10_000),
  sslIncluded: z.boolean(),
  /** With sslIncluded: send Strict-Transport-Security over HTTPS (off by default). */
  hsts: z.boolean().optional(),
  /** With sslIncluded: a wildcard certificate (domain and *.domain, dns-01) instead of domain and www. */
  sslWildcard: z.boolean().optional(),
  bandwidthGb: z.number().int().min(0).optional(),
  databases: z.number().int().min(0).optional(),
}).meta({ id: 'SharedHostingFeatures' });

export const vpsFeatures = strictFeatures({
  vcpus: count(1, 64),
  memoryMb: count(256, 1_048_576),
  diskGb: count(1, 100_000),
}).meta({ id: 'VpsFeatures' });

export const emailFeatures = strictFeatures({
  mailboxes: count(1, 10_000),
  mailboxQuotaMb: count(1, 1_000_000),
}).meta({ id: 'EmailFeatures' });

export const dnsFeatures = strictFeatures({
  zones: count(1, 10_000),
}).meta({ id: 'DnsFeatures' });

export const domainFeatures = strictFeatures({
  tld: z
    .string()
    .regex(/^[a-z0-9-]{2,63}$/, 'must be a top-level domain without the dot, e.g. "com" (lower-case letters, digits, hyphens; 2 to 63)'),
  registrationYears: count(1, 10).optional(),
}).meta({ id: 'DomainFeatures' });

export const featureSchemas = {
  SHARED_HOSTING: sharedHostingFeatures,
  VPS: vpsFeatures,
  EMAIL: emailFeatures,
  DNS: dnsFeatures,
  DOMAIN: domainFeatures,
} as const satisfies Record<ProductType, z.ZodType>;

export type FeaturesOf<Type extends ProductType> = z.output<(typeof featureSchemas)[Type]>;
export type SharedHostingFeatures = FeaturesOf<'SHARED_HOSTING'>;
export type VpsFeatures = FeaturesOf<'VPS'>;
export type EmailFeatures = FeaturesOf<'EMAIL'>;
export type DnsFeatures = FeaturesOf<'DNS'>;
export type DomainFeatures = FeaturesOf<'DOMAIN'>;

// The same map, typed so that indexing it with a generic type gives that type's schema.
const schemaByType: { [Type in ProductType]: z.ZodType<FeaturesOf<Type>> } = featureSchemas;

/** zod issue paths as the API reports fields: `body/features/diskQuotaMb`. */
function issueFields(issues: readonly z.core.$ZodIssue[], prefix: string): FieldError[] {
  return issues.map((issue) => ({ field: [prefix, ...issue.path.map(String)].join('/'), message: issue.message }));
}

/**
 * Checks a features object against its product type's schema (PATCH, provisioning). Throws
 * VALIDATION_FAILED naming each offending field under `fieldPrefix`.
 */
export function parseFeatures<Type extends ProductType>(type: Type, value: unknown, fieldPrefix = 'body/features'): FeaturesOf<Type> {
  const result = schemaByType[type].safeParse(value);
  if (!result.success) {
    throw new AppError('VALIDATION_FAILED', `The features are not valid for a ${type} product`, { fields: issueFields(result.error.issues, fieldPrefix) });
  }
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------------------------

export const MAX_AMOUNT = 100_000_000;

// ICU's list of ISO 4217 codes in circulation (Node 20 ships full ICU).
const isoCurrencies: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

export const amountSchema = z
  .number()
  .int()
  .min(0)
  .max(MAX_AMOUNT)
  .meta({ description: 'Integer minor units (cents for USD), 0 to 100000000' });

export const currencySchema = z
  .string()
  .regex(/^[A-Z]{3}$/, { error: 'must be an ISO 4217 code in upper case, e.g. "USD"', abort: true })
  .refine((code) => isoCurrencies.has(code), { error: 'unknown currency' })
  .meta({ description: 'ISO 4217 currency code, upper case', examples: ['USD'] });

/** ONE_TIME is for domains only; every other product bills by MONTH or YEAR. */
export function intervalsFor(type: ProductType): readonly BillingInterval[] {
  return type === 'DOMAIN' ? billingIntervals : ['MONTH', 'YEAR'];
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

export const productName = z.string().trim().min(1).max(120);
const description = z.string().trim().max(2000).nullable();

export const priceInput = z.strictObject({
  amount: amountSchema,
  currency: currencySchema,
  interval: billingInterval.meta({ description: 'MONTH or YEAR; ONE_TIME only for DOMAIN products. Fixed once created.' }),
  isActive: z.boolean().optional(),
});
export type PriceInput = z.output<typeof priceInput>;

const createVariant = <Type extends ProductType, Features extends z.ZodType>(type: Type, features: Features) =>
  z.strictObject({
    name: productName,
    description: description.optional(),
    type: z.literal(type),
    features,
    isActive: z.boolean().optional(),
    isPublic: z.boolean().optional(),
    prices: z.array(priceInput).max(50).optional(),
  });

export const createProductBody = z.discriminatedUnion('type', [
  createVariant('SHARED_HOSTING', sharedHostingFeatures),
  createVariant('VPS', vpsFeatures),
  createVariant('EMAIL', emailFeatures),
  createVariant('DNS', dnsFeatures),
  createVariant('DOMAIN', domainFeatures),
]);
export type CreateProductBody = z.output<typeof createProductBody>;

/** The type is immutable: it is not accepted here. `features` replaces the whole object. */
export const updateProductBody = z.strictObject({
  name: productName.optional(),
  description: description.optional(),
  features: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: "The complete features object, validated against the product's type (see the create body)" }),
  isActive: z.boolean().optional(),
  isPublic: z.boolean().optional(),
});
export type UpdateProductBody = z.output<typeof updateProductBody>;

/** The interval is not accepted: it is fixed once the price exists. */
export const updatePriceBody = z.strictObject({
  isActive: z.boolean().optional(),
  amount: amountSchema.optional(),
  currency: currencySchema.optional(),
});
export type UpdatePriceBody = z.output<typeof updatePriceBody>;

/** `true` / `false` in a query string (z.coerce.boolean would read "false" as true). */
const queryBoolean = z.enum(['true', 'false']).transform((value) => value === 'true');

export const listProductsQuery = z.strictObject({
  type: productType.optional(),
  isActive: queryBoolean.optional(),
  isPublic: queryBoolean.optional(),
  q: z.string().trim().min(1).max(120).optional().meta({ description: 'Case-insensitive substring of the name' }),
  includeDeleted: queryBoolean.default(false).meta({ description: 'Also list soft-deleted products (default false)' }),
  ...paginationQuery,
});
export type ListProductsQuery = z.output<typeof listProductsQuery>;

// ---------------------------------------------------------------------------------------------
// Responses (admin)
// ---------------------------------------------------------------------------------------------

export const priceResponse = z
  .object({
    id: z.uuid(),
    productId: z.uuid(),
    amount: z.number().int(),
    currency: z.string(),
    interval: billingInterval,
    isActive: z.boolean(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Price' });
export type PriceResponse = z.output<typeof priceResponse>;

const storedFeatures = z
  .record(z.string(), z.unknown())
  .meta({ description: "The type's features: SharedHostingFeatures, VpsFeatures, EmailFeatures, DnsFeatures or DomainFeatures" });

export const productResponse = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    type: productType,
    features: storedFeatures,
    isActive: z.boolean(),
    isPublic: z.boolean(),
    createdAt: timestamp,
    updatedAt: timestamp,
    deletedAt: timestamp.nullable().meta({ description: 'Set when the product was deleted (soft delete)' }),
    prices: z.array(priceResponse),
  })
  .meta({ id: 'Product' });
export type ProductResponse = z.output<typeof productResponse>;

export const productPage = pageOf(productResponse);

// ---------------------------------------------------------------------------------------------
// Public catalog
// ---------------------------------------------------------------------------------------------

export const publicCatalogQuery = z.strictObject({
  tenant: tenantSlug
    .optional()
    .meta({ description: 'Tenant slug; may be omitted when the installation has exactly one active tenant' }),
});

export const publicProduct = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    type: productType,
    features: storedFeatures,
    prices: z.array(z.object({ id: z.uuid(), amount: z.number().int(), currency: z.string(), interval: billingInterval })),
  })
  .meta({ id: 'PublicProduct' });

export const publicPlan = z
  .object({
    planId: z.uuid().meta({ description: 'The price id: what an order names as priceId' }),
    productId: z.uuid(),
    productName: z.string(),
    type: productType,
    interval: billingInterval,
    amount: z.number().int(),
    currency: z.string(),
    features: storedFeatures,
  })
  .meta({ id: 'PublicPlan' });

export const publicProductsResponse = z.object({ products: z.array(publicProduct) });
export type PublicProductsResponse = z.output<typeof publicProductsResponse>;
export const publicPlansResponse = z.object({ plans: z.array(publicPlan) });
export type PublicPlansResponse = z.output<typeof publicPlansResponse>;

export const notModified = z.null().meta({ description: 'Not modified: If-None-Match names the current ETag' });
export const noContent = z.null().meta({ description: 'Deleted' });
