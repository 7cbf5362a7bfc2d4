import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, Link, useNavigate } from '@tanstack/react-router';
import { useState, type FormEvent, type ReactNode } from 'react';
import { api, must } from '../api/client';
import { session } from '../api/session';
import type { components } from '../api/schema';
import { appRoute } from '../routes';
import { defined, str, text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { Field, FormError, StatusFilter } from '../ui/form';
import { dateTime, money, shortId } from '../ui/format';
import { toMinorUnits } from '../ui/money-input';
import { Pager } from '../ui/pager';
import { PdfButton } from '../ui/pdf-button';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

type Invoice = components['schemas']['Invoice'];
type InvoiceSummary = components['schemas']['InvoiceSummary'];
type InvoiceStatus = Invoice['status'];
const STATUSES: readonly InvoiceStatus[] = ['DRAFT', 'ISSUED', 'PAID', 'VOID'];
const isStatus = (value: unknown): value is InvoiceStatus => STATUSES.some((status) => status === value);

export const invoicesRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/invoices',
  validateSearch: (search: Record<string, unknown>): { status?: InvoiceStatus; customerId?: string; cursor?: string } =>
    defined({ status: isStatus(search.status) ? search.status : undefined, customerId: str(search.customerId), cursor: str(search.cursor) }),
  component: Invoices,
});

export const invoiceRoute = createRoute({ getParentRoute: () => appRoute, path: '/invoices/$id', component: InvoiceScreen });

function Invoices() {
  const search = invoicesRoute.useSearch();
  const navigate = useNavigate({ from: invoicesRoute.fullPath });
  const list = useQuery({ queryKey: ['invoices', search], queryFn: () => must(api.GET('/api/invoices', { params: { query: { ...search, limit: 25 } } })) });
  return (
    <>
      <h1>Invoices</h1>
      <StatusFilter statuses={STATUSES} value={search.status} onChange={(status) => void navigate({ search: defined({ customerId: search.customerId, status }) })} />
      <QueryState query={list} what="invoices">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No invoice{search.status ? ` is ${search.status}` : ' yet'}.</Empty>
          ) : (
            <>
              <InvoiceTable invoices={page.items} />
              <Pager cursor={search.cursor} nextCursor={page.nextCursor} go={(cursor) => void navigate({ search: defined({ ...search, cursor }) })} />
            </>
          )
        }
      </QueryState>
    </>
  );
}

