import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import type { components } from '../api/schema';
import { ConfirmButton } from '../ui/confirm';
import { dateTime, money } from '../ui/format';
import { PdfButton } from '../ui/pdf-button';
import { Empty, ErrorState, Loading } from '../ui/states';
import { Status } from '../ui/status';
import { portalMust } from './client';
import { portalApi, portalSession } from './session';

// ---------------------------------------------------------------------------------------------
// Invoices: the account's issued invoices, a page at a time, each with its PDF

type InvoiceSummary = components['schemas']['InvoiceSummary'];

export function Invoices() {
  const list = useInfiniteQuery({
    queryKey: ['portal', 'invoices'],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => portalMust(portalApi.GET('/api/portal/invoices', { params: { query: { limit: 25, ...(pageParam ? { cursor: pageParam } : {}) } } })),
    getNextPageParam: (page) => page.nextCursor ?? undefined,
  });
  if (list.isPending) return <Loading what="invoices" />;
  if (list.error) return <ErrorState error={list.error} retry={() => void list.refetch()} />;
  const items: InvoiceSummary[] = list.data.pages.flatMap((page) => page.items);
  return (
    <>
      <h1>Invoices</h1>
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
