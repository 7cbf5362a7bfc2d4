import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startPrivateNginx, waitForAnswer, type PrivateNginx } from '../../../test/helpers/nginx.js';
import { HostDirectory } from '../host/host-directory.js';
import { HostError, HostKeyMismatchError } from '../host/host.port.js';
import { NginxProvider, type NginxSettings } from './nginx-provider.js';
import { InvalidSiteDomainError, type HostingLayout, type WebServerTarget } from '../hosting.port.js';
import { NginxHosting } from './nginx-hosting.js';
import { NginxReloader } from './nginx-reloader.js';
import { SshHost, type SshTarget } from '../host/ssh-host.js';
import { renderPlaceholder } from './vhost.js';

/**
 * The SSH driver against a real sshd on 127.0.0.1 started here (key auth only, the dedicated
 * user `mpanel-agent`, see the infra recipe), driving a private nginx that runs as that user: the
 * same operations as the local driver, on the "remote" side through SFTP and exec.
 */
const AGENT = 'mpanel-agent';
let nginx: PrivateNginx;
let keys: string;
let sshPort: number;
let layout: HostingLayout;
let target: SshTarget;
let agent: { uid: number; gid: number };
const run = randomBytes(3).toString('hex');
const domainFor = (label: string) => `${label}-${run}.ssh-driver.test`;

