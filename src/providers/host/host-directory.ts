import { HostError, type HostTransport } from './host.port.js';
import { LocalHost } from './local-host.js';
import { SshHost } from './ssh-host.js';

/** What a transport needs from a servers row (the row itself fits). */
export interface HostTarget {
  readonly hostname: string;
  readonly driver: 'LOCAL' | 'SSH';
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  readonly sshHost: string | null;
  readonly sshPort: number | null;
  readonly sshUser: string | null;
  readonly sshHostKey: string | null;
}

export interface HostSettings {
  /** Private key (OpenSSH or PEM file) the SSH transport logs in with; null: SSH servers cannot be reached. */
  readonly sshPrivateKeyPath: string | null;
}

/**
 * One transport per machine, shared by every adapter that acts on it (web, mail, certificates),
 * and per-resource serialisation on it: two orders writing the same file (a mail map, a vhost
 * batch) on one server never interleave, while different files and servers proceed in parallel.
 * Per process: built once in the composition root. Two worker processes on the same server
 * serialise only their own writes, which is why writers replace files atomically.
 */
export class HostDirectory {
  private readonly transports = new Map<string, HostTransport>();
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly settings: HostSettings) {}

  private sshDetails(server: HostTarget) {
    const host = server.sshHost ?? server.ipv4 ?? server.ipv6;
    if (!host || !server.sshUser || !server.sshHostKey) {
      throw new HostError(`server ${server.hostname} uses the SSH driver but has no ssh_host/address, ssh_user or ssh_host_key`, true);
    }
    if (!this.settings.sshPrivateKeyPath) throw new HostError('SSH_PRIVATE_KEY_PATH is not set: the SSH driver has no key to log in with', true);
    return { host, port: server.sshPort ?? 22, username: server.sshUser, hostKey: server.sshHostKey, privateKeyPath: this.settings.sshPrivateKeyPath };
  }

  /** Names the machine a servers row reaches: rows naming the same machine share one transport. */
  keyOf(server: HostTarget): string {
    if (server.driver === 'LOCAL') return 'local';
    const ssh = this.sshDetails(server);
    return `ssh ${ssh.username}@${ssh.host}:${ssh.port} ${ssh.hostKey} ${ssh.privateKeyPath}`;
  }

  transportFor(server: HostTarget): HostTransport {
    const key = this.keyOf(server);
    let transport = this.transports.get(key);
    if (!transport) {
      transport = server.driver === 'SSH' ? new SshHost(this.sshDetails(server)) : new LocalHost();
      this.transports.set(key, transport);
    }
    return transport;
  }

  /**
   * Runs `work` once every earlier call for the same server and resource has settled (whatever
   * its outcome), so read-modify-write of a shared file on that server is never interleaved.
   */
  exclusive<T>(server: HostTarget, resource: string, work: () => Promise<T>): Promise<T> {
    const key = `${this.keyOf(server)}\u0000${resource}`;
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  async close(): Promise<void> {
    await Promise.all([...this.transports.values()].map((transport) => transport.close()));
    this.transports.clear();
  }
}
