// Imported first by run.ts (ES modules run their imports in order): the sections call loadEnv()
// as their modules load. The bench's processes talk to loopback only and sign their own orders
// and tokens, so unless told otherwise they run as the test suite does: NODE_ENV=test (the public
// test secrets; `mpanel` ignores ./.env) with the key the services' PowerDNS actually runs with.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

process.env.NODE_ENV ??= 'test';
if (!process.env.POWERDNS_API_KEY) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const servicesEnv = execFileSync('bash', ['scripts/services.sh', 'env'], { cwd: root, encoding: 'utf8' });
  const key = /^export POWERDNS_API_KEY=(.+)$/m.exec(servicesEnv)?.[1];
  if (key) process.env.POWERDNS_API_KEY = key;
}
