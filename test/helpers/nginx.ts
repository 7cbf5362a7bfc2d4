import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Test helpers around nginx: requests by Host header, and private nginx instances. */

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** GET on a fresh connection (`agent: false`): a reload drops keep-alive connections. */
export function getByHost(port: number, host: string, options: { address?: string; path?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: options.address ?? '127.0.0.1', port, path: options.path ?? '/', headers: { host }, agent: false, timeout: 5_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}

/** Polls until `accept` holds for the answer (nginx serves a new configuration a moment after the reload returns). */
export async function waitForAnswer(port: number, host: string, accept: (answer: Answer) => boolean, timeoutMs = 10_000, requestPath = '/'): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  let last: Answer | Error | undefined;
  for (;;) {
    try {
      last = await getByHost(port, host, { path: requestPath });
      if (accept(last)) return last;
    } catch (error) {
      last = error instanceof Error ? error : new Error(String(error));
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? last.message : `${last?.status} ${last?.body.slice(0, 200)}`;
      throw new Error(`timed out waiting for the expected answer from ${host} on :${port}; last: ${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether a listener can bind 127.0.0.1:port right now (it is released at once). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on 127.0.0.1 for a process the test starts next, chosen below the kernel's
 * ephemeral range (32768–60999 here). A port from listen(0) lies in that range, and between its
 * release and the moment the other process binds it, any outgoing connection on the machine may
 * take it as its source port: a fault world's private nginx, whose HTTPS port is bound only at its
 * first reload, failed that reload with EADDRINUSE in CI. No service here listens in 20000–31999.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free TCP port between 20000 and 31999 on 127.0.0.1');
}

export interface PrivateNginx {
  /** Everything lives here; removed by stop(). */
  readonly dir: string;
  readonly conf: string;
  readonly sitesDir: string;
  readonly webRoot: string;
  readonly port: number;
  stop(): Promise<void>;
}

function isRunning(pid: number): boolean {
  try {
    // A zombie (exited, not yet reaped by PID 1) counts as stopped.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * A second nginx, for tests that must break or own a configuration without disturbing the shared
 * one on :8080: its own prefix, sites directory and web root in a temp dir, on a free port. With
 * `user`, the directory belongs to that user and nginx runs as it (the SSH driver's test).
 */
export async function startPrivateNginx(
  options: { user?: { uid: number; gid: number }; namesHashBucketSize?: number; /** RLIMIT_NOFILE of the master and workers */ maxOpenFiles?: number } = {},
): Promise<PrivateNginx> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mpanel-nginx-'));
  await fs.chmod(dir, 0o755); // nginx's workers (nobody) read the web root below
  const prefix = path.join(dir, 'nginx');
  const sitesDir = path.join(prefix, 'sites');
  const webRoot = path.join(dir, 'www');
  for (const sub of [sitesDir, path.join(prefix, 'logs'), path.join(prefix, 'tmp'), webRoot]) await fs.mkdir(sub, { recursive: true, mode: 0o755 });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  await fs.writeFile(
    conf,
    `worker_processes 1;
pid nginx.pid;
error_log logs/error.log warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log logs/access.log;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  server_names_hash_bucket_size ${options.namesHashBucketSize ?? 512};
  server_names_hash_max_size 65536;
  server {
    listen 127.0.0.1:${port} default_server;
    server_name _;
    return 404;
  }
  include ${sitesDir}/*.conf;
}
`,
  );
  if (options.user) {
    const { uid, gid } = options.user;
    for (const entry of [dir, ...(await fs.readdir(dir, { recursive: true })).map((name) => path.join(dir, name))]) await fs.chown(entry, uid, gid);
  }
  const log = openSync(path.join(dir, 'start.log'), 'a');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      // nginx daemonises: this process exits once the master runs (pid in nginx.pid).
      const argv = ['nginx', '-p', prefix, '-c', conf];
      const [command = 'nginx', ...args] = options.maxOpenFiles ? ['prlimit', `--nofile=${options.maxOpenFiles}:${options.maxOpenFiles}`, ...argv] : argv;
      const child = spawn(command, args, { stdio: ['ignore', log, log], ...(options.user ?? {}) });
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (code !== 0) throw new Error(`nginx did not start (${code}): ${readFileSync(path.join(dir, 'start.log'), 'utf8')}`);
  } finally {
    closeSync(log);
  }
  await waitForAnswer(port, 'nothing.invalid', (answer) => answer.status === 404);

  return {
    dir,
    conf,
    sitesDir,
    webRoot,
    port,
    async stop() {
      const pidFile = path.join(prefix, 'nginx.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
          process.kill(pid, 'SIGTERM');
          const deadline = Date.now() + 5_000;
          while (isRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
