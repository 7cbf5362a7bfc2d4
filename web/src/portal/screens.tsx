import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, Outlet, useNavigate, useParams, useSearch } from '@tanstack/react-router';
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import type { components } from '../api/schema';
import { queryClient } from '../routes';
import { text } from '../search';
import { Field, FormError } from '../ui/form';
import { dateTime, money } from '../ui/format';
import { RecordEditor, type RecordCalls } from '../ui/record-editor';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';
import { CancelService } from './billing';
import { portalMust } from './client';
import { ChangePlan } from './plan-change';
import {
  onSessionEnded,
  portalAnswerChallenge,
  portalApi,
  portalSession,
  portalSetUpSecondFactor,
  portalSignIn,
  portalSignInWithLink,
  portalSignOut,
  type PortalSignInStep,
} from './session';

// ---------------------------------------------------------------------------------------------
// Signed out: sign-in (password or emailed link, then the second factor), links, invitation

/** A form handler with busy and error state: the API's problem lands on the named fields. */
function useSubmit() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = (work: (form: FormData, submitter: string) => Promise<void>) => async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const submitter = (event.nativeEvent as SubmitEvent).submitter?.getAttribute('value') ?? '';
    setBusy(true);
    setError(null);
    try {
      await work(form, submitter);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, setError };
}

function SignedOutPage({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main id="main" className="sign-in">
      <h1>{title}</h1>
      {children}
    </main>
  );
}

type Step = { kind: 'password' } | { kind: 'code'; challenge: string; setup: { secret: string; otpauthUri: string } | null } | { kind: 'recovery'; codes: string[] };

/** A sign-in link's token is single use: one confirmation per token, even when React runs an effect twice. */
const linkSignIns = new Map<string, Promise<PortalSignInStep>>();

export function PortalSignIn() {
  const { next, token } = useSearch({ strict: false });
  const navigate = useNavigate();
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const { error, busy, run, setError } = useSubmit();
  const done = () => navigate({ href: next ?? '/portal' });

  const afterFirstStep = async (result: PortalSignInStep) => {
    if (result.signedIn) return done();
    setStep({ kind: 'code', challenge: result.challenge, setup: result.enrolmentRequired ? await portalSetUpSecondFactor(result.challenge) : null });
  };

  useEffect(() => {
    if (!token) return;
    let signIn = linkSignIns.get(token);
    if (!signIn) {
      signIn = portalSignInWithLink(token);
      linkSignIns.set(token, signIn);
    }
    signIn.then(afterFirstStep).catch(setError);
    // Once per token (the link is spent by the first call): afterFirstStep is not a dependency.
  }, [token]);

  const submitPassword = run(async (form) => afterFirstStep(await portalSignIn(text(form, 'tenant'), text(form, 'email'), text(form, 'password'))));
  const submitCode = (challenge: string) =>
    run(async (form) => {
      const { recoveryCodes } = await portalAnswerChallenge(challenge, text(form, 'code'));
      if (recoveryCodes) setStep({ kind: 'recovery', codes: recoveryCodes });
      else await done();
    });

  return (
    <SignedOutPage title="Customer portal sign-in">
      {step.kind === 'password' && (
        <>
          {token && !error && (
            <p role="status" className="state">
              Signing in with your link…
            </p>
          )}
          <form onSubmit={(event) => void submitPassword(event)} noValidate>
            <Field label="Organisation" field="tenant" autoComplete="organization" hint="The short name of your hosting provider, as in your invitation" required error={error} />
            <Field label="Email" field="email" type="email" autoComplete="username" required error={error} />
            <Field label="Password" field="password" type="password" autoComplete="current-password" required error={error} />
            <FormError error={error} fields={['tenant', 'email', 'password']} />
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
          </form>
          <p>
            <Link to="/portal/forgot-password">Forgot your password, or sign in with an emailed link</Link>
          </p>
        </>
      )}
      {step.kind === 'code' && (
        <form onSubmit={(event) => void submitCode(step.challenge)(event)} noValidate>
          {step.setup ? (
            <>
              <p>Your provider requires two-factor sign-in. Add this key to your authenticator app, then enter the code it shows.</p>
              <p>
                Key: <code data-testid="totp-secret">{step.setup.secret}</code>
              </p>
              <p>
                <a href={step.setup.otpauthUri}>Open in an authenticator app</a>
              </p>
            </>
          ) : (
            <p>Enter the code from your authenticator app, or one of your recovery codes.</p>
          )}
          <Field label="Code" field="code" inputMode="numeric" autoComplete="one-time-code" required error={error} />
          <FormError error={error} fields={['code']} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Checking…' : 'Continue'}
          </button>
        </form>
      )}
      {step.kind === 'recovery' && <RecoveryCodes codes={step.codes} onDone={() => void done()} />}
    </SignedOutPage>
  );
}

