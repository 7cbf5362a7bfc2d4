/**
 * The few file and process operations hosting needs on a web server. nginx-hosting.ts is written
 * once against this; local-host.ts does them with node:fs and execFile, ssh-host.ts over SFTP and
 * exec. Paths are absolute POSIX paths built by vhost.ts from checked parts.
 */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface WebHost {
  readonly description: string;
  /**
   * Creates the directory (and missing parents) when absent, with exactly `mode`; returns true
   * when it created it. An existing directory is left as it is (its owner may have changed it).
   */
  ensureDir(path: string, mode: number): Promise<boolean>;
  /** The file's text, or null when it does not exist. */
  readFile(path: string): Promise<string | null>;
  /** Writes a temp file beside `path` (mode `mode`), then renames it over `path`: readers see the old or the new file, never half of one. */
  writeFileAtomic(path: string, content: string, mode: number): Promise<void>;
  /** Removes a file; absent is fine. */
  removeFile(path: string): Promise<void>;
  /** Removes a directory tree; absent is fine. */
  removeTree(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  /** Sends a signal to a process of the host; false when it may not (or the process is gone). */
  signal(pid: number, signal: 'SIGHUP'): Promise<boolean>;
  /** Runs a command (argv, no shell on this side) and reports its exit code and output. */
  run(argv: readonly string[], timeoutMs: number): Promise<RunResult>;
  close(): Promise<void>;
}
