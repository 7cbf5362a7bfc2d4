import { createHash } from 'node:crypto';
import path from 'node:path';
import { HostingError, NginxConfigError, type HostingLayout } from '../hosting.port.js';
import type { HostTransport } from '../host/host.port.js';

/**
 * Applies vhost changes to one nginx: write the files, `nginx -t`, reload; on a failed test, put
 * the previous files back. Changes are serialised (one test + reload at a time per nginx) and
 * BATCHED: those that arrive within `windowMs` of the first, or while a batch is running, share
 * one test + reload. With thousands of sites one test + reload costs 0.2–0.5 s, so a burst of N
 * new sites costs a few reloads instead of N.
 *
 * When a batch fails the test:
 *  - nginx names one of the batch's files: that change is put back and refused (permanent: the
 *    same content fails again), and the rest is tested again;
 *  - nginx names another file: the configuration is broken outside these sites; every change is
 *    put back and refused as retryable (an operator can fix that file);
 *  - nginx names no file (e.g. server_names_hash): after putting everything back, if the old
 *    configuration fails too the fault is elsewhere (retryable); otherwise the batch is split in
 *    halves until the change nginx refuses is found.
 *
 * A reload only signals the master, which then loads the configuration on its own and
 * can still refuse it where `-t` passed: a listen address it cannot bind, too many open files (two
 * log files per site, held twice during a reload). So the reload is confirmed by the master
 * starting new worker processes (/proc/<master>/task/<master>/children, read through the same
 * host) and every worker from before exiting or shutting down; when that does not happen in time,
 * the batch is put back and refused as retryable, with the tail of nginx's error log.
 */

export interface ReloaderStats {
  batches: number;
  tests: number;
  reloads: number;
  /** Reloads seen taking effect (new worker processes); the others could not be checked. */
  confirmed: number;
  /** Changes that needed no test or reload: the file already had that content, and this reloader saw nginx load it. */
  unchanged: number;
}

interface Change {
  readonly path: string;
  content: string | null;
  previous: string | null;
  settled: boolean;
  readonly waiters: { resolve(): void; reject(error: Error): void }[];
}

interface NginxOutcome {
  readonly ok: boolean;
  /** nginx's error lines ([emerg], [alert], ...), or its whole output when it has none. */
  readonly message: string;
  /** The file nginx names in its first error ("... in /path/file.conf:12"). */
  readonly file: string | null;
}

const VHOST_MODE = 0o644;
/** nginx's compiled-in pid file on Debian, when the main configuration has no `pid` directive. */
const DEFAULT_PID_FILE = '/run/nginx.pid';
const ERROR_LINE = /\[(emerg|alert|crit|error)\]/;
const FILE_REFERENCE = / in (\/[^\s:]+):\d+/;

export function parseNginxOutput(code: number, stderr: string, stdout: string): NginxOutcome {
  const lines = `${stderr}\n${stdout}`.split('\n').map((line) => line.trim()).filter(Boolean);
  const errors = lines.filter((line) => ERROR_LINE.test(line));
  const message = (errors.length > 0 ? errors : lines).join('\n').slice(0, 2000) || `exit code ${code}`;
  const fileMatch = errors.map((line) => FILE_REFERENCE.exec(line)).find((match) => match !== null);
  return { ok: code === 0, message, file: fileMatch?.[1] ? path.posix.normalize(fileMatch[1]) : null };
}

function digest(content: string | null): string {
  return content === null ? 'absent' : createHash('sha256').update(content).digest('base64');
}

export class NginxReloader {
  readonly stats: ReloaderStats = { batches: 0, tests: 0, reloads: 0, confirmed: 0, unchanged: 0 };
  /**
   * Per vhost file, the content nginx loaded in a reload this reloader made (a digest). A change
   * that leaves a file as loaded needs no reload: a certificate renewal rewrites only the key files
   * (read at the handshake) and asks for the same vhost. A file this process has not seen loaded is
   * reloaded even when unchanged: a process that died between writing it and reloading left nginx
   * without it.
   */
  private readonly loaded = new Map<string, string>();
  private pending = new Map<string, Change>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  /** Where the master's pid is (from the main configuration), looked up once. */
  private pidFile: string | undefined;
  private readonly commandTimeoutMs: number;
  private readonly confirmTimeoutMs: number;

