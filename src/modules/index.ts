import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RouterDeps } from './router-deps.js';
import { auditRouter } from './audit/audit.router.js';
import { authRouter } from './auth/auth.router.js';
import { browserSessionRouter } from './auth/browser-session.router.js';
import { staffTwoFactorRouter } from './auth/staff-two-factor.router.js';
import { billingRouter } from './billing/billing.router.js';
import { planChangeRouter } from './billing/plan-change.router.js';
import { catalogRouter } from './catalog/catalog.router.js';
import { certificatesRouter } from './certificates/certificates.router.js';
import { dashboardRouter } from './dashboard/dashboard.router.js';
import { customersRouter } from './customers/customers.router.js';
import { dnsRouter } from './dns/dns.router.js';
import { jobsRouter } from './provisioning/jobs.router.js';
import { notificationsRouter } from './events/notifications.router.js';
import { webhooksRouter } from './events/webhooks.router.js';
import { mailRouter } from './mail/mail.router.js';
import { lifecycleRouter } from './subscriptions/lifecycle.router.js';
import { orderIntakeRouter } from './orders/orders.router.js';
import { ordersAdminRouter } from './orders/orders-admin.router.js';
import { serversRouter } from './servers/servers.router.js';
import { paymentEventsRouter } from './payment-events/payment-events.router.js';
import { subscriptionsRouter } from './subscriptions/subscriptions.router.js';
import { tenantsRouter } from './tenants/tenants.router.js';
import { usersRouter } from './users/users.router.js';

/**
 * The API's modules, each a Fastify plugin mounted under /api behind the authenticate hook
 * (app.ts). A route is public only when it says so (`config.public`); any other declares a
 * permission from modules/auth/permissions.ts.
 */
export const apiRouters: readonly FastifyPluginAsyncZod<RouterDeps>[] = [
  authRouter,
  browserSessionRouter,
  staffTwoFactorRouter,
  catalogRouter,
  orderIntakeRouter,
  ordersAdminRouter,
  customersRouter,
  subscriptionsRouter,
  lifecycleRouter,
  jobsRouter,
  dnsRouter,
  serversRouter,
  certificatesRouter,
  dashboardRouter,
  mailRouter,
  paymentEventsRouter,
  billingRouter,
  planChangeRouter,
  auditRouter,
  usersRouter,
  tenantsRouter,
  notificationsRouter,
  webhooksRouter,
];