export function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  return (
    <section aria-labelledby="recovery-title">
      <h2 id="recovery-title">Your recovery codes</h2>
      <p>Each works once if you lose your authenticator. They are shown only now: keep them somewhere safe.</p>
      <ul className="recovery-codes">
        {codes.map((code) => (
          <li key={code}>
            <code>{code}</code>
          </li>
        ))}
      </ul>
      <button type="button" className="primary" onClick={onDone}>
        I have kept them
      </button>
    </section>
  );
}

/** Request a password reset link or a sign-in link: the same answer whether or not the email has a login. */
export function ForgotPassword() {
  const { error, busy, run } = useSubmit();
  const [sent, setSent] = useState<string | null>(null);
  const submit = run(async (form, which) => {
    const body = { tenant: text(form, 'tenant'), email: text(form, 'email') };
    const answer = await portalMust(which === 'sign-in' ? portalApi.POST('/api/portal/auth/sign-in-link', { body }) : portalApi.POST('/api/portal/auth/password-reset', { body }));
    setSent(answer.message);
  });
  return (
    <SignedOutPage title="Reset your password or get a sign-in link">
      {sent ? (
        <p role="status">{sent}.</p>
      ) : (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <Field label="Organisation" field="tenant" autoComplete="organization" required error={error} />
          <Field label="Email" field="email" type="email" autoComplete="username" required error={error} />
          <FormError error={error} fields={['tenant', 'email']} />
          <button type="submit" name="link" value="reset" className="primary" disabled={busy}>
            Email me a password reset link
          </button>
          <button type="submit" name="link" value="sign-in" disabled={busy}>
            Email me a sign-in link
          </button>
        </form>
      )}
      <p>
        <Link to="/portal/sign-in">Back to sign-in</Link>
      </p>
    </SignedOutPage>
  );
}

/** Set a password with a link's token (invitation or reset). */
function SetPassword({ title, intro, kind }: { title: string; intro: string; kind: 'invitation' | 'reset' }) {
  const { token } = useSearch({ strict: false });
  const { error, busy, run } = useSubmit();
  const [done, setDone] = useState<string | null>(null);
  const submit = run(async (form) => {
    const body = { token: token ?? '', password: text(form, 'password') };
    const answer = await portalMust(kind === 'invitation' ? portalApi.POST('/api/portal/auth/accept-invitation', { body }) : portalApi.POST('/api/portal/auth/password-reset/confirm', { body }));
    setDone(answer.message);
  });
  return (
    <SignedOutPage title={title}>
      {!token ? (
        <p className="error" role="alert">
          This page needs the link from your email (it carries a token).
        </p>
      ) : done ? (
        <>
          <p role="status">{done}.</p>
          <p>
            <Link to="/portal/sign-in">Sign in</Link>
          </p>
        </>
      ) : (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <p>{intro}</p>
          <Field label="New password" field="password" type="password" autoComplete="new-password" required hint="At least 12 characters" error={error} />
          <FormError error={error} fields={['password']} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Set password'}
          </button>
        </form>
      )}
    </SignedOutPage>
  );
}

export const AcceptInvitation = () => <SetPassword kind="invitation" title="Welcome: choose your password" intro="Your hosting account is ready. Choose a password for the customer portal." />;
export const ResetPassword = () => <SetPassword kind="reset" title="Choose a new password" intro="Every session of your login ends when the new password is set." />;

// ---------------------------------------------------------------------------------------------
// Signed in: the shell and the services

const NAV = [
  { to: '/portal', label: 'Services' },
  { to: '/portal/dns', label: 'DNS' },
  { to: '/portal/mail', label: 'Mail' },
  { to: '/portal/invoices', label: 'Invoices' },
  { to: '/portal/account', label: 'Account' },
  { to: '/portal/contacts', label: 'Contacts' },
  { to: '/portal/security', label: 'Security' },
] as const;

export function PortalShell() {
  const login = portalSession.login();
  const navigate = useNavigate();
  useEffect(
    () =>
      onSessionEnded(() => {
        queryClient.removeQueries({ queryKey: ['portal'] });
        void navigate({ to: '/portal/sign-in', search: { next: window.location.pathname } });
      }),
    [navigate],
  );
  const out = async () => {
    await portalSignOut();
    queryClient.removeQueries({ queryKey: ['portal'] });
    await navigate({ to: '/portal/sign-in', search: {} });
  };
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Customer portal</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to} activeOptions={{ exact: item.to === '/portal' }} activeProps={{ 'aria-current': 'page' }}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span>
            {login?.name} ({login?.email})
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

type Service = components['schemas']['PortalService'];

const serviceName = (service: Service): string => service.domain ?? service.plan.name;

