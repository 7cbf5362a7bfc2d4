import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useState, type FormEvent } from 'react';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { ApiError } from '../api/problem';
import { appRoute } from '../routes';
import { defined, str, text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FormError, SelectField } from '../ui/form';
import { money } from '../ui/format';
import { toMinorUnits } from '../ui/money-input';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';

type Interval = components['schemas']['Price']['interval'];
const INTERVALS: readonly Interval[] = ['MONTH', 'YEAR', 'ONE_TIME'];
const isInterval = (value: string): value is Interval => INTERVALS.some((interval) => interval === value);

export const catalogRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/catalog',
  validateSearch: (search: Record<string, unknown>): { q?: string; cursor?: string } => defined({ q: str(search.q), cursor: str(search.cursor) }),
  component: Catalog,
});

export const productRoute = createRoute({ getParentRoute: () => appRoute, path: '/catalog/$id', component: ProductScreen });

/** A local refusal shaped like the API's, so the field shows it in the same place. */
const localFieldError = (field: string, message: string) => new ApiError(400, { title: 'Bad Request', detail: message, errors: [{ field, message }] });

function Catalog() {
  const search = catalogRoute.useSearch();
  const navigate = useNavigate({ from: catalogRoute.fullPath });
  const list = useQuery({ queryKey: ['products', search], queryFn: () => must(api.GET('/api/products', { params: { query: { ...search, limit: 50 } } })) });
  return (
    <>
      <h1>Catalog</h1>
      <form
        className="filters"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          void navigate({ search: defined({ q: str(new FormData(event.currentTarget).get('q')) }) });
        }}
      >
        <Field label="Search products" field="q" defaultValue={search.q ?? ''} error={null} />
        <button type="submit">Search</button>
      </form>
      <QueryState query={list} what="products">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No product{search.q ? ` matches “${search.q}”` : ' yet'}.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Product</th>
                    <th scope="col">Type</th>
                    <th scope="col">Prices</th>
                    <th scope="col">Active</th>
                    <th scope="col">Public</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((product) => (
                    <tr key={product.id}>
                      <td>
                        <Link to="/catalog/$id" params={{ id: product.id }}>
                          {product.name}
                        </Link>
                      </td>
                      <td>{product.type}</td>
                      <td>{product.prices.map((price) => `${money(price.amount, price.currency)} / ${price.interval.toLowerCase()}`).join(', ') || '—'}</td>
                      <td>{product.isActive ? 'yes' : 'no'}</td>
                      <td>{product.isPublic ? 'yes' : 'no'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager cursor={search.cursor} nextCursor={page.nextCursor} go={(cursor) => void navigate({ search: defined({ ...search, cursor }) })} />
            </>
          )
        }
      </QueryState>
      <NewProduct />
    </>
  );
}

const PRODUCT_FIELDS = ['name', 'description', 'features.diskQuotaMb', 'features.mailboxes', 'prices.0.amount', 'prices.0.currency', 'prices.0.interval'] as const;

