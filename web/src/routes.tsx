import { QueryClient } from '@tanstack/react-query';
import { createRootRouteWithContext, createRoute, Link, Outlet, redirect, useNavigate, useRouter } from '@tanstack/react-router';
import { resume, session, signOut } from './api/session';
import { str } from './search';

export const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, staleTime: 2_000, refetchOnWindowFocus: false } },
});

export const rootRoute = createRootRouteWithContext<{ queryClient: QueryClient }>()({
  component: () => <Outlet />,
  notFoundComponent: () => (
    <main id="main" className="page">
      <h1>Not found</h1>
      <p>
        <Link to="/">Back to the dashboard</Link>
      </p>
    </main>
  ),
});

/** Every screen but sign-in: needs a session (resumed from the refresh cookie after a reload). */
export const appRoute = createRoute({
  getParentRoute: () => rootRoute,
  id: 'staff',
  beforeLoad: async ({ location }) => {
    // TanStack Router's way to redirect from beforeLoad: it throws its redirect object.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (!(await resume())) throw redirect({ to: '/sign-in', search: { next: location.href } });
  },
  component: Shell,
});

export const signInSearch = (search: Record<string, unknown>): { next?: string } => {
  const next = str(search.next);
  // Only paths of this app: `next` comes from the URL, and an absolute URL would leave it.
  return next?.startsWith('/') && !next.startsWith('//') ? { next } : {};
};

const NAV = [
  { to: '/', label: 'Dashboard' },
  { to: '/subscriptions', label: 'Subscriptions' },
  { to: '/orders', label: 'Orders' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/dns', label: 'DNS' },
  { to: '/certificates', label: 'Certificates' },
  { to: '/catalog', label: 'Catalog' },
  { to: '/customers', label: 'Customers' },
  { to: '/invoices', label: 'Invoices' },
  { to: '/users', label: 'Users' },
  { to: '/audit', label: 'Audit log' },
  { to: '/settings', label: 'Settings' },
] as const;

function Shell() {
  const user = session.user();
  const navigate = useNavigate();
  const router = useRouter();
  const out = async () => {
    await signOut();
    queryClient.clear();
    await router.invalidate();
    await navigate({ to: '/sign-in', search: {} });
  };
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">mPanel</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to} activeOptions={{ exact: item.to === '/' }} activeProps={{ 'aria-current': 'page' }}>
                  {item.label}
                </Link>
              </li>
            ))}
            {user?.role === 'SUPER_ADMIN' && (
              <li>
                <Link to="/servers" activeProps={{ 'aria-current': 'page' }}>
                  Servers
                </Link>
              </li>
            )}
          </ul>
        </nav>
        <div className="who">
          <span>
            {user?.name} ({user?.role})
          </span>
          <button type="button" onClick={() => void out()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className="page">
        <Outlet />
      </main>
    </div>
  );
}
