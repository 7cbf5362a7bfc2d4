import { QueryClientProvider } from '@tanstack/react-query';
import { createRouter, RouterProvider } from '@tanstack/react-router';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { portalTree } from './portal/routes';
import { appRoute, queryClient, rootRoute } from './routes';
import { invoiceRoute, invoicesRoute } from './screens/billing';
import { billingSettingsRoute } from './screens/billing-settings';
import { catalogRoute, productRoute } from './screens/catalog';
import { certificatesRoute } from './screens/certificates';
import { dashboardRoute } from './screens/dashboard';
import { zoneRoute, zonesRoute } from './screens/dns';
import { auditRoute, jobsRoute, serversRoute } from './screens/operations';
import { orderRoute, ordersRoute } from './screens/orders';
import { customerRoute, customersRoute, usersRoute } from './screens/people';
import { settingsRoute, templateRoute } from './screens/settings';
import { acceptInvitationRoute, signInRoute } from './screens/sign-in';
import { subscriptionRoute, subscriptionsRoute } from './screens/subscriptions';
import { webhookRoute, webhooksRoute } from './screens/webhooks';
import './styles.css';

const routeTree = rootRoute.addChildren([
  signInRoute,
  acceptInvitationRoute,
  portalTree,
  appRoute.addChildren([
    dashboardRoute,
    subscriptionsRoute,
    subscriptionRoute,
    ordersRoute,
    orderRoute,
    jobsRoute,
    zonesRoute,
    zoneRoute,
    catalogRoute,
    productRoute,
    customersRoute,
    customerRoute,
    usersRoute,
    auditRoute,
    serversRoute,
    invoicesRoute,
    invoiceRoute,
    settingsRoute,
    templateRoute,
    certificatesRoute,
    billingSettingsRoute,
    webhooksRoute,
    webhookRoute,
  ]),
]);

const router = createRouter({ routeTree, context: { queryClient }, defaultPreload: false, scrollRestoration: true });

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
