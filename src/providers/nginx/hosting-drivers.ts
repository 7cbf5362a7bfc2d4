import type { Env } from '../../config/env.js';
import { HostingError, type HostingLayout } from './hosting.port.js';
import { LocalHost } from './local-host.js';
import { NginxHosting } from './nginx-hosting.js';
import { NginxReloader } from './nginx-reloader.js';
import { SshHost } from './ssh-host.js';
import type { WebHost } from './web-host.js';

/** What a driver needs from a servers row (the row itself fits). */
export interface WebServerTarget {
  readonly id: string;
  readonly hostname: string;
  readonly driver: 'LOCAL' | 'SSH';
  readonly ipv4: string | null;
  readonly ipv6: string | null;
  readonly httpPort: number;
  readonly sshHost: string | null;
  readonly sshPort: number | null;
  readonly sshUser: string | null;
  readonly sshHostKey: string | null;
}

export interface HostingSettings {
  /** The same layout on every web server (local or remote). */
  readonly layout: HostingLayout;
  readonly batchWindowMs: number;
  readonly fileOwner: { readonly uid: number; readonly gid: number } | null;
  readonly sshPrivateKeyPath: string | null;
  readonly siteErrorLogs: boolean;
}

export function hostingSettings(
  env: Pick<Env, 'WEB_ROOT' | 'NGINX_SITES_DIR' | 'NGINX_CONF' | 'NGINX_COMMAND' | 'NGINX_RELOAD_BATCH_MS' | 'NGINX_SITE_ERROR_LOGS' | 'WEB_FILE_OWNER' | 'SSH_PRIVATE_KEY_PATH'>,
): HostingSettings {
  const owner = env.WEB_FILE_OWNER === undefined ? null : /^(\d+):(\d+)$/.exec(env.WEB_FILE_OWNER);
  return {
    layout: { webRoot: env.WEB_ROOT, sitesDir: env.NGINX_SITES_DIR, nginxConf: env.NGINX_CONF, nginxCommand: env.NGINX_COMMAND.split(/\s+/).filter(Boolean) },
    batchWindowMs: env.NGINX_RELOAD_BATCH_MS,
    fileOwner: owner ? { uid: Number(owner[1]), gid: Number(owner[2]) } : null,
    sshPrivateKeyPath: env.SSH_PRIVATE_KEY_PATH ?? null,
    siteErrorLogs: env.NGINX_SITE_ERROR_LOGS,
  };
}

interface Target {
  readonly host: WebHost;
  readonly reloader: NginxReloader;
}

/**
 * One host connection and one reloader per nginx (so reloads are serialised and batched per
 * server even when several servers rows name the same machine), and one NginxHosting per servers
 * row, rebuilt when the row's connection details change. Per process: two worker processes on the
 * same web server each batch and serialise their own changes; nginx copes with their reloads, but a
 * change that breaks `nginx -t` in one makes the other's concurrent test fail too (retryable).
 */
const targets = new Map<string, Target>();
const hostings = new Map<string, { fingerprint: string; hosting: NginxHosting }>();

function sshDetails(server: WebServerTarget, settings: HostingSettings) {
  const host = server.sshHost ?? server.ipv4 ?? server.ipv6;
  if (!host || !server.sshUser || !server.sshHostKey) {
    throw new HostingError(`server ${server.hostname} uses the SSH driver but has no ssh_host/address, ssh_user or ssh_host_key`, true);
  }
  if (!settings.sshPrivateKeyPath) throw new HostingError('SSH_PRIVATE_KEY_PATH is not set: the SSH hosting driver has no key to log in with', true);
  return { host, port: server.sshPort ?? 22, username: server.sshUser, hostKey: server.sshHostKey, privateKeyPath: settings.sshPrivateKeyPath };
}

function targetFor(server: WebServerTarget, settings: HostingSettings): Target {
  const ssh = server.driver === 'SSH' ? sshDetails(server, settings) : null;
  const key = ssh
    ? `ssh ${ssh.username}@${ssh.host}:${ssh.port} ${ssh.hostKey} ${ssh.privateKeyPath} ${settings.layout.nginxConf}`
    : `local ${settings.layout.nginxConf}`;
  let target = targets.get(key);
  if (!target) {
    const host: WebHost = ssh ? new SshHost(ssh) : new LocalHost();
    target = { host, reloader: new NginxReloader(host, settings.layout, settings.batchWindowMs) };
    targets.set(key, target);
  }
  return target;
}

/** The hosting driver for a web server row (cached: its connection and its reload batching are shared). */
export function hostingForServer(server: WebServerTarget, settings: HostingSettings): NginxHosting {
  const fingerprint = JSON.stringify([server.driver, server.ipv4, server.ipv6, server.httpPort, server.sshHost, server.sshPort, server.sshUser, server.sshHostKey, settings]);
  const cached = hostings.get(server.id);
  if (cached?.fingerprint === fingerprint) return cached.hosting;
  const target = targetFor(server, settings);
  const hosting = new NginxHosting({
    host: target.host,
    layout: settings.layout,
    listen: { ipv4: server.ipv4, ipv6: server.ipv6, port: server.httpPort },
    fileOwner: settings.fileOwner,
    reloader: target.reloader,
    siteErrorLog: settings.siteErrorLogs,
  });
  hostings.set(server.id, { fingerprint, hosting });
  return hosting;
}