function InvoiceScreen() {
  const { id } = invoiceRoute.useParams();
  const detail = useQuery({ queryKey: ['invoice', id], queryFn: () => must(api.GET('/api/invoices/{id}', { params: { path: { id } } })) });
  return (
    <QueryState query={detail} what="the invoice">
      {(invoice) => (
        <>
          <h1>{invoice.number ? `Invoice ${invoice.number}` : 'Draft invoice'}</h1>
          {invoice.number && (
            <p>
              <PdfButton path={`/api/invoices/${invoice.id}/pdf`} token={session.token} label={`PDF of invoice ${invoice.number}`} />
            </p>
          )}
          <dl className="facts">
            <Fact term="Status">
              <Status value={invoice.status} />
            </Fact>
            <Fact term="Customer">
              <Link to="/customers/$id" params={{ id: invoice.customerId }}>
                {invoice.customer?.name ?? shortId(invoice.customerId)}
              </Link>
            </Fact>
            <Fact term="Period">
              {dateTime(invoice.periodStart)} – {dateTime(invoice.periodEnd)}
            </Fact>
            <Fact term="Due">{dateTime(invoice.dueAt)}</Fact>
            <Fact term="Paid">
              {money(invoice.amountPaid, invoice.currency)} of {money(invoice.total, invoice.currency)}
              {invoice.paidAt ? ` (${dateTime(invoice.paidAt)})` : ''}
            </Fact>
          </dl>
          <table>
            <caption>Lines</caption>
            <thead>
              <tr>
                <th scope="col">Description</th>
                <th scope="col">Quantity</th>
                <th scope="col">Unit</th>
                <th scope="col">Tax</th>
                <th scope="col">Total</th>
              </tr>
            </thead>
            <tbody>
              {invoice.lines.map((line) => (
                <tr key={line.id}>
                  <td className="wrap">{line.description}</td>
                  <td>{line.quantity}</td>
                  <td>{money(line.unitAmount, invoice.currency)}</td>
                  <td>{line.taxName ? `${line.taxName} ${(line.taxRateBps / 100).toFixed(2)} %` : '—'}</td>
                  <td>{money(line.totalAmount, invoice.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {invoice.number && <CreditNotes invoice={invoice} />}
          <InvoiceActions invoice={invoice} />
        </>
      )}
    </QueryState>
  );
}

/** The credit notes against an issued invoice (refunds, corrections), each with its PDF. */
function CreditNotes({ invoice }: { invoice: Invoice }) {
  const notes = useQuery({
    queryKey: ['credit-notes', invoice.id],
    queryFn: () => must(api.GET('/api/credit-notes', { params: { query: { invoiceId: invoice.id, limit: 100 } } })),
  });
  return (
    <QueryState query={notes} what="the credit notes">
      {(page) =>
        page.items.length === 0 ? (
          <p>No credit note against this invoice.</p>
        ) : (
          <table>
            <caption>Credit notes</caption>
            <thead>
              <tr>
                <th scope="col">Number</th>
                <th scope="col">Issued</th>
                <th scope="col">Reason</th>
                <th scope="col">Total</th>
                <th scope="col">PDF</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((note) => (
                <tr key={note.id}>
                  <td>{note.number}</td>
                  <td>{dateTime(note.issuedAt)}</td>
                  <td className="wrap">{note.reason}</td>
                  <td>{money(note.total, note.currency)}</td>
                  <td>
                    <PdfButton path={`/api/credit-notes/${note.id}/pdf`} token={session.token} label={`PDF of credit note ${note.number}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      }
    </QueryState>
  );
}

/** Invoices as the lists show them: number (to the invoice), status, kind, amounts and dates. */
export function InvoiceTable({ invoices }: { invoices: readonly InvoiceSummary[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Number</th>
          <th scope="col">Status</th>
          <th scope="col">Kind</th>
          <th scope="col">Total</th>
          <th scope="col">Due</th>
          <th scope="col">Issued</th>
          <th scope="col">Due date</th>
        </tr>
      </thead>
      <tbody>
        {invoices.map((invoice) => (
          <tr key={invoice.id}>
            <td>
              <Link to="/invoices/$id" params={{ id: invoice.id }}>
                {invoice.number ?? `draft ${shortId(invoice.id)}`}
              </Link>
            </td>
            <td>
              <Status value={invoice.status} />
            </td>
            <td>{invoice.kind}</td>
            <td>{money(invoice.total, invoice.currency)}</td>
            <td>{money(invoice.amountDue, invoice.currency)}</td>
            <td>{dateTime(invoice.issuedAt)}</td>
            <td>{dateTime(invoice.dueAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Fact({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function InvoiceActions({ invoice }: { invoice: Invoice }) {
  const queryClient = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const refresh = () => Promise.all([queryClient.invalidateQueries({ queryKey: ['invoice', invoice.id] }), queryClient.invalidateQueries({ queryKey: ['invoices'] })]);
  const pay = useMutation({
    mutationFn: (body: { amount: number; currency: string; reference: string }) => must(api.POST('/api/invoices/{id}/payments', { params: { path: { id: invoice.id } }, body })),
    onSuccess: refresh,
    onError: setError,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setError(null);
    const form = new FormData(event.currentTarget);
    // An amount the browser cannot read goes as 0: the API names the field.
    pay.mutate({ amount: toMinorUnits(text(form, 'amount')) ?? 0, currency: invoice.currency, reference: text(form, 'reference') }, { onSuccess: () => (event.target as HTMLFormElement).reset() });
  };
  return (
    <section aria-labelledby="invoice-actions">
      <h2 id="invoice-actions">Actions</h2>
      {invoice.status === 'ISSUED' && invoice.billingMode === 'MPANEL' && (
        <form onSubmit={submit} noValidate>
          <h3>Record a payment received outside mPanel</h3>
          <Field label="Amount" field="amount" inputMode="decimal" required error={error} hint={`Due: ${money(invoice.amountDue, invoice.currency)}`} />
          <Field label="Bank reference" field="reference" required error={error} />
          <FormError error={error} fields={['amount', 'reference', 'currency']} />
          <button type="submit" className="primary" disabled={pay.isPending}>
            {pay.isPending ? 'Recording…' : 'Record payment'}
          </button>
        </form>
      )}
      {(invoice.status === 'ISSUED' || invoice.status === 'DRAFT') && invoice.billingMode === 'MPANEL' && (
        <ConfirmButton
          label="Void the invoice"
          title={`Void ${invoice.number ?? 'this draft'}?`}
          consequence={invoice.status === 'DRAFT' ? 'The draft is cancelled; nothing was issued.' : 'The invoice stays in the books under its number but is no longer owed. A payment already received is not refunded.'}
          confirmLabel="Void"
          onConfirm={async () => {
            await must(api.POST('/api/invoices/{id}/void', { params: { path: { id: invoice.id } }, body: { reason: 'voided from the console' } }));
            await refresh();
          }}
        />
      )}
      {invoice.status === 'PAID' && <p>Paid in full. A refund is a credit note (POST /api/invoices/{'{id}'}/credit-notes).</p>}
      {invoice.status === 'VOID' && <p>This invoice is void.</p>}
    </section>
  );
}
