import { createRoute, lazyRouteComponent, Link, Outlet, redirect } from '@tanstack/react-router';
import { rootRoute } from '../routes';
import { defined, str } from '../search';

/**
 * The customer portal at /portal/*: only these route definitions are in the staff console's first
 * load; every portal screen (and the portal session) is a chunk of its own, fetched on the first
 * visit to /portal. Screens read their params with getRouteApi, so they never import this file.
 */
const screens = () => import('./screens');
const account = () => import('./account');
const billing = () => import('./billing');
const mail = () => import('./mail');

export const portalRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/portal',
  component: Outlet,
  notFoundComponent: () => (
    <main id="main" className="page">
      <h1>Not found</h1>
      <p>
        <Link to="/portal">Back to your services</Link>
      </p>
    </main>
  ),
});

/** `next` must stay inside the portal: it comes from the URL. */
const portalNext = (value: unknown): string | undefined => {
  const next = str(value);
  return next?.startsWith('/portal') && !next.startsWith('//') ? next : undefined;
};

const tokenSearch = (search: Record<string, unknown>): { token?: string } => defined({ token: str(search.token) });

const portalSignInRoute = createRoute({
  getParentRoute: () => portalRoute,
  path: '/sign-in',
  validateSearch: (search: Record<string, unknown>): { next?: string; token?: string } => defined({ next: portalNext(search.next), token: str(search.token) }),
  component: lazyRouteComponent(screens, 'PortalSignIn'),
});

const portalForgotRoute = createRoute({ getParentRoute: () => portalRoute, path: '/forgot-password', component: lazyRouteComponent(screens, 'ForgotPassword') });
const portalResetRoute = createRoute({ getParentRoute: () => portalRoute, path: '/reset-password', validateSearch: tokenSearch, component: lazyRouteComponent(screens, 'ResetPassword') });
const portalInvitationRoute = createRoute({ getParentRoute: () => portalRoute, path: '/accept-invitation', validateSearch: tokenSearch, component: lazyRouteComponent(screens, 'AcceptInvitation') });

/** Every portal screen but the signed-out ones: needs a customer session (resumed from the refresh cookie after a reload; see portal/session.ts). */
const portalAppRoute = createRoute({
  getParentRoute: () => portalRoute,
  id: 'customer',
  beforeLoad: async ({ location }) => {
    const { resume } = await import('./session');
    // TanStack Router's way to redirect from beforeLoad: it throws its redirect object.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (!(await resume())) throw redirect({ to: '/portal/sign-in', search: { next: location.href } });
  },
  component: lazyRouteComponent(screens, 'PortalShell'),
});

const servicesRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/', component: lazyRouteComponent(screens, 'Services') });
const serviceRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/services/$id', component: lazyRouteComponent(screens, 'ServiceDetail') });
const zonesRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/dns', component: lazyRouteComponent(screens, 'Zones') });
const zoneRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/dns/$id', component: lazyRouteComponent(screens, 'Zone') });
const invoicesRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/invoices', component: lazyRouteComponent(billing, 'Invoices') });
/** Where the payment provider sends the customer back after paying, or not (STRIPE_CHECKOUT_SUCCESS_URL / _CANCEL_URL): the invoice list, with the outcome. */
const invoiceRoute = createRoute({
  getParentRoute: () => portalAppRoute,
  path: '/invoices/$id',
  validateSearch: (search: Record<string, unknown>): { checkout?: 'success' | 'cancelled' } =>
    defined({ checkout: search.checkout === 'success' || search.checkout === 'cancelled' ? search.checkout : undefined }),
  component: lazyRouteComponent(billing, 'Invoices'),
});
const mailRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/mail', component: lazyRouteComponent(mail, 'Mail') });
const accountRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/account', component: lazyRouteComponent(account, 'Account') });
const contactsRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/contacts', component: lazyRouteComponent(account, 'Contacts') });
const securityRoute = createRoute({ getParentRoute: () => portalAppRoute, path: '/security', component: lazyRouteComponent(account, 'Security') });

export const portalTree = portalRoute.addChildren([
  portalSignInRoute,
  portalForgotRoute,
  portalResetRoute,
  portalInvitationRoute,
  portalAppRoute.addChildren([servicesRoute, serviceRoute, zonesRoute, zoneRoute, invoicesRoute, invoiceRoute, mailRoute, accountRoute, contactsRoute, securityRoute]),
]);
