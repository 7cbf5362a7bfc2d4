import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { signAccessToken, verifyAccessToken, type TokenSettings } from './tokens.js';

const settings: TokenSettings = { JWT_SECRET: 's'.repeat(48), JWT_ISSUER: 'mpanel-test', JWT_AUDIENCE: 'mpanel-api', JWT_ACCESS_EXPIRES_IN: 60 };
const claims = () => ({ userId: randomUUID(), tenantId: randomUUID(), sessionId: randomUUID(), role: 'ADMIN' as const });

describe('verifyAccessToken (verified tokens remembered by their text)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers the same claims again, and never for other settings than those it verified the token under', async () => {
    const token = await signAccessToken(settings, claims());
    const first = await verifyAccessToken(settings, token);
    expect(await verifyAccessToken({ ...settings }, token)).toEqual(first);
    for (const other of [{ JWT_SECRET: 't'.repeat(48) }, { JWT_ISSUER: 'someone-else' }, { JWT_AUDIENCE: 'another-api' }]) {
      await expect(verifyAccessToken({ ...settings, ...other }, token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it('refuses a remembered token once its exp has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const token = await signAccessToken(settings, claims());
    await verifyAccessToken(settings, token);
    vi.setSystemTime(Date.now() + 61_000);
    await expect(verifyAccessToken(settings, token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'The access token has expired' });
  });

  it('remembers nothing of a token that failed: a tampered one fails every time', async () => {
    const token = await signAccessToken(settings, claims());
    const [header, payload, signature = ''] = token.split('.');
    const tampered = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    for (let i = 0; i < 2; i++) await expect(verifyAccessToken(settings, tampered)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