/** A shared-hosting product with its first price (other types: through the API). */
function NewProduct() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [interval, setInterval] = useState<Interval>('MONTH');
  const create = useMutation({
    mutationFn: async (form: FormData) => {
      const amount = toMinorUnits(text(form, 'prices.0.amount'));
      if (amount === undefined) throw localFieldError('prices.0.amount', 'must be an amount such as 4.99');
      return must(
        api.POST('/api/products', {
          body: {
            name: text(form, 'name'),
            type: 'SHARED_HOSTING',
            isPublic: form.get('isPublic') === 'on',
            features: { diskQuotaMb: Number(form.get('features.diskQuotaMb')), mailboxes: Number(form.get('features.mailboxes')), sslIncluded: form.get('sslIncluded') === 'on' },
            prices: [{ amount, currency: text(form, 'prices.0.currency').toUpperCase(), interval }],
          },
        }),
      );
    },
    onSuccess: async (product) => {
      await queryClient.invalidateQueries({ queryKey: ['products'] });
      await navigate({ to: '/catalog/$id', params: { id: product.id } });
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    create.mutate(new FormData(event.currentTarget));
  };
  return (
    <section aria-labelledby="new-product">
      <h2 id="new-product">New web hosting product</h2>
      <form className="grid-form" onSubmit={submit} noValidate>
        <Field label="Name" field="name" required error={create.error} />
        <Field label="Disk quota (MB)" field="features.diskQuotaMb" type="number" defaultValue={2048} error={create.error} />
        <Field label="Mailboxes" field="features.mailboxes" type="number" defaultValue={5} error={create.error} />
        <Field label="Price" field="prices.0.amount" inputMode="decimal" placeholder="4.99" error={create.error} />
        <Field label="Currency" field="prices.0.currency" defaultValue="EUR" maxLength={3} error={create.error} />
        <SelectField label="Billed every" field="prices.0.interval" options={INTERVALS} value={interval} onChange={(event) => isInterval(event.target.value) && setInterval(event.target.value)} error={create.error} />
        <label className="check">
          <input type="checkbox" name="sslIncluded" /> SSL included
        </label>
        <label className="check">
          <input type="checkbox" name="isPublic" defaultChecked /> Shown in the public plans
        </label>
        <FormError error={create.error} fields={PRODUCT_FIELDS} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Create product
        </button>
      </form>
    </section>
  );
}

function ProductScreen() {
  const { id } = productRoute.useParams();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const product = useQuery({ queryKey: ['product', id], queryFn: () => must(api.GET('/api/products/{id}', { params: { path: { id } } })) });
  const refresh = () => Promise.all([queryClient.invalidateQueries({ queryKey: ['product', id] }), queryClient.invalidateQueries({ queryKey: ['products'] })]);
  const setPriceActive = useMutation({
    mutationFn: ({ priceId, isActive }: { priceId: string; isActive: boolean }) => must(api.PATCH('/api/prices/{id}', { params: { path: { id: priceId } }, body: { isActive } })),
    onSettled: refresh,
  });
  return (
    <QueryState query={product} what="the product">
      {(detail) => (
        <>
          <h1>{detail.name}</h1>
          <p>
            {detail.type} · {detail.isActive ? 'active' : 'inactive'} · {detail.isPublic ? 'public' : 'not public'}
          </p>
          <h2>Prices</h2>
          {detail.prices.length === 0 ? (
            <Empty>No price: the product cannot be ordered.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Amount</th>
                  <th scope="col">Interval</th>
                  <th scope="col">Active</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {detail.prices.map((price) => (
                  <tr key={price.id}>
                    <td>{money(price.amount, price.currency)}</td>
                    <td>{price.interval}</td>
                    <td>{price.isActive ? 'yes' : 'no'}</td>
                    <td>
                      {price.isActive ? (
                        <ConfirmButton
                          label={`Deactivate ${money(price.amount, price.currency)} / ${price.interval.toLowerCase()}`}
                          title="Deactivate this price?"
                          consequence={<p>It leaves the public plans: new orders cannot use it. Existing subscriptions keep it.</p>}
                          confirmLabel="Deactivate"
                          onConfirm={() => setPriceActive.mutateAsync({ priceId: price.id, isActive: false })}
                        />
                      ) : (
                        <button type="button" onClick={() => setPriceActive.mutate({ priceId: price.id, isActive: true })}>
                          Activate
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <NewPrice productId={id} onDone={refresh} />
          <h2>Danger zone</h2>
          <ConfirmButton
            label="Delete product"
            title={`Delete ${detail.name}?`}
            consequence={<p>It leaves the catalog and the public plans. Existing subscriptions keep running.</p>}
            confirmLabel="Delete the product"
            onConfirm={async () => {
              await must(api.DELETE('/api/products/{id}', { params: { path: { id } } }));
              await refresh();
              await navigate({ to: '/catalog', search: {} });
            }}
          />
        </>
      )}
    </QueryState>
  );
}

function NewPrice({ productId, onDone }: { productId: string; onDone: () => Promise<unknown> }) {
  const [interval, setInterval] = useState<Interval>('MONTH');
  const create = useMutation({
    mutationFn: async (form: FormData) => {
      const amount = toMinorUnits(text(form, 'amount'));
      if (amount === undefined) throw localFieldError('amount', 'must be an amount such as 4.99');
      return must(api.POST('/api/products/{id}/prices', { params: { path: { id: productId } }, body: { amount, currency: text(form, 'currency').toUpperCase(), interval } }));
    },
    onSuccess: onDone,
  });
  return (
    <section aria-labelledby="new-price">
      <h2 id="new-price">Add a price</h2>
      <form
        className="inline-form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          create.mutate(new FormData(event.currentTarget));
        }}
      >
        <Field label="Amount" field="amount" inputMode="decimal" placeholder="4.99" error={create.error} />
        <Field label="Currency" field="currency" defaultValue="EUR" maxLength={3} error={create.error} />
        <SelectField label="Interval" field="interval" options={INTERVALS} value={interval} onChange={(event) => isInterval(event.target.value) && setInterval(event.target.value)} error={create.error} />
        <FormError error={create.error} fields={['amount', 'currency', 'interval']} />
        <button type="submit" className="primary" disabled={create.isPending}>
          Add price
        </button>
      </form>
    </section>
  );
}
