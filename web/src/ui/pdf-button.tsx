import { useState } from 'react';
import { ApiError, messageOf } from '../api/problem';

/**
 * Opens a PDF of the API in a new tab. Access tokens live in memory only (api/session.ts,
 * portal/session.ts), so a plain link cannot carry one: the PDF is fetched with it and shown from
 * a blob URL.
 */
async function openPdf(path: string, token: string | null): Promise<void> {
  const response = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.target = '_blank';
  link.rel = 'noopener';
  link.click();
  // The new tab has loaded it by then; the blob is released with the URL.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A "PDF" button for a document of the API, with the API's error beside it when it fails. */
export function PdfButton({ path, label, token }: { path: string; label: string; token: () => string | null }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const open = async () => {
    setBusy(true);
    setError(null);
    try {
      await openPdf(path, token());
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" onClick={() => void open()} disabled={busy} aria-label={label}>
        {busy ? 'Opening…' : 'PDF'}
      </button>
      {error !== null && (
        <span role="alert" className="error">
          {' '}
          {messageOf(error)}
        </span>
      )}
    </>
  );
}