export function Services() {
  const list = useQuery({ queryKey: ['portal', 'services'], queryFn: () => portalMust(portalApi.GET('/api/portal/services')) });
  return (
    <>
      <h1>Your services</h1>
      <QueryState query={list} what="services">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No service yet: a service appears here once your order is placed.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Service</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Status</th>
                  <th scope="col">Price</th>
                  <th scope="col">Current period ends</th>
                </tr>
              </thead>
              <tbody>
                {items.map((service) => (
                  <tr key={service.id}>
                    <td>
                      <Link to="/portal/services/$id" params={{ id: service.id }}>
                        {serviceName(service)}
                      </Link>
                    </td>
                    <td>{service.plan.name}</td>
                    <td>
                      <Status value={service.status} />
                    </td>
                    <td>
                      {money(service.plan.amount, service.plan.currency)} / {service.plan.interval}
                    </td>
                    <td>{dateTime(service.currentPeriodEnd)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
    </>
  );
}

export function ServiceDetail() {
  const { id = '' } = useParams({ strict: false });
  const detail = useQuery({ queryKey: ['portal', 'service', id], queryFn: () => portalMust(portalApi.GET('/api/portal/services/{id}', { params: { path: { id } } })) });
  return (
    <QueryState query={detail} what="the service">
      {(service) => (
        <>
          <h1>{serviceName(service)}</h1>
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd>
                <Status value={service.status} />
                {service.statusReason && <span> · {service.statusReason.reason}</span>}
              </dd>
            </div>
            <div>
              <dt>Plan</dt>
              <dd>
                {service.plan.name} ({service.plan.type}), {money(service.plan.amount, service.plan.currency)} / {service.plan.interval}
              </dd>
            </div>
            <div>
              <dt>Domain</dt>
              <dd>{service.domain ?? '—'}</dd>
            </div>
            <div>
              <dt>Site</dt>
              <dd>{service.siteUrl ? <a href={service.siteUrl}>{service.siteUrl}</a> : '—'}</dd>
            </div>
            <div>
              <dt>Certificate</dt>
              <dd>{service.certificateStatus ? <Status value={service.certificateStatus} /> : 'none'}</dd>
            </div>
            <div>
              <dt>Current period</dt>
              <dd>
                {dateTime(service.currentPeriodStart)} – {dateTime(service.currentPeriodEnd)}
              </dd>
            </div>
            <div>
              <dt>Paid through</dt>
              <dd>{dateTime(service.paidThrough)}</dd>
            </div>
            <div>
              <dt>Since</dt>
              <dd>{dateTime(service.createdAt)}</dd>
            </div>
          </dl>
          <p>
            <Link to="/portal/dns">Manage DNS records</Link> · <Link to="/portal">All services</Link>
          </p>
          <ChangePlan service={service} />
          <CancelService service={service} />
        </>
      )}
    </QueryState>
  );
}

// ---------------------------------------------------------------------------------------------
// DNS: the customer's own zones, the same validation as the staff editor (PowerDNS behind it)

export function Zones() {
  const list = useQuery({ queryKey: ['portal', 'zones'], queryFn: () => portalMust(portalApi.GET('/api/portal/dns/zones')) });
  return (
    <>
      <h1>DNS zones</h1>
      <QueryState query={list} what="zones">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No zone yet: a zone is created with your hosting service.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Zone</th>
                  <th scope="col">Status</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {items.map((zone) => (
                  <tr key={zone.id}>
                    <td>
                      <Link to="/portal/dns/$id" params={{ id: zone.id }}>
                        {zone.name}
                      </Link>
                    </td>
                    <td>
                      <Status value={zone.status} />
                    </td>
                    <td>{dateTime(zone.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryState>
    </>
  );
}

export function Zone() {
  const { id = '' } = useParams({ strict: false });
  const client = useQueryClient();
  const zone = useQuery({ queryKey: ['portal', 'zone', id], queryFn: () => portalMust(portalApi.GET('/api/portal/dns/zones/{id}', { params: { path: { id } } })) });
  const calls: RecordCalls = {
    create: (body) => portalMust(portalApi.POST('/api/portal/dns/zones/{id}/records', { params: { path: { id } }, body })),
    update: (recordId, body) => portalMust(portalApi.PATCH('/api/portal/dns/records/{id}', { params: { path: { id: recordId } }, body })),
    remove: (recordId) => portalMust(portalApi.DELETE('/api/portal/dns/records/{id}', { params: { path: { id: recordId } } })),
    refresh: () => client.invalidateQueries({ queryKey: ['portal', 'zone', id] }),
  };
  return (
    <QueryState query={zone} what="the zone">
      {(detail) => (
        <>
          <h1>Zone {detail.name}</h1>
          <p>
            <Status value={detail.status} /> · nameservers {detail.nameservers.join(', ') || '—'}
          </p>
          <RecordEditor zoneName={detail.name} records={detail.records} calls={calls} />
        </>
      )}
    </QueryState>
  );
}
