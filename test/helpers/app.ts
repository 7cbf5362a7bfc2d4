import { buildApp, type App } from '../../src/app.js';
import { loadEnv, type Env } from '../../src/config/env.js';
import { createContainer, type Container } from '../../src/container.js';

export interface TestApp {
  app: App;
  container: Container;
  env: Env;
  close(): Promise<void>;
}

/**
 * The app wired to this test file's database and Redis prefix (see setup-file.ts), for
 * `app.inject()`; call `app.listen({ port: 0, host: '127.0.0.1' })` where real HTTP is needed.
 */
export async function createTestApp(
  options: { env?: Record<string, string>; container?: (env: Env) => Container; routes?: (app: App) => void } = {},
): Promise<TestApp> {
  const env = loadEnv({ ...process.env, ...options.env });
  const container = options.container?.(env) ?? createContainer(env, 'api');
  const app = await buildApp(container);
  options.routes?.(app);
  await app.ready();
  return {
    app,
    container,
    env,
    async close() {
      await app.close();
      await container.close();
    },
  };
}
