// `npm run build:server`: compiles the server (src/, tests left out) to plain JavaScript in dist/,
// one file per source file, so production runs no TypeScript loader (bin/mpanel.js picks dist/
// when it is there). esbuild only strips the types: `npm run lint` (tsc) is the type check.
// The migrations (SQL and drizzle's journal) are copied beside the compiled db/migrate.js, which
// finds them relative to itself.
import { cp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = path.join(root, 'src');
export const DEFAULT_OUT_DIR = path.join(root, 'dist');

/** The oldest Node mPanel supports (package.json engines): esbuild lowers nothing it can run. */
const TARGET = 'node20.19';

async function serverSources(): Promise<string[]> {
  const entries = await readdir(sourceDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

/** Compiles src/ to `outDir` (emptied first) and copies the migrations; returns what it wrote. */
export async function buildServer(outDir: string = DEFAULT_OUT_DIR): Promise<{ files: number; outDir: string }> {
  await rm(outDir, { recursive: true, force: true });
  const entryPoints = await serverSources();
  await build({
    entryPoints,
    outdir: outDir,
    outbase: sourceDir,
    format: 'esm',
    platform: 'node',
    target: TARGET,
    bundle: false,
    // Linked maps: `node --enable-source-maps` then reports src/ lines; without the flag they cost nothing.
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  const migrations = path.join('db', 'migrations');
  await cp(path.join(sourceDir, migrations), path.join(outDir, migrations), {
    recursive: true,
    // The SQL and the journal are what the migrator reads; drizzle-kit's snapshots are for `generate` only.
    filter: (source) => !source.endsWith('_snapshot.json'),
  });
  return { files: entryPoints.length, outDir };
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (runDirectly) {
  const started = performance.now();
  const { files, outDir } = await buildServer(process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUT_DIR);
  process.stdout.write(`build: ${files} files compiled to ${path.relative(process.cwd(), outDir) || '.'}/ in ${Math.round(performance.now() - started)} ms\n`);
}
