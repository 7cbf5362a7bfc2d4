// `npm run bench`: runs every benchmark section, prints one table (each figure beside its target)
// and writes the figures as JSON to bench-results/latest.json. Talks to loopback only.
import './bench-env.js'; // first: sets NODE_ENV and the PowerDNS key before any section loads its settings
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { loadEnv } from '../../src/config/env.js';
import { runMigrations } from '../../src/db/migrate.js';
import { benchAcme } from './acme.js';
import { benchAuth } from './auth.js';
import { benchBilling } from './billing.js';
import { benchCatalog } from './catalog.js';
import { benchDns } from './dns.js';
import { benchHttpShell } from './http-shell.js';
import { benchHttps } from './https.js';
import { DURATION_S, CONNECTIONS, printTable, type Figure } from './lib.js';
import { benchLoad } from './load.js';
import { benchMail } from './mail.js';
import { benchNginx } from './nginx.js';
import { benchOrderToLive } from './order-to-live.js';
import { benchThroughput } from './throughput.js';
import { benchWebhooks } from './webhooks.js';

const sections: Record<string, () => Promise<Figure[]>> = {
  'http shell': benchHttpShell,
  dns: benchDns,
  catalog: benchCatalog,
  auth: benchAuth,
  'order-to-live': benchOrderToLive,
  throughput: benchThroughput,
  nginx: benchNginx,
  https: benchHttps,
  load: benchLoad,
  acme: benchAcme,
  billing: benchBilling,
  webhooks: benchWebhooks,
  mail: benchMail,
};

const only = process.argv.slice(2);
const unknown = only.filter((name) => !(name in sections));
if (unknown.length > 0) {
  process.stderr.write(`bench: no section ${unknown.map((name) => `"${name}"`).join(', ')}; sections: ${Object.keys(sections).map((name) => `"${name}"`).join(', ')}\n`);
  process.exit(2);
}
const env = loadEnv();
await runMigrations(env.MIGRATION_DATABASE_URL);

// Other work on the machine skews every figure: the 1-minute load average is printed with them.
const loadBefore = os.loadavg()[0] ?? 0;
const figures: Figure[] = [];
for (const [name, run] of Object.entries(sections)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name} (${DURATION_S} s per load run, ${CONNECTIONS} connections)...\n`);
  const started = performance.now();
  try {
    figures.push(...(await run()));
  } catch (error) {
    // A broken section (a service down, a process that would not start) is reported, and the others still run.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bench: ${name} FAILED: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
    figures.push({ section: name, name: `did not complete: ${message.split('\n')[0]?.slice(0, 120) ?? ''}`, value: 0, unit: '', target: 'completes', met: false });
    process.exitCode = 1;
  }
  process.stderr.write(`bench: ${name} done in ${Math.round((performance.now() - started) / 1000)} s\n`);
}

const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const loadAverage = `1-min load average ${loadBefore.toFixed(2)} before, ${(os.loadavg()[0] ?? 0).toFixed(2)} after`;
process.stdout.write(`\nmPanel benchmarks on ${machine} (${loadAverage})\n\n`);
printTable(figures);
await mkdir('bench-results', { recursive: true });
await writeFile('bench-results/latest.json', `${JSON.stringify({ machine, loadAverage, at: new Date().toISOString(), figures }, null, 2)}\n`);
process.stdout.write('\nwritten to bench-results/latest.json\n');
