import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export interface Figure {
  section: string;
  name: string;
  value: number;
  unit: string;
  /** e.g. ">= 0.8x node:http"; absent for figures reported without a target. */
  target?: string;
  met?: boolean;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** Responses counted (all statuses). */
  total: number;
  status5xx: number;
}

export const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

export interface LoadOptions {
  headers?: Record<string, string>;
  duration?: number;
  connections?: number;
  method?: 'GET' | 'POST';
  body?: string;
  /** Requests per second over all connections (open model); absent: as fast as the server answers. */
  overallRate?: number;
  /** A sequence each connection cycles through (e.g. several accounts, or a request built per send). */
  requests?: autocannon.Request[];
}

export async function load(url: string, options: LoadOptions = {}): Promise<LoadResult> {
  const result = await autocannon({
    url,
    connections: options.connections ?? CONNECTIONS,
    duration: options.duration ?? DURATION_S,
    headers: options.headers ?? {},
    ...(options.method ? { method: options.method } : {}),
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    ...(options.requests ? { requests: options.requests } : {}),
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'],
    status5xx: result['5xx'],
  };
}

/**
 * Children still running when the bench exits (a section that threw past its clean-up) are
 * killed: orphaned, with their output pipe gone, they would otherwise linger.
 */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * BENCH_CPU_PROF=<dir>: every `mpanel` process the bench starts writes a V8 CPU profile there when
 * it stops (`node --cpu-prof`, which NODE_OPTIONS refuses), in <dir>/<role>/ (api, worker).
 */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;
function profiled(command: string, args: string[]): string[] {
  const role = args[0]?.endsWith('bin/mpanel.js') ? args[1] : undefined;
  if (!CPU_PROFILE_DIR || command !== process.execPath || !role) return args;
  return ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}/${role}`, ...args];
}

/** Starts a process and resolves once its output matches `ready` (the first capture group, or the match). */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs = 30_000): Promise<{ match: string; child: ChildProcess }> {
  const child = spawn(command, profiled(command, args), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  return new Promise((resolve, reject) => {
    let output = '';
    let match: string | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} was not ready within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      // After start-up the output (a log line per request or step) is read and dropped as bytes:
      // this process also runs the load.
      if (match) return;
      output += chunk.toString();
      const found = ready.exec(output);
      if (found) {
        match = found[1] ?? found[0];
        clearTimeout(timer);
        resolve({ match, child });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      running.delete(child);
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output}`));
    });
  });
}

/** The headers the node:http floor does not set itself (node:http's own and the body's are left out). */
const FLOOR_SETS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'transfer-encoding']);

/**
 * The response headers of one GET of `url` that a floor answering "the same bytes" must send as
 * well: mPanel's security headers, request id, cache headers. (Headers cost both sides of the
 * load: a node:http server sending mPanel's five security headers and a request id answers about
 * a fifth fewer requests per second here than one sending none.)
 */
export async function responseHeaders(url: string): Promise<Record<string, string>> {
  const response = await fetch(url);
  await response.arrayBuffer();
  return Object.fromEntries([...response.headers].filter(([name]) => !FLOOR_SETS.has(name)));
}

/** The node:http floor (scripts/bench/http-floor.ts) answering `body`, with `headers` if given, under the same load as mPanel. */
export async function loadFloor(body: string, headers?: Record<string, string>): Promise<LoadResult> {
  const floor = await startServer(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./http-floor.ts', import.meta.url))], {
    BENCH_BODY: body,
    ...(headers ? { BENCH_HEADERS: JSON.stringify(headers) } : {}),
  });
  return load(`${floor.url}/`).finally(() => stop(floor.child));
}

/** Starts a process and resolves with the URL it prints ("listening on http://..."). */
export async function startServer(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ url: string; child: ChildProcess }> {
  const { match, child } = await startProcess(command, args, env, /listening on (http:\/\/[\d.:]+)/);
  return { url: match, child };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Resident memory of a process in MB (VmRSS in /proc/<pid>/status). */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Math.round((Number(kb) / 1024) * 10) / 10;
}

/** CPU time a process has used so far (user + system, /proc/<pid>/stat), in ms. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) — utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export function summary(samples: readonly number[]): { p50: number; p95: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted.at(-1) ?? Number.NaN };
}

export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * fetch with the PowerDNS provider's retry policy (5xx and connection errors, 2 retries, 50 ms
 * doubling): the floors use it, so a "database is locked" from the shared PowerDNS's SQLite
 * (another writer on the machine) costs them what it costs the provider, and does not end the run.
 */
export async function fetchRetrying(url: string, init: RequestInit, retries = 2): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(url, init);
      if (response.status < 500 || attempt >= retries) return response;
      await response.arrayBuffer();
    } catch (error) {
      if (attempt >= retries) throw error;
    }
    await sleep(50 * 2 ** attempt);
  }
}

/**
 * Deletes PowerDNS zones one at a time, each retried for a while: the SQLite backend of the
 * PowerDNS on loopback answers 500 ("database is locked") while another writer holds it, and that
 * PowerDNS is shared with whatever else runs on the machine. Returns what could not be deleted
 * (reported; the next run's clean-up tries again) rather than ending the run.
 */
export async function deleteZones(dns: { deleteZone(name: string): Promise<boolean> }, names: readonly string[]): Promise<string[]> {
  const kept: string[] = [];
  for (const name of names) {
    for (let attempt = 1; ; attempt++) {
      try {
        await dns.deleteZone(name);
        break;
      } catch (error) {
        if (attempt < 10) {
          await sleep(100 * attempt);
          continue;
        }
        kept.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
        break;
      }
    }
  }
  if (kept.length > 0) process.stderr.write(`bench: ${kept.length} zone(s) left for the next run's clean-up:\n  ${kept.join('\n  ')}\n`);
  return kept;
}

export function printTable(figures: readonly Figure[]): void {
  const rows = figures.map((f) => [
    f.section,
    f.name,
    `${Number.isInteger(f.value) ? f.value : f.value.toFixed(2)} ${f.unit}`,
    f.target ?? '',
    f.met === undefined ? '' : f.met ? 'met' : 'MISSED',
  ]);
  const header = ['section', 'figure', 'value', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
}
