// Run by `npm run build:web` after `vite build`: writes a Brotli (.br) and a gzip (.gz) twin of
// every text asset in web/dist (the API serves them as they are, @fastify/static preCompressed),
// and prints what the console's first load costs: the entry chunk, the chunks it imports
// statically and its CSS, as sent compressed. Target: ≤ 250 KB of JavaScript (README, console).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(root, 'web', 'dist');
export const FIRST_LOAD_JS_TARGET_BYTES = 250 * 1024;

interface ManifestChunk {
  file: string;
  isEntry?: boolean;
  imports?: string[];
  css?: string[];
}

const COMPRESSIBLE = /\.(?:js|css|html|svg|json|txt)$/;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

export interface FirstLoad {
  files: string[];
  jsBytes: number;
  jsGzipBytes: number;
  jsBrotliBytes: number;
  cssGzipBytes: number;
}

/** The files the browser needs before the first screen renders, from Vite's manifest. */
export async function measureFirstLoad(dist = DIST): Promise<FirstLoad> {
  const manifest = JSON.parse(await readFile(path.join(dist, '.vite', 'manifest.json'), 'utf8')) as Record<string, ManifestChunk>;
  const entry = Object.entries(manifest).find(([, chunk]) => chunk.isEntry);
  if (!entry) throw new Error('web/dist/.vite/manifest.json has no entry chunk');
  const seen = new Set<string>();
  const files = new Set<string>();
  const visit = (key: string): void => {
    if (seen.has(key)) return;
    seen.add(key);
    const chunk = manifest[key];
    if (!chunk) return;
    files.add(chunk.file);
    for (const css of chunk.css ?? []) files.add(css);
    for (const imported of chunk.imports ?? []) visit(imported);
  };
  visit(entry[0]);
  const result: FirstLoad = { files: [...files], jsBytes: 0, jsGzipBytes: 0, jsBrotliBytes: 0, cssGzipBytes: 0 };
  for (const file of files) {
    const content = await readFile(path.join(dist, file));
    if (file.endsWith('.js')) {
      result.jsBytes += content.length;
      result.jsGzipBytes += gzipSync(content, { level: 9 }).length;
      result.jsBrotliBytes += brotliCompressSync(content).length;
    } else if (file.endsWith('.css')) {
      result.cssGzipBytes += gzipSync(content, { level: 9 }).length;
    }
  }
  return result;
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (runDirectly) {
  for (const file of await filesUnder(DIST)) {
    if (!COMPRESSIBLE.test(file) || file.includes(`${path.sep}.vite${path.sep}`)) continue;
    const content = await readFile(file);
    await writeFile(`${file}.gz`, gzipSync(content, { level: 9 }));
    await writeFile(`${file}.br`, brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  }
  const load = await measureFirstLoad();
  const verdict = load.jsGzipBytes <= FIRST_LOAD_JS_TARGET_BYTES ? 'met' : 'MISSED';
  process.stdout.write(
    `console first load: JavaScript ${kb(load.jsBytes)} raw, ${kb(load.jsGzipBytes)} gzip, ${kb(load.jsBrotliBytes)} brotli ` +
      `(target ≤ ${kb(FIRST_LOAD_JS_TARGET_BYTES)} compressed: ${verdict}); CSS ${kb(load.cssGzipBytes)} gzip; files: ${load.files.join(', ')}\n`,
  );
}
