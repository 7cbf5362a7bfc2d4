// Imported first by run.ts (ES modules run their imports in order): the sections call loadEnv()
// as their modules load. The bench's processes talk to loopback only and sign their own orders
// and tokens, so unless told otherwise they run as the test suite does: NODE_ENV=test (the public
// test secrets; `mpanel` ignores ./.env) with the key the services' PowerDNS actually runs with,
// but on the compiled server (MPANEL_RUN=dist, built by `npm run bench` first) as production does.
// Every setting changed here is printed.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function setDefault(name: string, value: string, shown = value): void {
  if (process.env[name] !== undefined) return;
  process.env[name] = value;
  process.stderr.write(`bench: setting ${name}=${shown} (set it to override)\n`);
}

setDefault('NODE_ENV', 'test');
setDefault('MPANEL_RUN', 'dist');
if (!process.env.POWERDNS_API_KEY) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const servicesEnv = execFileSync('bash', ['scripts/services.sh', 'env'], { cwd: root, encoding: 'utf8' });
  const key = /^export POWERDNS_API_KEY=(.+)$/m.exec(servicesEnv)?.[1];
  if (key) setDefault('POWERDNS_API_KEY', key, "(the services' PowerDNS key, from scripts/services.sh env)");
}