  constructor(
    private readonly host: HostTransport,
    private readonly layout: HostingLayout,
    private readonly windowMs: number,
    options: { commandTimeoutMs?: number; confirmTimeoutMs?: number } = {},
  ) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? 120_000;
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? 10_000;
  }

  /**
   * Writes `content` to the vhost file `file` (null removes it); resolves once nginx has tested
   * and reloaded a configuration with it, rejects (HostingError) with the file put back.
   */
  apply(file: string, content: string | null): Promise<void> {
    return new Promise((resolve, reject) => {
      const existing = this.pending.get(file);
      if (existing) {
        // Not started yet: the later content wins, and both callers learn the outcome.
        existing.content = content;
        existing.waiters.push({ resolve, reject });
      } else {
        this.pending.set(file, { path: file, content, previous: null, settled: false, waiters: [{ resolve, reject }] });
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.windowMs);
  }

  private flush(): void {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.running = true;
    this.stats.batches += 1;
    void this.process(batch).finally(() => {
      this.running = false;
      // What arrived while this batch ran has waited long enough: no new window.
      if (this.pending.size > 0) this.flush();
    });
  }

  private async process(batch: Change[]): Promise<void> {
    let written: Change[] = [];
    try {
      written = await this.writeAll(batch);
      const asLoaded = written.filter((change) => change.previous === change.content && this.loaded.get(change.path) === digest(change.content));
      for (const change of asLoaded) {
        this.stats.unchanged += 1;
        this.resolve(change);
      }
      written = written.filter((change) => !asLoaded.includes(change));
      if (written.length > 0) await this.testAndReload(written);
    } catch (error) {
      // The host failed under us (a lost SSH connection, a command that did not start).
      const open = batch.filter((change) => !change.settled);
      await this.restore(written.filter((change) => !change.settled));
      const failure = error instanceof HostingError ? error : new HostingError(`nginx update failed: ${error instanceof Error ? error.message : String(error)}`, false, { cause: error });
      for (const change of open) this.reject(change, failure);
    }
  }

  private async write(file: string, content: string | null): Promise<void> {
    if (content === null) await this.host.removeFile(file);
    else await this.host.writeFileAtomic(file, content, VHOST_MODE);
  }

  /** Writes each change (remembering the file it replaces); a change that cannot be written is refused alone. */
  private async writeAll(changes: Change[]): Promise<Change[]> {
    const results = await Promise.allSettled(
      changes.map(async (change) => {
        change.previous = await this.host.readFile(change.path);
        if (change.previous !== change.content) await this.write(change.path, change.content);
      }),
    );
    return changes.filter((change, index) => {
      const result = results[index];
      if (result?.status !== 'rejected') return true;
      const reason: unknown = result.reason;
      this.reject(change, reason instanceof Error ? reason : new Error(String(reason)));
      return false;
    });
  }

  /** Puts the previous files back; returns what could not be restored, for the error message. */
  private async restore(changes: readonly Change[]): Promise<string> {
    const results = await Promise.allSettled(changes.filter((change) => change.previous !== change.content).map((change) => this.write(change.path, change.previous)));
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    return failures.length > 0 ? ` (and restoring the previous file failed: ${failures.join('; ')})` : '';
  }

  private async nginx(...args: string[]): Promise<NginxOutcome> {
    const { nginxCommand, nginxConf } = this.layout;
    const result = await this.host.run([...nginxCommand, '-p', path.posix.dirname(nginxConf), '-c', nginxConf, ...args], this.commandTimeoutMs);
    return parseNginxOutput(result.code, result.stderr, result.stdout);
  }

  /** The `pid` / `error_log` file named in the main configuration (relative to the prefix), if any. */
  private async mainConfPath(directive: 'pid' | 'error_log'): Promise<string | null> {
    const conf = await this.host.readFile(this.layout.nginxConf);
    const match = conf === null ? null : new RegExp(`^\\s*${directive}\\s+([^;\\s]+)[^;]*;`, 'm').exec(conf);
    return match?.[1] ? path.posix.resolve(path.posix.dirname(this.layout.nginxConf), match[1]) : null;
  }

  /** The running master's pid; null when the pid file is missing or stale (not an nginx process). */
  private async masterPid(): Promise<number | null> {
    this.pidFile ??= (await this.mainConfPath('pid')) ?? DEFAULT_PID_FILE;
    const pid = Number((await this.host.readFile(this.pidFile))?.trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    // A stale pid file can name an unrelated process, and SIGHUP would end most of them.
    const command = await this.host.readFile(`/proc/${pid}/comm`).catch(() => null);
    return command?.trim() === 'nginx' ? pid : null;
  }

  /** The master's child processes (its workers), or null where /proc cannot tell (then no confirmation). */
  private async workers(master: number): Promise<Set<number> | null> {
    const children = await this.host.readFile(`/proc/${master}/task/${master}/children`).catch(() => null);
    return children === null ? null : new Set(children.split(/\s+/).filter(Boolean).map(Number));
  }

  /**
   * True once the reload is in effect: the master has started a worker that was not there before,
   * and every worker from before has exited or is shutting down. The master sleeps 100 ms between
   * starting the new workers and telling the old ones to stop, and in that window an old worker
   * still accepts connections and answers from the old configuration (a CA fetching an http-01
   * token for a site created just before got its 404).
   */
  private async confirmReload(master: number, before: ReadonlySet<number>): Promise<boolean> {
    const deadline = Date.now() + this.confirmTimeoutMs;
    for (;;) {
      const now = await this.workers(master);
      if (now === null) return false;
      if ([...now].some((pid) => !before.has(pid)) && !(await this.anyStillAccepting(now, before))) {
        this.stats.confirmed += 1;
        return true;
      }
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Whether a worker from before the reload still runs as a plain worker (not "is shutting down"). */
  private async anyStillAccepting(now: ReadonlySet<number>, before: ReadonlySet<number>): Promise<boolean> {
    for (const pid of now) {
      if (!before.has(pid)) continue;
      const title = await this.host.readFile(`/proc/${pid}/cmdline`).catch(() => null);
      // Gone since the list was read, or its title says it stopped accepting.
      if (title !== null && !title.includes('shutting down')) return true;
    }
    return false;
  }

  private async errorLogTail(): Promise<string> {
    const file = await this.mainConfPath('error_log');
    if (file === null) return '';
    const tail = await this.host.run(['tail', '-n', '3', file], 5_000).catch(() => null);
    return tail?.code === 0 ? tail.stdout.trim().split('\n').join(' | ').slice(0, 1500) : '';
  }

  private async test(): Promise<NginxOutcome> {
    this.stats.tests += 1;
    return this.nginx('-t', '-q');
  }

  private async testAndReload(changes: Change[]): Promise<void> {
    let remaining = changes;
    while (remaining.length > 0) {
      const test = await this.test();
      if (test.ok) {
        this.stats.reloads += 1;
        const master = await this.masterPid();
        const before = master === null ? null : await this.workers(master);
        // `nginx -s reload` would parse the whole configuration once more (as long as -t did) only
        // to find the pid we already have: signal the master directly when we may.
        const signalled = master !== null && (await this.host.signal(master, 'SIGHUP'));
        const reload = signalled ? null : await this.nginx('-s', 'reload');
        if (reload && !reload.ok) {
          // The reload parses the configuration again: a file changed in between can still fail it.
          const note = await this.restore(remaining);
          this.rejectAll(remaining, new NginxConfigError(`nginx -s reload failed, the previous vhost is back: ${reload.message}${note}`, reload.message, reload.file, false));
          return;
        }
        if (master !== null && before !== null && before.size > 0 && !(await this.confirmReload(master, before))) {
          const log = await this.errorLogTail();
          const note = await this.restore(remaining);
          const message = `nginx passed -t but its master did not load the new configuration within ${this.confirmTimeoutMs} ms (no new worker processes, or the old ones still serving), the previous vhost is back${log ? `; nginx's error log: ${log}` : ''}${note}`;
          this.rejectAll(remaining, new NginxConfigError(message, log, null, false));
          return;
        }
        for (const change of remaining) {
          this.loaded.set(change.path, digest(change.content));
          this.resolve(change);
        }
        return;
      }

      const culprit = test.file === null ? undefined : remaining.find((change) => change.path === test.file);
      if (culprit) {
        const note = await this.restore([culprit]);
        this.reject(culprit, new NginxConfigError(`nginx -t refused this site's vhost, the previous one is back: ${test.message}${note}`, test.message, test.file, true));
        remaining = remaining.filter((change) => change !== culprit);
        continue;
      }

      const note = await this.restore(remaining);
      if (test.file !== null) {
        this.rejectAll(remaining, new NginxConfigError(`nginx -t fails because of ${test.file}, not this site; nothing was changed: ${test.message}${note}`, test.message, test.file, false));
        return;
      }
      const baseline = await this.test();
      if (!baseline.ok) {
        this.rejectAll(remaining, new NginxConfigError(`nginx -t fails even without this change; nothing was changed: ${baseline.message}${note}`, baseline.message, baseline.file, false));
        return;
      }
      if (remaining.length === 1) {
        this.rejectAll(remaining, new NginxConfigError(`nginx -t refused this site's vhost, the previous one is back: ${test.message}${note}`, test.message, null, true));
        return;
      }
      const half = Math.ceil(remaining.length / 2);
      for (const part of [remaining.slice(0, half), remaining.slice(half)]) await this.testAndReload(await this.writeAll(part));
      return;
    }
  }

  private resolve(change: Change): void {
    if (change.settled) return;
    change.settled = true;
    for (const waiter of change.waiters) waiter.resolve();
  }

  private reject(change: Change, error: Error): void {
    if (change.settled) return;
    change.settled = true;
    for (const waiter of change.waiters) waiter.reject(error);
  }

  private rejectAll(changes: readonly Change[], error: Error): void {
    for (const change of changes) this.reject(change, error);
  }
}
