import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { HostError, type HostTransport, type RunResult } from './host.port.js';

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

  async writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
    // A dot name that does not end in .conf: nginx's `include sites/*.conf` never reads it.
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.writeFile(temp, content, { mode, flag: 'wx' });
      await fs.chmod(temp, mode);
      await fs.rename(temp, file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
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

  async chown(file: string, uid: number, gid: number): Promise<void> {
    await fs.chown(file, uid, gid);
  }

  async signal(pid: number, signal: 'SIGHUP'): Promise<boolean> {
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
