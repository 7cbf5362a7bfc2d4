import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { useParams, useSearch } from '@tanstack/react-router';
import { ApiError } from '../api/problem';
import type { components } from '../api/schema';
import { ConfirmButton } from '../ui/confirm';
import { FormError } from '../ui/form';
import { dateTime, money } from '../ui/format';
import { PdfButton } from '../ui/pdf-button';
import { Empty, ErrorState, Loading } from '../ui/states';
import { Status } from '../ui/status';
import { portalMust } from './client';
import { portalApi, portalSession } from './session';

// ---------------------------------------------------------------------------------------------
// Invoices: the account's issued invoices, a page at a time, each with its PDF; an open one is paid
// on the payment provider's hosted page, which sends the customer back to /portal/invoices/:id.

type InvoiceSummary = components['schemas']['InvoiceSummary'];

/** Polls after a payment, every 3 s for about 5 minutes: the provider's event usually comes within seconds. */
const POLL_MS = 3000;
const MAX_POLLS = 100;

export function Invoices() {
  // Set on the way back from the payment page (STRIPE_CHECKOUT_SUCCESS_URL / _CANCEL_URL).
  const { id: returnedId } = useParams({ strict: false });
  const { checkout } = useSearch({ strict: false });
  const list = useInfiniteQuery({
    queryKey: ['portal', 'invoices'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => portalMust(portalApi.GET('/api/portal/invoices', { params: { query: { limit: 25, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (page) => page.nextCursor ?? undefined,
    // Paid on the provider's page, not yet here: the invoice turns PAID when the provider's event
    // reaches the API, a moment after the customer is back. Until then the list is fetched again.
    refetchInterval: (query) => {
      const returned = query.state.data?.pages.flatMap((page) => page.items).find((invoice) => invoice.id === returnedId);
      return checkout === 'success' && returned?.status === 'ISSUED' && query.state.dataUpdateCount < MAX_POLLS ? POLL_MS : false;
    },
  });
  if (list.isPending) return <Loading what="invoices" />;
  if (list.error) return <ErrorState error={list.error} retry={() => void list.refetch()} />;
  const items: InvoiceSummary[] = list.data.pages.flatMap((page) => page.items);
  const returned = items.find((invoice) => invoice.id === returnedId);
  // Paid on the provider's page, not confirmed yet: no second Pay button meanwhile.
  const pending = (invoice: InvoiceSummary) => checkout === 'success' && invoice.id === returnedId && invoice.status === 'ISSUED';
  return (
    <>
      <h1>Invoices</h1>
      {checkout && <CheckoutOutcome outcome={checkout} invoice={returned} />}
      {items.length === 0 ? (
        <Empty>No invoice yet: invoices appear here once they are issued.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">Issued</th>
              <th scope="col">Due</th>
              <th scope="col">Status</th>
              <th scope="col">Total</th>
              <th scope="col">Amount due</th>
              <th scope="col">PDF</th>
              <th scope="col">Payment</th>
            </tr>
          </thead>
          <tbody>
            {items.map((invoice) => (
              <tr key={invoice.id}>
                <td>{invoice.number}</td>
                <td>{dateTime(invoice.issuedAt)}</td>
                <td>{dateTime(invoice.dueAt)}</td>
                <td>
                  <Status value={invoice.status} />
                </td>
                <td>{money(invoice.total, invoice.currency)}</td>
                <td>{money(invoice.amountDue, invoice.currency)}</td>
                <td>
                  <PdfButton path={`/api/portal/invoices/${invoice.id}/pdf`} token={portalSession.token} label={`PDF of invoice ${invoice.number ?? ''}`} />
                </td>
                <td>{pending(invoice) ? 'Payment pending' : <PayButton invoice={invoice} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.hasNextPage && (
        <p>
          <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
            {list.isFetchingNextPage ? 'Loading…' : 'Older invoices'}
          </button>
        </p>
      )}
    </>
  );
}

/** Open (issued, something due): payable. A paid, void or fully credited one is not. */
const payable = (invoice: InvoiceSummary) => invoice.status === 'ISSUED' && invoice.amountDue > 0;

/**
 * Pay: the API makes a payment page at the provider (POST /api/portal/invoices/:id/checkout) and
 * the browser leaves for it. Coming back is a new page load: the session resumes from the refresh
 * cookie (portal/session.ts), so the customer lands on the invoice still signed in.
 */
function PayButton({ invoice }: { invoice: InvoiceSummary }) {
  const pay = useMutation({
    mutationFn: async () => {
      const { url } = await portalMust(portalApi.POST('/api/portal/invoices/{id}/checkout', { params: { path: { id: invoice.id } } }));
      // Only a web page: never a javascript: or data: URL, whatever the answer says.
      if (!/^https?:$/.test(new URL(url, window.location.href).protocol)) throw new ApiError(502, { title: 'The payment page address is not a web address' });
      return url;
    },
    onSuccess: (url) => window.location.assign(url),
  });
  if (!payable(invoice)) return null;
  // Still busy once the page is known: the browser is on its way there.
  const busy = pay.isPending || pay.isSuccess;
  return (
    <>
      <button type="button" className="primary" onClick={() => pay.mutate()} disabled={busy} aria-label={`Pay invoice ${invoice.number ?? ''}`}>
        {busy ? 'Opening the payment page…' : 'Pay'}
      </button>
      <FormError error={pay.error} fields={[]} />
    </>
  );
}

/** Back from the payment page: paid (once the provider's event arrived), still being confirmed, or cancelled. */
function CheckoutOutcome({ outcome, invoice }: { outcome: string; invoice: InvoiceSummary | undefined }) {
  const which = invoice?.number ? `invoice ${invoice.number}` : 'the invoice';
  let message: string;
  if (outcome !== 'success') message = `Payment cancelled: nothing was charged; ${which} stays open and you can pay it at any time.`;
  else if (invoice?.status === 'PAID') message = `Thank you: ${which} is paid.`;
  else
    message =
      `Thank you: the payment of ${which} is being confirmed by the payment provider (payment pending). It shows PAID here as soon as the confirmation ` +
      'arrives, usually within seconds; this page checks again by itself for a few minutes.';
  return (
    <p className="state" role="status" aria-live="polite">
      {message}
    </p>
  );
}

// ---------------------------------------------------------------------------------------------
// Cancelling a service at the end of its paid period (and taking it back)

type Service = components['schemas']['PortalService'];

export function CancelService({ service }: { service: Service }) {
  const client = useQueryClient();
  const change = useMutation({
    mutationFn: (cancelAtPeriodEnd: boolean) => portalMust(portalApi.POST('/api/portal/services/{id}/cancel', { params: { path: { id: service.id } }, body: { cancelAtPeriodEnd } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['portal'] }),
  });
  const end = service.paidThrough ?? service.currentPeriodEnd;
  if (service.status === 'TERMINATED' || service.status === 'FAILED' || service.status === 'PENDING') return null;
  return (
    <section aria-labelledby="cancellation">
      <h2 id="cancellation">Cancellation</h2>
      {service.cancelAtPeriodEnd ? (
        <>
          <p>
            This service is cancelled: it will not be renewed and stops on <strong>{dateTime(end)}</strong>.
          </p>
          <ConfirmButton
            label="Keep this service"
            title="Keep this service?"
            consequence={<p>The cancellation is taken back: the service is renewed at the end of the paid period and invoiced as before.</p>}
            confirmLabel="Keep the service"
            danger={false}
            onConfirm={() => change.mutateAsync(false)}
          />
        </>
      ) : (
        <ConfirmButton
          label="Cancel at period end"
          title="Cancel this service?"
          consequence={
            <p>
              The service will not be renewed. It keeps working until <strong>{dateTime(end)}</strong>; then the site and its mail stop, and after the retention period the service and its data
              (files, mailboxes) are deleted. You can take the cancellation back until then.
            </p>
          }
          confirmLabel="Cancel at period end"
          onConfirm={() => change.mutateAsync(true)}
        />
      )}
    </section>
  );
}
