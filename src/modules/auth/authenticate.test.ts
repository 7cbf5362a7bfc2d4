import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { authenticateRoutes } from './authenticate.js';

// The wiring only: deps are used when a request is authenticated, which these tests never send
// (the staff API's requests are tested against the real app in auth.test.ts and the route matrix).
const deps = {} as Parameters<typeof authenticateRoutes>[0];

async function appWith(config: Record<string, unknown> | undefined) {
  const app = Fastify();
  app.addHook('onRoute', authenticateRoutes(deps));
  app.get('/thing', config ? { config } : {}, () => ({ ok: true }));
  await app.ready();
  return app;
}

describe('authenticateRoutes', () => {
  it('refuses at start-up a route that declares neither config.public nor config.permission', async () => {
    await expect(appWith(undefined)).rejects.toThrow('route GET /thing declares neither config.public nor config.permission');
  });

  it('adds no hook to a public route, and the authentication hook first to a route with a permission', async () => {
    const open = await appWith({ public: true });
    expect((await open.inject({ url: '/thing' })).statusCode).toBe(200);
    await open.close();

    const guarded = Fastify();
    let hooks: unknown[] = [];
    guarded.addHook('onRoute', authenticateRoutes(deps));
    guarded.addHook('onRoute', (route) => {
      hooks = [route.onRequest].flat();
    });
    const own = async () => undefined;
    guarded.get('/thing', { config: { permission: 'subscriptions:read' }, onRequest: own }, () => ({ ok: true }));
    await guarded.ready();
    expect(hooks).toHaveLength(2);
    expect(hooks[1]).toBe(own);
    await guarded.close();
  });
});
