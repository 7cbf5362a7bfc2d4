import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import { answerChallenge, setUpSecondFactor, signIn } from '../api/session';
import { str, text } from '../search';
import { Field, FormError } from '../ui/form';
import { rootRoute, signInSearch } from '../routes';

export const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/sign-in',
  validateSearch: signInSearch,
  component: SignIn,
});

/** Where the sign-in is: the password, then (when asked) a code, then (after a first set-up) the recovery codes. */
type Step =
  | { kind: 'password' }
  | { kind: 'code'; challenge: string; setup: { secret: string; otpauthUri: string } | null }
  | { kind: 'recovery'; codes: string[] };

function SignIn() {
  const { next } = signInRoute.useSearch();
  const navigate = useNavigate();
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const done = () => navigate({ href: next ?? '/' });

  const run = (work: (form: FormData) => Promise<void>) => async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await work(form);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const submitPassword = run(async (form) => {
    const result = await signIn(text(form, 'email'), text(form, 'password'));
    if (result.signedIn) return done();
    setStep({ kind: 'code', challenge: result.challenge, setup: result.enrolmentRequired ? await setUpSecondFactor(result.challenge) : null });
  });

  const submitCode = (challenge: string) =>
    run(async (form) => {
      const { recoveryCodes } = await answerChallenge(challenge, text(form, 'code'));
      if (recoveryCodes) setStep({ kind: 'recovery', codes: recoveryCodes });
      else await done();
    });

  return (
    <main id="main" className="sign-in">
      <h1>mPanel staff sign-in</h1>
      {step.kind === 'password' && (
        <form onSubmit={(event) => void submitPassword(event)} noValidate>
          <Field label="Email" field="email" type="email" autoComplete="username" required error={error} />
          <Field label="Password" field="password" type="password" autoComplete="current-password" required error={error} />
          <FormError error={error} fields={['email', 'password']} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      )}
      {step.kind === 'code' && (
        <form onSubmit={(event) => void submitCode(step.challenge)(event)} noValidate>
          {step.setup ? (
            <>
              <p>This organisation requires two-factor sign-in. Add this key to your authenticator app, then enter the code it shows.</p>
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
      {step.kind === 'recovery' && (
        <section aria-labelledby="recovery-title">
          <h2 id="recovery-title">Your recovery codes</h2>
          <p>Each works once if you lose your authenticator. They are shown only now: keep them somewhere safe.</p>
          <ul className="recovery-codes">
            {step.codes.map((code) => (
              <li key={code}>
                <code>{code}</code>
              </li>
            ))}
          </ul>
          <button type="button" className="primary" onClick={() => void done()}>
            I have kept them
          </button>
        </section>
      )}
    </main>
  );
}

export const acceptInvitationRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/accept-invitation',
  validateSearch: (search: Record<string, unknown>): { token?: string } => {
    const token = str(search.token);
    return token ? { token } : {};
  },
  component: AcceptInvitation,
});

/** The page of a staff invitation's link: choose a password, then sign in. */
function AcceptInvitation() {
  const { token } = acceptInvitationRoute.useSearch();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [accepted, setAccepted] = useState<string | null>(null);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const answer = await must(api.POST('/api/auth/accept-invitation', { body: { token: token ?? '', password: text(form, 'password') } }));
      setAccepted(answer.email);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" className="sign-in">
      <h1>Join the mPanel control panel</h1>
      {!token ? (
        <p className="error" role="alert">
          This page needs the link from your invitation email (it carries a token).
        </p>
      ) : accepted ? (
        <>
          <p role="status">Your user {accepted} is ready.</p>
          <p>
            <Link to="/sign-in" search={{}}>
              Sign in
            </Link>
          </p>
        </>
      ) : (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <p>Choose the password you will sign in with. The link works once.</p>
          <Field label="New password" field="password" type="password" autoComplete="new-password" required hint="At least 12 characters" error={error} />
          <FormError error={error} fields={['password']} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Set password'}
          </button>
        </form>
      )}
    </main>
  );
}
