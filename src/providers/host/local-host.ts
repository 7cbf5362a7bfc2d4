import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { HostError, type HostTransport, type RunResult, type WriteOptions } from './host.port.js';

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** The managed server is this machine: the worker runs beside nginx (or the mail server) (DESIGN.md "Providers"). */
export class LocalHost implements HostTransport {
  readonly description = 'local';

  async ensureDir(dir: string, mode: number): Promise<boolean> {
    try {
      await fs.mkdir(dir, { mode });
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') {
        if (!(await fs.stat(dir)).isDirectory()) throw new HostError(`${dir} exists and is not a directory`, true);
        return false;
      }
      if (code !== 'ENOENT') throw error;
      await this.ensureDir(path.dirname(dir), 0o755);
      return this.ensureDir(dir, mode);
    }
    // mkdir's mode is filtered by the umask; nginx's workers (nobody) need exactly `mode`.
    await fs.chmod(dir, mode);
    return true;
  }

  async readFile(file: string): Promise<string | null> {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  async writeFileAtomic(file: string, content: string, mode: number, options: WriteOptions = {}): Promise<void> {
    // A dot name that does not end in .conf: nginx's `include sites/*.conf` never reads it.
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await fs.open(temp, 'wx', mode);
      try {
        await handle.writeFile(content);
        await handle.sync();
        if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
        await handle.chmod(mode);
      } finally {
        await handle.close();
      }
      if (options.increaseMtime) {
        const previous = await fs.stat(file).then((stat) => Math.floor(stat.mtimeMs / 1000), () => 0);
        const seconds = Math.max(Math.floor(Date.now() / 1000), previous + 1);
        await fs.utimes(temp, seconds, seconds);
      }
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async withLock<T>(lockFile: string, work: () => Promise<T>): Promise<T> {
    // flock(1) holds the lock while its child reads stdin; closing stdin releases it.
    const holder = spawn('flock', ['-x', '-w', '60', lockFile, '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = once(holder, 'exit');
    let stderr = '';
    holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      holder.once('error', (error) => reject(new HostError(`flock ${lockFile} could not start: ${error.message}`, false, { cause: error })));
      void exited.then(([code]) => reject(new HostError(`flock ${lockFile} exited (${String(code)}) before it held the lock: ${stderr.trim()}`, false)));
      holder.stdout.once('data', () => resolve());
    });
    try {
      return await work();
    } finally {
      holder.stdin.end();
      await exited;
    }
  }

  async removeFile(file: string): Promise<void> {
    await fs.rm(file, { force: true });
  }

  async removeTree(dir: string): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true });
  }

  async exists(file: string): Promise<boolean> {
    try {
      await fs.lstat(file);
      return true;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async readLink(link: string): Promise<string | null> {
    try {
      return await fs.readlink(link);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
  }

  async symlink(target: string, link: string): Promise<void> {
    const temp = path.join(path.dirname(link), `.${path.basename(link)}.${randomBytes(6).toString('hex')}.tmp`);
    await fs.symlink(target, temp);
    try {
      await fs.rename(temp, link);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  async chown(file: string, uid: number, gid: number): Promise<void> {
    await fs.chown(file, uid, gid);
  }

  async signal(pid: number, signal: 'SIGHUP' | 'SIGUSR1'): Promise<boolean> {
    try {
      process.kill(pid, signal);
      return true;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EPERM' || code === 'ESRCH') return false;
      throw error;
    }
  }

  run(argv: readonly string[], timeoutMs: number): Promise<RunResult> {
    const [command, ...args] = argv;
    if (!command) return Promise.reject(new Error('empty command'));
    return new Promise((resolve, reject) => {
      execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        // A non-zero exit is a result; a command that could not start (ENOENT) or timed out is not.
        if (typeof error.code === 'number') return resolve({ code: error.code, stdout, stderr });
        reject(new HostError(`${command} failed: ${error.killed ? `timed out after ${timeoutMs} ms` : error.message}`, false, { cause: error }));
      });
    });
  }

  async close(): Promise<void> {}
}
