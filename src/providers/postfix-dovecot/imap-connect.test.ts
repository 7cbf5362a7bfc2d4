import type { ImapFlow } from 'imapflow';
import { describe, expect, it } from 'vitest';
import { connectImap } from './imap-connect.js';

/** Clients whose connect() fails with the given errors in turn, then succeeds. */
function clients(failures: Error[]): { open: () => ImapFlow; opened: () => number } {
  let opened = 0;
  return {
    open: () => {
      const failure = failures[opened];
      opened += 1;
      // A stand-in with only connect(): the function under test calls nothing else.
      return { connect: () => (failure ? Promise.reject(failure) : Promise.resolve()) } as unknown as ImapFlow;
    },
    opened: () => opened,
  };
}

const withProps = (message: string, props: Record<string, unknown>) => Object.assign(new Error(message), props);
const unexpectedClose = () => withProps('Unexpected close', { code: 'ClosedAfterConnectText' });

describe('connectImap', () => {
  it('opens a fresh connection after a close without a greeting or a temporary auth failure (a Dovecot reload)', async () => {
    const fake = clients([unexpectedClose(), withProps('Command failed', { authenticationFailed: true, serverResponseCode: 'UNAVAILABLE' }), unexpectedClose()]);
    await connectImap(fake.open);
    expect(fake.opened()).toBe(4);
  });

  it('throws a refused password at once', async () => {
    const refused = withProps('Command failed', { authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED' });
    const fake = clients([refused]);
    await expect(connectImap(fake.open)).rejects.toBe(refused);
    expect(fake.opened()).toBe(1);
  });

  it('throws any other error at once, and gives up after four retries', async () => {
    const refusedPort = withProps('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED' });
    const once = clients([refusedPort]);
    await expect(connectImap(once.open)).rejects.toBe(refusedPort);
    expect(once.opened()).toBe(1);

    const closes = Array.from({ length: 6 }, unexpectedClose);
    const always = clients(closes);
    await expect(connectImap(always.open)).rejects.toBe(closes[4]);
    expect(always.opened()).toBe(5);
  });
});
