import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv, parseDurationSeconds, secretNames } from './env.js';

/** Strong values for every secret, as `mpanel secrets generate` writes them. */
const strongSecrets = {
  JWT_SECRET: 'p'.repeat(40),
  MARKETING_WEBHOOK_SECRET: 'm'.repeat(32),
  STRIPE_WEBHOOK_SECRET: 'whsec_live',
  STRIPE_API_KEY: 'sk_live_abc123',
  POWERDNS_API_KEY: 'k'.repeat(24),
  SECRETS_ENCRYPTION_KEY: 'e'.repeat(40),
};

function configErrorOf(source: Record<string, string>): ConfigError {
  try {
    loadEnv(source);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loadEnv accepted ${JSON.stringify(Object.keys(source))}`);
}

describe('loadEnv', () => {
  it('runs the test suite with no other setting, pointing at the loopback services', () => {
    const env = loadEnv({ NODE_ENV: 'test' });
    expect(env.PORT).toBe(2271);
    expect(env.HOST).toBe('127.0.0.1');
    expect(env.API_METRICS_HOST).toBe('127.0.0.1');
    expect(env.API_METRICS_PORT).toBe(2273);
    expect(env.POWERDNS_API_KEY).toBe('dev-pdns-key');
    expect(env.DATABASE_URL).toBe('postgres://mpanel_app@127.0.0.1:5432/mpanel');
    expect(env.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(env.POWERDNS_API_URL).toBe('http://127.0.0.1:8081/api/v1');
    expect(env.JWT_ACCESS_EXPIRES_IN).toBe(900);
    expect(env.JWT_REFRESH_EXPIRES_IN).toBe(604800);
    expect(env.WEB_ROOT).toBe('/var/lib/mpanel/www');
    expect(env.NGINX_SITES_DIR).toBe('/var/lib/mpanel/nginx/sites');
  });

  it('Stripe: the API key and base are checked at start-up; test mode never points at Stripe itself', () => {
    const test = loadEnv({ NODE_ENV: 'test' });
    expect(test.STRIPE_API_BASE).toBe('http://127.0.0.1:9');
    expect(test.STRIPE_CHECKOUT_SUCCESS_URL).toBe('http://127.0.0.1:2271/portal/invoices/{invoice}?checkout=success');
    expect(loadEnv(strongSecrets).STRIPE_API_BASE).toBe('https://api.stripe.com');
    const { STRIPE_API_KEY: _key, ...withoutKey } = strongSecrets;
    expect(configErrorOf({ ...withoutKey, NODE_ENV: 'production' }).message).toMatch(/STRIPE_API_KEY: is not set: run `mpanel secrets generate`/);
    const bad = configErrorOf({ ...strongSecrets, STRIPE_API_KEY: 'pk_live_publishable', STRIPE_API_BASE: 'https://api.stripe.com/v1' }).message;
    expect(bad).toMatch(/STRIPE_API_KEY: must be a Stripe secret or restricted key/);
    expect(bad).toMatch(/STRIPE_API_BASE: must be a URL with only a scheme/);
  });

  it('derives paths from MPANEL_RUN_DIR unless set one by one', () => {
    const env = loadEnv({ ...strongSecrets, MPANEL_RUN_DIR: '/tmp/run', NGINX_SITES_DIR: '/etc/nginx/sites-enabled' });
    expect(env.WEB_ROOT).toBe('/tmp/run/www');
    expect(env.NGINX_SITES_DIR).toBe('/etc/nginx/sites-enabled');
  });

  it('names every bad variable and what is wrong with it', () => {
    const bad = { NODE_ENV: 'test', PORT: 'eighty', REDIS_URL: 'http://127.0.0.1:6379', JWT_SECRET: 'short', JWT_ACCESS_EXPIRES_IN: '15 minutes' };
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

  it.each([['NODE_ENV unset', {}], ['development', { NODE_ENV: 'development' }], ['production', { NODE_ENV: 'production' }]])(
    'outside the test suite (%s) a missing secret stops start-up, naming it and the command that generates it',
    (_name, nodeEnv: Record<string, string>) => {
      const error = configErrorOf(nodeEnv);
      expect(error.problems).toHaveLength(secretNames.length);
      for (const name of secretNames) expect(error.message).toMatch(new RegExp(`${name}: is not set: run \`mpanel secrets generate\``));
      // One missing secret is enough to stop it.
      const { JWT_SECRET: _missing, ...allButOne } = strongSecrets;
      expect(configErrorOf({ ...nodeEnv, ...allButOne }).problems).toEqual([expect.stringMatching(/^JWT_SECRET: is not set/)]);
      expect(loadEnv({ ...nodeEnv, ...strongSecrets }).JWT_SECRET).toBe(strongSecrets.JWT_SECRET);
    },
  );

  it('refuses the public test secrets in production, without echoing them', () => {
    const publicValues = loadEnv({ NODE_ENV: 'test' });
    const given = Object.fromEntries(secretNames.map((name) => [name, publicValues[name]]));
    const error = configErrorOf({ ...given, NODE_ENV: 'production' });
    expect(error.problems).toHaveLength(secretNames.length);
    expect(error.message).toMatch(/JWT_SECRET: must not be the public test value in production/);
    expect(error.message).not.toContain(publicValues.JWT_SECRET);
    expect(loadEnv({ ...strongSecrets, NODE_ENV: 'production' }).NODE_ENV).toBe('production');
  });

  it('treats empty strings as unset', () => {
    expect(loadEnv({ NODE_ENV: 'test', PORT: '' }).PORT).toBe(2271);
    expect(configErrorOf({ ...strongSecrets, NODE_ENV: 'production', JWT_SECRET: '' }).problems).toEqual([expect.stringMatching(/^JWT_SECRET: is not set/)]);
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