function ensureAgentUser(): { uid: number; gid: number } {
  if (spawnSync('id', ['-u', AGENT]).status !== 0) execFileSync('useradd', ['-m', '-s', '/bin/bash', AGENT]);
  // A new account is "locked" (! in /etc/shadow) and sshd without PAM refuses even key logins.
  execFileSync('usermod', ['-p', '*', AGENT]);
  const id = (flag: string) => Number(execFileSync('id', [flag, AGENT], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}; sshd log:\n${readFileSync(path.join(keys, 'sshd.log'), 'utf8')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  agent = ensureAgentUser();
  nginx = await startPrivateNginx({ user: agent });
  keys = mkdtempSync(path.join(tmpdir(), 'mpanel-sshd-'));
  for (const name of ['host_key', 'client_key', 'other_host_key']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(keys, name)]);
  // sshd reads authorized keys as the user: a file of theirs, in their directory.
  const authorizedKeys = path.join(nginx.dir, 'authorized_keys');
  await fs.copyFile(path.join(keys, 'client_key.pub'), authorizedKeys);
  await fs.chown(authorizedKeys, agent.uid, agent.gid);
  await fs.chmod(authorizedKeys, 0o600);
  sshPort = await freePort();
  await fs.writeFile(
    path.join(keys, 'sshd_config'),
    [
      `Port ${sshPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(keys, 'host_key')}`,
      `PidFile ${path.join(keys, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${authorizedKeys}`,
      // The key file lives under /tmp (mode 1777), which StrictModes would refuse.
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin no',
      `AllowUsers ${AGENT}`,
      // Files go over SFTP (Debian's stock sshd_config has this line; a bare config does not).
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
  execFileSync('/usr/sbin/sshd', ['-t', '-f', path.join(keys, 'sshd_config')]);
  execFileSync('/usr/sbin/sshd', ['-f', path.join(keys, 'sshd_config'), '-E', path.join(keys, 'sshd.log')], { stdio: 'ignore' });
  await waitForPort(sshPort);

  layout = { webRoot: nginx.webRoot, sitesDir: nginx.sitesDir, nginxConf: nginx.conf, nginxCommand: ['/usr/sbin/nginx'] };
  target = {
    host: '127.0.0.1',
    port: sshPort,
    username: AGENT,
    hostKey: readFileSync(path.join(keys, 'host_key.pub'), 'utf8'),
    privateKeyPath: path.join(keys, 'client_key'),
  };
});

afterAll(async () => {
  const pidFile = keys ? path.join(keys, 'sshd.pid') : '';
  if (pidFile && existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
  await nginx?.stop();
  if (keys) await fs.rm(keys, { recursive: true, force: true });
});

/** Hosting over its own SSH connection, which `close()` ends. */
function sshHosting(overrides: Partial<SshTarget> = {}): NginxHosting & { close(): Promise<void> } {
  const host = new SshHost({ ...target, ...overrides });
  const hosting = new NginxHosting({ host, layout, listen: { ipv4: '127.0.0.1', ipv6: null, port: nginx.port }, reloader: new NginxReloader(host, layout, 20) });
  return Object.assign(hosting, { close: () => host.close() });
}

describe('SSH driver (real sshd on 127.0.0.1, key auth, pinned host key)', () => {
  it('ensureSite creates the site on the remote host as the SSH user, and nginx there serves it; a re-run changes nothing', async () => {
    const hosting = sshHosting();
    try {
      const domain = domainFor('site');
      const result = await hosting.ensureSite(domain);
      const siteDir = path.join(layout.webRoot, domain);
      expect(result).toMatchObject({ docroot: path.join(siteDir, 'public'), placeholder: true, vhostChanged: true });
      expect(await fs.readFile(path.join(siteDir, 'public', 'index.html'), 'utf8')).toBe(renderPlaceholder(domain));
      const index = await fs.stat(path.join(siteDir, 'public', 'index.html'));
      expect([index.uid, index.mode & 0o777]).toEqual([agent.uid, 0o644]);
      const docroot = await fs.stat(path.join(siteDir, 'public'));
      expect([docroot.uid, docroot.mode & 0o777]).toEqual([agent.uid, 0o755]);
      expect((await fs.stat(result.vhostPath)).mode & 0o777).toBe(0o644);
      for (const name of [domain, `www.${domain}`]) expect((await waitForAnswer(nginx.port, name, (a) => a.status === 200)).body).toContain(`<h1>${domain}</h1>`);

      const again = await hosting.ensureSite(domain);
      expect(again).toEqual({ ...result, vhostChanged: false });
      expect((await fs.readdir(layout.sitesDir)).filter((name) => name.includes(domain))).toEqual([`${domain}.conf`]);
    } finally {
      await hosting.close();
    }
  });

  it('batches concurrent changes into few reloads over one connection', async () => {
    const hosting = sshHosting();
    try {
      const domains = Array.from({ length: 8 }, (_, index) => domainFor(`many${index}`));
      await Promise.all(domains.map((domain) => hosting.ensureSite(domain)));
      expect(hosting.stats.reloads).toBeLessThanOrEqual(2);
      // Confirmed over SFTP too: the master's children read from /proc on the remote host.
      expect(hosting.stats.confirmed).toBe(hosting.stats.reloads);
      for (const domain of domains) await waitForAnswer(nginx.port, domain, (a) => a.status === 200);
    } finally {
      await hosting.close();
    }
  });

  it('suspends, unsuspends and removes with an archive, as the local driver does', async () => {
    const hosting = sshHosting();
    try {
      const domain = domainFor('cycle');
      await hosting.ensureSite(domain);
      await hosting.suspendSite(domain);
      expect((await waitForAnswer(nginx.port, domain, (a) => a.status === 503)).body).toContain('suspended');
      await hosting.unsuspendSite(domain);
      await waitForAnswer(nginx.port, domain, (a) => a.status === 200);
      const archiveDir = path.join(nginx.dir, 'archive');
      const removed = await hosting.removeSite(domain, archiveDir);
      expect(removed.archive).toMatch(new RegExp(`^${archiveDir}/${domain.replaceAll('.', '\\.')}-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
      expect(execFileSync('tar', ['-tzf', removed.archive!], { encoding: 'utf8' })).toContain(`${domain}/public/index.html`);
      expect((await fs.stat(archiveDir)).mode & 0o777).toBe(0o700);
      await waitForAnswer(nginx.port, domain, (a) => a.status === 404);
      expect(existsSync(path.join(layout.webRoot, domain))).toBe(false);
    } finally {
      await hosting.close();
    }
  });

  it('works through the nginx provider for a servers row with driver SSH', async () => {
    const server: WebServerTarget = {
      id: `ssh-${run}`,
      hostname: 'web-ssh.test',
      driver: 'SSH',
      ipv4: '127.0.0.1',
      ipv6: null,
      httpPort: nginx.port,
      sshHost: '127.0.0.1',
      sshPort,
      sshUser: AGENT,
      sshHostKey: target.hostKey,
    };
    // The shipped layout (shared): links and markers over SFTP and exec, one reload for the shared file.
    const settings: NginxSettings = { layout, batchWindowMs: 20, fileOwner: null, siteErrorLogs: false, siteLayout: 'shared' };
    const hosts = new HostDirectory({ sshPrivateKeyPath: target.privateKeyPath });
    const provider = new NginxProvider(hosts, settings);
    const hosting = provider.forServer(server);
    expect(hosting.description).toBe(`ssh ${AGENT}@127.0.0.1:${sshPort}`);
    expect(provider.forServer(server)).toBe(hosting);
    try {
      const domain = domainFor('row');
      const site = await hosting.ensureSite(domain);
      expect(site.vhostPath).toBe(path.join(layout.sitesDir, '_mpanel-sites.conf'));
      await waitForAnswer(nginx.port, domain, (a) => a.status === 200);
      await waitForAnswer(nginx.port, `www.${domain}`, (a) => a.status === 200);
      expect(existsSync(path.join(layout.sitesDir, `${domain}.conf`))).toBe(false);
      await hosting.suspendSite(domain);
      expect((await waitForAnswer(nginx.port, domain, (a) => a.status === 503)).body).toContain('suspended');
      await hosting.unsuspendSite(domain);
      await waitForAnswer(nginx.port, domain, (a) => a.status === 200);
      // The worker (the agent's user here) writes the site's access log.
      expect(await fs.readFile(path.join(layout.webRoot, domain, 'logs', 'access.log'), 'utf8')).toContain('GET / ');
    } finally {
      await hosts.close();
    }
    expect(() => new NginxProvider(new HostDirectory({ sshPrivateKeyPath: null }), settings).forServer({ ...server, id: `nokey-${run}` })).toThrow(/SSH_PRIVATE_KEY_PATH/);
    expect(() => provider.forServer({ ...server, id: `nouser-${run}`, sshUser: null })).toThrow(HostError);
  });

  it('refuses a server whose host key is not the pinned one, before anything is written', async () => {
    const hosting = sshHosting({ hostKey: readFileSync(path.join(keys, 'other_host_key.pub'), 'utf8') });
    const domain = domainFor('mitm');
    try {
      const error = await hosting.ensureSite(domain).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HostKeyMismatchError);
      expect((error as HostKeyMismatchError).permanent).toBe(true);
      expect((error as Error).message).toMatch(/presented host key SHA256:\S+, not the pinned SHA256:\S+/);
      expect(existsSync(path.join(layout.webRoot, domain))).toBe(false);
      expect(existsSync(path.join(layout.sitesDir, `${domain}.conf`))).toBe(false);
    } finally {
      await hosting.close();
    }
  });

  it('refuses a malformed pinned key, and a hostile domain before connecting at all', async () => {
    expect(() => new SshHost({ ...target, hostKey: 'ssh-ed25519 not-base64!' })).toThrow(HostError);
    // Port 1 refuses connections: an InvalidSiteDomainError proves no connection was attempted.
    const hosting = sshHosting({ port: 1 });
    await expect(hosting.ensureSite('../../etc/passwd')).rejects.toBeInstanceOf(InvalidSiteDomainError);
    await expect(hosting.ensureSite('ok-domain.test')).rejects.toThrow(/ECONNREFUSED/);
    await hosting.close();
  });
});
