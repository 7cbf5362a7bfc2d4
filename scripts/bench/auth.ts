import type { ChildProcess } from 'node:child_process';
import bcrypt from 'bcrypt';
import { hashPassword } from '../../src/modules/auth/password.js';
import { DURATION_S, load, round, stop, type Figure } from './lib.js';
import { BENCH_PASSWORD, clearRedis, createTenant, dropTenant, startApi } from './provisioning.js';

/**
 * Authentication (issue 9) through a real `mpanel api`:
 *  - GET /api/auth/me with a bearer token (verify the JWT, re-read user and tenant);
 *  - POST /api/auth/login, bound by bcrypt at cost 12 (BCRYPT_COST), beside the bcrypt floor:
 *    bcrypt.compare calls per second on this machine at the same concurrency, in one Node process
 *    (the same libuv thread pool as the API's). Successful logins do not count towards the
 *    throttle; each connection logs in as its own account anyway.
 */

const SECTION = 'auth';
const TENANT = 'bench-auth';
/** Logins in flight: bcrypt runs on libuv's 4 threads, on 2 cores, so more only queues. */
const LOGIN_CONNECTIONS = 8;

/** bcrypt.compare of the right password against a cost-12 hash, `concurrency` at a time, for `seconds`. */
async function bcryptFloor(concurrency: number, seconds: number): Promise<number> {
  const hash = await hashPassword(BENCH_PASSWORD);
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        if (!(await bcrypt.compare(BENCH_PASSWORD, hash))) throw new Error('bcrypt floor: the password does not match');
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

export async function benchAuth(): Promise<Figure[]> {
  await clearRedis();
  const tenant = await createTenant(TENANT, { admins: LOGIN_CONNECTIONS });
  let api: ChildProcess | undefined;
  try {
    const started = await startApi();
    api = started.child;
    const loginBody = (email: string) => JSON.stringify({ email, password: BENCH_PASSWORD });
    const first = await fetch(`${started.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody(tenant.admins[0] ?? '') });
    if (first.status !== 200) throw new Error(`login answered ${first.status}: ${await first.text()}`);
    const { token } = (await first.json()) as { token: string };

    const me = await load(`${started.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    // The same API's own liveness route, right after: the target is a ratio to it (issue 18).
    const health = await load(`${started.url}/health`);
    const meVsHealth = me.requestsPerSecond / health.requestsPerSecond;
    const login = await load(`${started.url}/api/auth/login`, {
      connections: LOGIN_CONNECTIONS,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      requests: tenant.admins.map((email) => ({ method: 'POST', body: loginBody(email) })),
    });
    await stop(api);
    api = undefined;
    const floor = await bcryptFloor(LOGIN_CONNECTIONS, DURATION_S);
    const ratio = login.requestsPerSecond / floor;
    return [
      { section: SECTION, name: 'GET /api/auth/me req/s (bearer token)', value: Math.round(me.requestsPerSecond), unit: 'req/s' },
      { section: SECTION, name: 'GET /api/auth/me p99', value: me.p99Ms, unit: 'ms' },
      { section: SECTION, name: 'GET /health req/s (the same API, just after)', value: Math.round(health.requestsPerSecond), unit: 'req/s' },
      { section: SECTION, name: 'GET /api/auth/me vs GET /health', value: meVsHealth, unit: 'x', target: '>= 0.5x', met: meVsHealth >= 0.5 },
      { section: SECTION, name: 'GET /api/auth/me non-2xx + errors', value: me.non2xx + me.errors, unit: 'responses', target: '0', met: me.non2xx + me.errors === 0 },
      { section: SECTION, name: `bcrypt floor: compare/s (cost 12, ${LOGIN_CONNECTIONS} in flight)`, value: round(floor, 1), unit: '/s' },
      { section: SECTION, name: `POST /api/auth/login logins/s (${LOGIN_CONNECTIONS} connections)`, value: round(login.requestsPerSecond, 1), unit: '/s' },
      { section: SECTION, name: 'POST /api/auth/login p99', value: login.p99Ms, unit: 'ms' },
      { section: SECTION, name: 'logins/s vs bcrypt floor', value: round(ratio), unit: 'x' },
      { section: SECTION, name: 'POST /api/auth/login non-2xx + errors', value: login.non2xx + login.errors, unit: 'responses', target: '0', met: login.non2xx + login.errors === 0 },
    ];
  } finally {
    if (api) await stop(api);
    await dropTenant(TENANT);
    await clearRedis();
  }
}
