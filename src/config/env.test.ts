import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv, parseDurationSeconds } from './env.js';

describe('loadEnv', () => {
  it('runs with no settings at all, pointing at the loopback services', () => {
    const env = loadEnv({});
    expect(env.PORT).toBe(2271);
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.DATABASE_URL).toBe('postgres://mpanel_app@127.0.0.1:5432/mpanel');
    expect(env.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(env.POWERDNS_API_URL).toBe('http://127.0.0.1:8081/api/v1');
    expect(env.JWT_ACCESS_EXPIRES_IN).toBe(900);
    expect(env.JWT_REFRESH_EXPIRES_IN).toBe(604800);
    expect(env.WEB_ROOT).toBe('/var/lib/mpanel/www');
    expect(env.NGINX_SITES_DIR).toBe('/var/lib/mpanel/nginx/sites');
  });

  it('derives paths from MPANEL_RUN_DIR unless set one by one', () => {
    const env = loadEnv({ MPANEL_RUN_DIR: '/tmp/run', NGINX_SITES_DIR: '/etc/nginx/sites-enabled' });
    expect(env.WEB_ROOT).toBe('/tmp/run/www');
    expect(env.NGINX_SITES_DIR).toBe('/etc/nginx/sites-enabled');
  });

  it('names every bad variable and what is wrong with it', () => {
    const bad = { PORT: 'eighty', REDIS_URL: 'http://127.0.0.1:6379', JWT_SECRET: 'short', JWT_ACCESS_EXPIRES_IN: '15 minutes' };
    let error: unknown;
    try {
      loadEnv(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/PORT: .*\(got "eighty"\)/);
    expect(message).toMatch(/REDIS_URL: must be a URL starting with redis:\/\/ or rediss:\/\//);
    expect(message).toMatch(/JWT_SECRET: must be at least 32 bytes/);
    expect(message).not.toContain('short'); // secret values are not echoed
    expect(message).toMatch(/JWT_ACCESS_EXPIRES_IN: must be a duration/);
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('refuses the public development secrets in production', () => {
    expect(() => loadEnv({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: must be set in production/);
    const secrets = {
      NODE_ENV: 'production',
      JWT_SECRET: 'p'.repeat(40),
      MARKETING_WEBHOOK_SECRET: 'm'.repeat(32),
      STRIPE_WEBHOOK_SECRET: 'whsec_live',
      POWERDNS_API_KEY: 'k'.repeat(24),
      SECRETS_ENCRYPTION_KEY: 'e'.repeat(40),
    };
    expect(loadEnv(secrets).NODE_ENV).toBe('production');
  });

  it('treats empty strings as unset', () => {
    expect(loadEnv({ PORT: '' }).PORT).toBe(2271);
  });
});

describe('parseDurationSeconds', () => {
  it.each([
    ['900', 900],
    ['45s', 45],
    ['15m', 900],
    ['12h', 43200],
    ['7d', 604800],
  ])('%s is %i seconds', (input, seconds) => {
    expect(parseDurationSeconds(input)).toBe(seconds);
  });
});
