/**
 * Keyset pagination as the API gives it: a next cursor, no page numbers. The cursor lives in the
 * URL (the screen's search params), so Back returns to the previous page and a link shares it.
 */
export function Pager({ cursor, nextCursor, go }: { cursor: string | undefined; nextCursor: string | null; go: (cursor: string | undefined) => void }) {
  if (!cursor && !nextCursor) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={!cursor} onClick={() => go(undefined)}>
        First page
      </button>
      <button type="button" disabled={!nextCursor} onClick={() => go(nextCursor ?? undefined)}>
        Next page
      </button>
    </nav>
  );
}
