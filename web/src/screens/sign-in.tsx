import { createRoute, useNavigate } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { ApiError } from '../api/problem';
import { signIn } from '../api/session';
import { text } from '../search';
import { Field, FormError } from '../ui/form';
import { rootRoute, signInSearch } from '../routes';

export const signInRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/sign-in',
  validateSearch: signInSearch,
  component: SignIn,
});

function SignIn() {
  const { next } = signInRoute.useSearch();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const response = await signIn(text(form, 'email'), text(form, 'password'));
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      await navigate({ href: next ?? '/' });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="sign-in">
      <h1>mPanel staff sign-in</h1>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Field label="Email" field="email" type="email" autoComplete="username" required error={error} />
        <Field label="Password" field="password" type="password" autoComplete="current-password" required error={error} />
        <FormError error={error} fields={['email', 'password']} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
