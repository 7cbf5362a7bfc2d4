import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client, SFTPWrapper, ServerHostKeyAlgorithm, Stats } from 'ssh2';
import { hostKeyFingerprint, parseHostKey, type HostKeyType, type PinnedHostKey } from './ssh-host-key.js';
import { HostError, HostKeyMismatchError, type HostTransport, type RunResult, type WriteOptions } from './host.port.js';

/** A remote web server reached over SSH with key authentication. */
export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The server's host key, pinned (OpenSSH public key line): any other key is refused. */
  readonly hostKey: string;
  /** Our private key (OpenSSH or PEM), read at each connection so a rotated file is picked up. */
  readonly privateKeyPath: string;
  readonly readyTimeoutMs?: number;
  /** The connection is closed after this long without an operation (default 15 s). */
  readonly idleCloseMs?: number;
}

interface Session {
  readonly client: Client;
  readonly sftp: SFTPWrapper;
  closed: boolean;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that OpenSSH's sftp-server answers. */
const SFTP_NO_SUCH_FILE = 2;

function sftpCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number' ? error.code : undefined;
}

/** ssh2's callback APIs as promises. */
function call<T = void>(start: (done: (error: Error | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => (error ? reject(error) : resolve(value as T)));
  });
}

/** Single-quotes an argument for the remote POSIX shell that runs exec requests. */
export function shellQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Host key algorithms that make the server present the pinned key's type (it may have several). */
function algorithmsFor(type: HostKeyType): ServerHostKeyAlgorithm[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/**
 * The same file and process operations as LocalHost, on a remote host: files over one SFTP
 * channel (requests are pipelined, no process per call), commands with exec. One connection,
 * opened on first use, shared by concurrent operations and closed when idle.
 */
export class SshHost implements HostTransport {
  readonly description: string;
  private readonly pinned: PinnedHostKey;
  private session: Promise<Session> | null = null;
  private active = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly target: SshTarget) {
    const pinned = parseHostKey(target.hostKey);
    if (!pinned) throw new HostError(`the pinned SSH host key of ${target.host} is not an OpenSSH public key line`, true);
    this.pinned = pinned;
    this.description = `ssh ${target.username}@${target.host}:${target.port}`;
  }

  private async connect(): Promise<Session> {
    const privateKey = await readFile(this.target.privateKeyPath).catch((error: unknown) => {
      throw new HostError(`cannot read the SSH private key ${this.target.privateKeyPath}: ${error instanceof Error ? error.message : String(error)}`, true, { cause: error });
    });
    // ssh2 is loaded at the first connection, not at start-up (~16 MB of RSS in every process).
    const { Client } = await import('ssh2');
    return new Promise<Session>((resolve, reject) => {
      const client = new Client();
      let offered: Buffer | null = null;
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(error);
      };
      client.on('ready', () => {
        client.sftp((error, sftp) => {
          if (error) return fail(new HostError(`${this.description}: SFTP refused: ${error.message}`, false, { cause: error }));
          settled = true;
          const session: Session = { client, sftp, closed: false };
          client.on('close', () => {
            session.closed = true;
          });
          resolve(session);
        });
      });
      client.on('error', (error) => {
        if (offered && !offered.equals(this.pinned.blob)) {
          return fail(
            new HostKeyMismatchError(
              `${this.description} presented host key ${hostKeyFingerprint(offered)}, not the pinned ${hostKeyFingerprint(this.pinned.blob)}: refusing to connect (update the server's ssh_host_key only if the key really changed)`,
              true,
            ),
          );
        }
        fail(new HostError(`${this.description}: ${error.message}`, false, { cause: error }));
      });
      client.on('close', () => fail(new HostError(`${this.description}: connection closed during the handshake`, false)));
      client.connect({
        host: this.target.host,
        port: this.target.port,
        username: this.target.username,
        privateKey,
        // Never trust on first use: the key must be the one recorded for the server.
        hostVerifier: (key: Buffer) => {
          offered = key;
          return key.equals(this.pinned.blob);
        },
        algorithms: { serverHostKey: algorithmsFor(this.pinned.type) },
        readyTimeout: this.target.readyTimeoutMs ?? 10_000,
        keepaliveInterval: 15_000,
      });
    });
  }

  private async open(): Promise<Session> {
    for (;;) {
      const current = (this.session ??= this.connect());
      let session: Session;
      try {
        session = await current;
      } catch (error) {
        if (this.session === current) this.session = null;
        throw error;
      }
      if (!session.closed) return session;
      if (this.session === current) this.session = null;
    }
  }

  private async use<T>(operation: (session: Session) => Promise<T>): Promise<T> {
    this.active += 1;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    try {
      return await operation(await this.open());
    } finally {
      this.active -= 1;
      if (this.active === 0) {
        this.idleTimer = setTimeout(() => void this.close(), this.target.idleCloseMs ?? 15_000);
        this.idleTimer.unref();
      }
    }
  }

  private async mkdir(sftp: SFTPWrapper, dir: string, mode: number): Promise<boolean> {
    try {
      await call((done) => sftp.mkdir(dir, { mode }, done));
    } catch (error) {
      // OpenSSH answers a generic FAILURE for an existing path: look before deciding.
      const stats = await call<Stats>((done) => sftp.stat(dir, done)).catch(() => null);
      if (stats) {
        if (!stats.isDirectory()) throw new HostError(`${dir} exists on ${this.target.host} and is not a directory`, true);
        return false;
      }
      const parent = path.posix.dirname(dir);
      if (sftpCode(error) !== SFTP_NO_SUCH_FILE || parent === dir) throw error;
      await this.mkdir(sftp, parent, 0o755);
      return this.mkdir(sftp, dir, mode);
    }
    // The server's umask filters mkdir's mode; nginx's workers need exactly `mode`.
    await call((done) => sftp.chmod(dir, mode, done));
    return true;
  }

  ensureDir(dir: string, mode: number): Promise<boolean> {
    return this.use(({ sftp }) => this.mkdir(sftp, dir, mode));
  }

  readFile(file: string): Promise<string | null> {
    return this.use(async ({ sftp }) => {
      try {
        const content = await call<Buffer>((done) => sftp.readFile(file, done));
        return content.toString('utf8');
      } catch (error) {
        if (sftpCode(error) === SFTP_NO_SUCH_FILE) return null;
        throw error;
      }
    });
  }

  writeFileAtomic(file: string, content: string, mode: number, options: WriteOptions = {}): Promise<void> {
    const temp = path.posix.join(path.posix.dirname(file), `.${path.posix.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    return this.use(async ({ sftp }) => {
      try {
        const handle = await call<Buffer>((done) => sftp.open(temp, 'wx', { mode }, done));
        try {
          const data = Buffer.from(content, 'utf8');
          if (data.length > 0) await call((done) => sftp.write(handle, data, 0, data.length, 0, (error) => done(error)));
          await call((done) => sftp.ext_openssh_fsync(handle, (error) => done(error)));
          if (options.owner) await call((done) => sftp.fchown(handle, options.owner!.uid, options.owner!.gid, done));
        } finally {
          await call((done) => sftp.close(handle, done));
        }
        await call((done) => sftp.chmod(temp, mode, done));
        if (options.increaseMtime) {
          const previous = await call<Stats>((done) => sftp.stat(file, done)).then((stat) => stat.mtime, () => 0);
          const seconds = Math.max(Math.floor(Date.now() / 1000), previous + 1);
          await call((done) => sftp.utimes(temp, seconds, seconds, done));
        }
        // Plain SFTP rename refuses an existing target; OpenSSH's extension is rename(2).
        await call((done) => sftp.ext_openssh_rename(temp, file, done));
      } catch (error) {
        await call((done) => sftp.unlink(temp, done)).catch(() => undefined);
        throw error;
      }
    });
  }

  removeFile(file: string): Promise<void> {
    return this.use(async ({ sftp }) => {
      try {
        await call((done) => sftp.unlink(file, done));
      } catch (error) {
        if (sftpCode(error) !== SFTP_NO_SUCH_FILE) throw error;
      }
    });
  }

  async removeTree(dir: string): Promise<void> {
    const result = await this.run(['rm', '-rf', '--', dir], 300_000);
    if (result.code !== 0) throw new HostError(`rm -rf ${dir} on ${this.target.host} failed: ${result.stderr.trim()}`, false);
  }

  exists(file: string): Promise<boolean> {
    return this.use(async ({ sftp }) => {
      try {
        await call<Stats>((done) => sftp.lstat(file, done));
        return true;
      } catch (error) {
        if (sftpCode(error) === SFTP_NO_SUCH_FILE) return false;
        throw error;
      }
    });
  }

  readLink(link: string): Promise<string | null> {
    return this.use(async ({ sftp }) => {
      try {
        return await call<string>((done) => sftp.readlink(link, done));
      } catch (error) {
        if (sftpCode(error) === SFTP_NO_SUCH_FILE) return null;
        throw error;
      }
    });
  }

  /** `ln -sfn` over exec: SFTP's symlink has its two paths swapped by OpenSSH, and it cannot replace a link. */
  async symlink(target: string, link: string): Promise<void> {
    const result = await this.run(['ln', '-sfn', '--', target, link], 30_000);
    if (result.code !== 0) throw new HostError(`ln -s ${target} ${link} on ${this.target.host} failed: ${result.stderr.trim()}`, false);
  }

  chown(file: string, uid: number, gid: number): Promise<void> {
    return this.use(({ sftp }) => call((done) => sftp.chown(file, uid, gid, done)));
  }

  withLock<T>(lockFile: string, work: () => Promise<T>): Promise<T> {
    const command = ['flock', '-x', '-w', '60', lockFile, '-c', 'echo locked; exec cat >/dev/null'].map(shellQuote).join(' ');
    return this.use(
      ({ client }) =>
        new Promise<T>((resolve, reject) => {
          client.exec(command, (error, stream) => {
            if (error) return reject(new HostError(`${this.description}: cannot run flock: ${error.message}`, false, { cause: error }));
            let held = false;
            const closed = new Promise<void>((done) => stream.once('close', () => done()));
            void closed.then(() => {
              if (!held) reject(new HostError(`${this.description}: flock ${lockFile} ended before it held the lock`, false));
            });
            stream.once('data', () => {
              held = true;
              // Closing stdin ends `cat`, so flock exits and releases the lock.
              work().then(
                async (value) => {
                  stream.end();
                  await closed;
                  resolve(value);
                },
                async (failure: unknown) => {
                  stream.end();
                  await closed;
                  reject(failure instanceof Error ? failure : new Error(String(failure)));
                },
              );
            });
          });
        }),
    );
  }

  /** Works when the SSH user may signal the process (nginx runs as that user); otherwise false. */
  async signal(pid: number, signal: 'SIGHUP' | 'SIGUSR1'): Promise<boolean> {
    const result = await this.run(['kill', `-${signal.slice(3)}`, String(pid)], 10_000);
    return result.code === 0;
  }

  run(argv: readonly string[], timeoutMs: number): Promise<RunResult> {
    const command = argv.map(shellQuote).join(' ');
    return this.use(
      ({ client }) =>
        new Promise<RunResult>((resolve, reject) => {
          client.exec(command, (error, stream) => {
            if (error) return reject(new HostError(`${this.description}: cannot run ${argv[0] ?? ''}: ${error.message}`, false, { cause: error }));
            const stdout: Buffer[] = [];
            const stderr: Buffer[] = [];
            let code: number | null = null;
            const timer = setTimeout(() => {
              stream.close();
              reject(new HostError(`${this.description}: ${argv[0] ?? ''} timed out after ${timeoutMs} ms`, false));
            }, timeoutMs);
            stream.on('data', (chunk: Buffer) => stdout.push(chunk));
            stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
            stream.on('exit', (exitCode: unknown) => {
              code = typeof exitCode === 'number' ? exitCode : null;
            });
            stream.on('close', () => {
              clearTimeout(timer);
              // No exit status: killed by a signal, reported like a shell does.
              resolve({ code: code ?? 128, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
            });
          });
        }),
    );
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const current = this.session;
    this.session = null;
    if (!current) return;
    const session = await current.catch(() => null);
    if (session && !session.closed) session.client.end();
  }
}
