import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createRoute, useNavigate } from '@tanstack/react-router';
import { useState } from 'react';
import { api, must } from '../api/client';
import type { components } from '../api/schema';
import { appRoute } from '../routes';
import { defined, str } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { StatusFilter } from '../ui/form';
import { dateTime } from '../ui/format';
import { Pager } from '../ui/pager';
import { Empty, QueryState } from '../ui/states';
import { Status } from '../ui/status';

type Certificate = components['schemas']['SslCertificate'];
type CertificateStatus = Certificate['status'];
const STATUSES: readonly CertificateStatus[] = ['PENDING', 'ISSUED', 'FAILED', 'EXPIRED', 'REVOKED'];
const isStatus = (value: unknown): value is CertificateStatus => STATUSES.some((status) => status === value);
const DAY_MS = 24 * 60 * 60 * 1000;

export const certificatesRoute = createRoute({
  getParentRoute: () => appRoute,
  path: '/certificates',
  validateSearch: (search: Record<string, unknown>): { status?: CertificateStatus; cursor?: string } =>
    defined({ status: isStatus(search.status) ? search.status : undefined, cursor: str(search.cursor) }),
  component: Certificates,
});

/** "in 12 days", "expired 2 days ago": the figure staff act on, beside the date. */
export function expiresIn(notAfter: string | null, now = Date.now()): string {
  if (!notAfter) return '—';
  const days = Math.floor((new Date(notAfter).getTime() - now) / DAY_MS);
  if (days < 0) return `expired ${-days} day${days === -1 ? '' : 's'} ago`;
  return days === 0 ? 'today' : `in ${days} day${days === 1 ? '' : 's'}`;
}

function Certificates() {
  const search = certificatesRoute.useSearch();
  const navigate = useNavigate({ from: certificatesRoute.fullPath });
  const list = useQuery({
    queryKey: ['ssl-certificates', search],
    queryFn: () => must(api.GET('/api/ssl-certificates', { params: { query: { ...search, limit: 25 } } })),
    refetchInterval: 10_000,
  });
  return (
    <>
      <h1>Certificates</h1>
      <p>Every hosted site&apos;s certificate. They renew by themselves 30 days before expiry; a FAILED one leaves its site on HTTP until it is renewed.</p>
      <StatusFilter statuses={STATUSES} value={search.status} onChange={(status) => void navigate({ search: defined({ status }) })} />
      <QueryState query={list} what="certificates">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No certificate{search.status ? ` is ${search.status}` : ' yet: they come with the first site that has SSL'}.</Empty>
          ) : (
            <>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Names</th>
                    <th scope="col">Status</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Renews</th>
                    <th scope="col">Issuer</th>
                    <th scope="col">Last failure</th>
                    <th scope="col">Action</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((certificate) => (
                    <CertificateRow key={certificate.id} certificate={certificate} />
                  ))}
                </tbody>
              </table>
              <Pager cursor={search.cursor} nextCursor={page.nextCursor} go={(cursor) => void navigate({ search: defined({ ...search, cursor }) })} />
            </>
          )
        }
      </QueryState>
    </>
  );
}

function CertificateRow({ certificate }: { certificate: Certificate }) {
  const queryClient = useQueryClient();
  const [queued, setQueued] = useState(false);
  const renew = async () => {
    await must(api.POST('/api/ssl-certificates/{id}/renew', { params: { path: { id: certificate.id } } }));
    setQueued(true);
    await queryClient.invalidateQueries({ queryKey: ['ssl-certificates'] });
  };
  const failed = certificate.status === 'FAILED';
  return (
    <tr>
      <td className="wrap">{certificate.names.join(', ')}</td>
      <td>
        <Status value={certificate.status} />
      </td>
      <td>
        {expiresIn(certificate.notAfter)}
        {certificate.notAfter && <small className="block">{dateTime(certificate.notAfter)}</small>}
      </td>
      <td>{dateTime(certificate.renewAfter)}</td>
      <td>{certificate.issuer ?? '—'}</td>
      <td className="wrap">
        {certificate.lastError ? (
          <>
            {certificate.lastError}
            <small className="block">{dateTime(certificate.failedAt)}</small>
            {certificate.renewalFailures > 0 && (
              <small className="block">
                {certificate.renewalFailures} renewal{certificate.renewalFailures === 1 ? '' : 's'} failed in a row; the current certificate still serves
                {certificate.expiryAlertedAt ? ' (expiry alert sent)' : ''}
              </small>
            )}
          </>
        ) : (
          '—'
        )}
      </td>
      <td>
        {queued ? (
          <span role="status">Renewal queued</span>
        ) : (
          <ConfirmButton
            label={failed ? `Retry ${certificate.commonName}` : `Renew ${certificate.commonName}`}
            title={failed ? 'Retry this certificate?' : 'Renew this certificate now?'}
            consequence={
              <p>
                The CA is asked for a new certificate for {certificate.names.join(', ')}; once issued it replaces the current one on the web server (served from the next connection, no reload). The CA
                rate-limits renewals: do not repeat this for the same names many times a week.
              </p>
            }
            confirmLabel={failed ? 'Retry now' : 'Renew now'}
            danger={false}
            onConfirm={renew}
          />
        )}
      </td>
    </tr>
  );
}
