import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { messageOf } from '../api/problem';

/**
 * A button that asks first: a modal <dialog> naming the consequence, with Cancel focused (Escape
 * cancels too). The action runs only on the explicit confirm button; its error stays in the dialog.
 */
export function ConfirmButton({
  label,
  title,
  consequence,
  confirmLabel,
  danger = true,
  onConfirm,
  disabled,
}: {
  label: string;
  title: string;
  consequence: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown>;
  disabled?: boolean;
}) {
  const titleId = useId();
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (open) dialog.current?.showModal();
    else dialog.current?.close();
  }, [open]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      setOpen(false);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button type="button" className={danger ? 'danger' : undefined} disabled={disabled} onClick={() => setOpen(true)}>
        {label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} onClose={() => setOpen(false)}>
        <h2 id={titleId}>{title}</h2>
        <div className="consequence">{consequence}</div>
        {error !== null && (
          <p role="alert" className="error">
            {messageOf(error)}
          </p>
        )}
        <div className="actions">
          <button type="button" autoFocus onClick={() => setOpen(false)}>
            Cancel
          </button>
          <button type="button" className={danger ? 'danger' : 'primary'} disabled={busy} onClick={() => void confirm()}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}
