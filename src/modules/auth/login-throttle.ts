import type { Redis } from 'ioredis';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * Failed-login counters in Redis, per client address and per (account, address), each a key that
 * expires with the window after its first failure. When either reaches its limit, login from that
 * address answers 429 with Retry-After until the key expires; a successful login clears the
 * (account, address) counter. Failures are never counted per account alone: guesses from one
 * address must not lock the owner out from another (a clean address always gets its tries), so
 * an attacker is slowed per address it holds.
 *
 * Redis down means logins cannot be throttled: they are refused (503) rather than let through
 * unthrottled, because an outage must not open the door to password guessing.
 */
export interface ThrottleSettings {
  prefix: string;
  maxPerAccount: number;
  maxPerIp: number;
  windowSeconds: number;
}

export class LoginThrottle {
  constructor(
    private readonly redis: Redis,
    private readonly settings: ThrottleSettings,
  ) {}

  private keys(ip: string, email: string) {
    return { ip: `${this.settings.prefix}:login-fail:ip:${ip}`, account: `${this.settings.prefix}:login-fail:acct-ip:${email}:${ip}` };
  }

  /** Throws RATE_LIMITED when the address, or the account from this address, is over its limit. */
  async assertAllowed(ip: string, email: string): Promise<void> {
    const keys = this.keys(ip, email);
    const results = await this.run(() =>
      this.redis.multi().get(keys.ip).ttl(keys.ip).get(keys.account).ttl(keys.account).exec(),
    );
    const [ipCount, ipTtl, accountCount, accountTtl] = (results ?? []).map(([, value]) => Number(value ?? 0));
    const blockedFor = Math.max(
      (ipCount ?? 0) >= this.settings.maxPerIp ? (ipTtl ?? 0) : 0,
      (accountCount ?? 0) >= this.settings.maxPerAccount ? (accountTtl ?? 0) : 0,
    );
    if (blockedFor > 0) {
      throw new AppError('RATE_LIMITED', 'Too many failed logins; try again later', { retryAfterSeconds: blockedFor });
    }
  }

  async recordFailure(ip: string, email: string): Promise<void> {
    const keys = this.keys(ip, email);
    const window = this.settings.windowSeconds;
    // NX: the window starts at the first failure and is not pushed back by later ones.
    await this.run(() =>
      this.redis.multi().incr(keys.ip).expire(keys.ip, window, 'NX').incr(keys.account).expire(keys.account, window, 'NX').exec(),
    );
  }

  async recordSuccess(ip: string, email: string): Promise<void> {
    await this.run(() => this.redis.del(this.keys(ip, email).account));
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new AppError('DEPENDENCY_UNAVAILABLE', 'Login is unavailable: the rate limiter (Redis) cannot be reached', { retryAfterSeconds: 5, cause: error });
    }
  }
}
