// `npm run bench`: runs every benchmark section, prints one table (each figure beside its target)
// and writes the figures as JSON to bench-results/latest.json. Talks to loopback only.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { loadEnv } from '../../src/config/env.js';
import { runMigrations } from '../../src/db/migrate.js';
import { benchCatalog } from './catalog.js';
import { benchDns } from './dns.js';
import { benchHttpShell } from './http-shell.js';
import { DURATION_S, CONNECTIONS, printTable, type Figure } from './lib.js';

const sections: Record<string, () => Promise<Figure[]>> = {
  'http shell': benchHttpShell,
  dns: benchDns,
  catalog: benchCatalog,
};

const only = process.argv.slice(2);
const env = loadEnv();
await runMigrations(env.MIGRATION_DATABASE_URL);

const figures: Figure[] = [];
for (const [name, run] of Object.entries(sections)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name} (${DURATION_S} s per load run, ${CONNECTIONS} connections)...\n`);
  figures.push(...(await run()));
}

const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
process.stdout.write(`\nmPanel benchmarks on ${machine}\n\n`);
printTable(figures);
await mkdir('bench-results', { recursive: true });
await writeFile('bench-results/latest.json', `${JSON.stringify({ machine, at: new Date().toISOString(), figures }, null, 2)}\n`);
process.stdout.write('\nwritten to bench-results/latest.json\n');
