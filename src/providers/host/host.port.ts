import { ProviderError } from '../provider-error.js';

/**
 * The host transport: the few file and process operations mPanel needs on a server it manages
 * (a web server for nginx now; mail, certificates and backups next). Adapters are written once
 * against this; local-host.ts does them with node:fs and execFile on this machine, ssh-host.ts
 * over SFTP and exec on a remote one. Paths are absolute POSIX paths the caller builds from
 * checked parts: a transport never validates a customer's input.
 */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface WriteOptions {
  /** Numeric owner of the new file (set before the rename). */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /**
   * The new file's mtime is max(now, the old file's mtime + 1 s), in whole seconds: for readers
   * that notice a change by the mtime second (Dovecot's passwd-file), a rewrite is never invisible.
   */
  readonly increaseMtime?: boolean;
}

export interface HostTransport {
  readonly description: string;
  /**
   * Creates the directory (and missing parents) when absent, with exactly `mode`; returns true
   * when it created it. An existing directory is left as it is (its owner may have changed it).
   */
  ensureDir(path: string, mode: number): Promise<boolean>;
  /** The file's text, or null when it does not exist. */
  readFile(path: string): Promise<string | null>;
  /**
   * Writes a temp file beside `path` (mode `mode`, and `options`), flushes it to disk, then renames
   * it over `path`: readers see the old or the new file, never half of one, and never one with the
   * wrong owner or mode.
   */
  writeFileAtomic(path: string, content: string, mode: number, options?: WriteOptions): Promise<void>;
  /**
   * Runs `work` holding an exclusive flock(1) on `lockFile` (created when absent), so every writer
   * on that host following the same rule, in any process, waits its turn.
   */
  withLock<T>(lockFile: string, work: () => Promise<T>): Promise<T>;
  /** Removes a file; absent is fine. */
  removeFile(path: string): Promise<void>;
  /** Removes a directory tree; absent is fine. */
  removeTree(path: string): Promise<void>;
  /** True when the path exists (a link counts, whatever it points to). */
  exists(path: string): Promise<boolean>;
  /** Where the symbolic link points, or null when there is no such path (a file that is not a link throws). */
  readLink(path: string): Promise<string | null>;
  /** Makes `path` a symbolic link to `target`, replacing what was there in one rename. */
  symlink(target: string, path: string): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Sends a signal to a process of the host; false when it may not (or the process is gone). */
  signal(pid: number, signal: 'SIGHUP' | 'SIGUSR1'): Promise<boolean>;
  /** Runs a command (argv, no shell on this side) and reports its exit code and output. */
  run(argv: readonly string[], timeoutMs: number): Promise<RunResult>;
  close(): Promise<void>;
}

/**
 * A failure of the transport itself: permanent for a pinned key that does not match, a missing
 * private key, a path that is a file where a directory must be; retryable for a host that is down.
 */
export class HostError extends ProviderError {
  override name = 'HostError';
}

/** The SSH server presented a host key other than the one pinned for it. */
export class HostKeyMismatchError extends HostError {
  override name = 'HostKeyMismatchError';
}
