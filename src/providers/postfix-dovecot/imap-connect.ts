import { setTimeout as sleep } from 'node:timers/promises';
import type { ImapFlow } from 'imapflow';

/** How often a connection closed by a Dovecot reload is opened again, and the pause before each. */
const RELOAD_RETRIES = [100, 200, 400, 800] as const;

/** imapflow's codes for a connection closed under it, and the socket's. */
const CLOSED = new Set(['ClosedAfterConnectText', 'ClosedAfterConnectTLS', 'EConnectionClosed', 'NoConnection', 'ECONNRESET', 'EPIPE']);

/**
 * True for what a Dovecot reload does to a login in flight. The SIGHUP that applies a users-file
 * change returns at once; the master then restarts its login and auth processes, and a connection
 * that arrives meanwhile is closed without a greeting or an answer (imapflow: "Unexpected close"),
 * or its login gets "NO [UNAVAILABLE] Temporary authentication failure". A refused password
 * (a plain NO, or [AUTHENTICATIONFAILED]) is not one of these.
 */
function interruptedByReload(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if ('serverResponseCode' in error && error.serverResponseCode === 'UNAVAILABLE') return true;
  return 'code' in error && CLOSED.has(String(error.code));
}

/**
 * Connects a fresh client from `open`, again (up to 4 times, 1.5 s of pauses in all) when a reload
 * in progress interrupted it. Every other error, a refused login included, is thrown at once.
 */
export async function connectImap(open: () => ImapFlow | Promise<ImapFlow>): Promise<ImapFlow> {
  for (let attempt = 0; ; attempt += 1) {
    const client = await open();
    try {
      await client.connect();
      return client;
    } catch (error) {
      const pause = RELOAD_RETRIES[attempt];
      if (pause === undefined || !interruptedByReload(error)) throw error;
      await sleep(pause);
    }
  }
}
