export * from './enums.js';
export * from './rls.js';
export * from './tenancy.js';
export * from './catalog.js';
export * from './billing.js';
export * from './dns.js';
export * from './hosting.js';
export * from './jobs.js';
