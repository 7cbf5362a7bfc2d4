import fs from 'node:fs/promises';
import path from 'node:path';
import { loadEnv } from '../../src/config/env.js';
import { nginxSettings } from '../../src/container.js';
import type { HostingLayout } from '../../src/providers/hosting.port.js';
import { LocalHost } from '../../src/providers/host/local-host.js';
import { NginxHosting } from '../../src/providers/nginx/nginx-hosting.js';
import { NginxReloader } from '../../src/providers/nginx/nginx-reloader.js';
import { namesDir, renderPlaceholder, renderVhost, siteNames, sitePaths } from '../../src/providers/nginx/vhost.js';
import { startPrivateNginx, type PrivateNginx } from '../../test/helpers/nginx.js';
import { round, summary, type Figure } from './lib.js';
import { execFileAsync, nginxMasterPid, waitServed } from './provisioning.js';

/**
 * nginx with many sites (issue 8), on a PRIVATE nginx this section starts under a temp prefix on a
 * free port (the shared one on NGINX_HTTP_PORT is left alone), its files written as the provider
 * writes them (vhost.ts):
 *  - the per-site layout's reload time: `nginx -t` + SIGHUP until a new vhost is served, with 1,
 *    1,000 and 5,000 sites (why the shared layout is the default);
 *  - with 5,000 sites in the configured layout (NGINX_SITE_LAYOUT, shared unless set; the per-site
 *    vhosts are turned into shared-layout sites first), a new site through the provider
 *    (NginxHosting.ensureSite, what PROVISION_HOSTING calls, with the configured
 *    NGINX_RELOAD_BATCH_MS) until it is served: one site at a time, then 20 at once. In the shared
 *    layout the first ensureSite of a process loads the shared file (one reload), reported apart.
 * Open files: every site's log is open in nginx's master and workers, twice in the master during a
 * reload. The bench runs with per-site error logs off (NGINX_SITE_ERROR_LOGS=false unless the
 * environment says otherwise) and nginx's RLIMIT_NOFILE at this process's hard limit; both are
 * reported.
 */

const SECTION = 'nginx';
const SITE_COUNTS = [1, 1_000, Number(process.env.BENCH_NGINX_SITES ?? 5_000)];
const REPS = 5;
const BURST = 20;
const TARGET_NEW_SITE_MS = 1_000;
const SUFFIX = 'bench-nginx.test';

const env = loadEnv({ NGINX_SITE_ERROR_LOGS: 'false', ...process.env });

export async function hardOpenFilesLimit(): Promise<number> {
  const limits = await fs.readFile('/proc/self/limits', 'utf8');
  const hard = /^Max open files\s+\S+\s+(\d+)/m.exec(limits)?.[1];
  if (!hard) throw new Error('cannot read the open-files limit from /proc/self/limits');
  return Number(hard);
}

/** A site's directories, placeholder and vhost as the provider writes them, written directly (bench fills). */
export async function writeSiteFiles(layout: HostingLayout, domain: string, vhost: string): Promise<void> {
  const paths = sitePaths(layout, domain);
  await fs.mkdir(paths.docroot, { recursive: true, mode: 0o755 });
  await fs.mkdir(paths.logsDir, { mode: 0o755 });
  await fs.writeFile(paths.index, renderPlaceholder(domain), { mode: 0o644 });
  await fs.writeFile(paths.vhost, vhost, { mode: 0o644 });
}

/**
 * A site as the shared layout leaves it (state directory, its `site` link, one index link per
 * name), written directly; the directories and placeholder must exist (writeSiteFiles).
 */
export async function writeSharedEntries(layout: HostingLayout, domain: string, worker: { uid: number; gid: number }): Promise<void> {
  const paths = sitePaths(layout, domain);
  await fs.mkdir(namesDir(layout), { recursive: true, mode: 0o711 });
  await fs.mkdir(paths.certDir, { recursive: true, mode: 0o700 });
  await fs.chown(paths.certDir, worker.uid, worker.gid);
  await fs.chown(paths.logsDir, worker.uid, worker.gid);
  await fs.rm(path.join(paths.certDir, 'site'), { force: true });
  await fs.symlink(paths.siteDir, path.join(paths.certDir, 'site'));
  for (const name of siteNames(domain)) {
    await fs.rm(path.join(namesDir(layout), name), { force: true });
    await fs.symlink(paths.certDir, path.join(namesDir(layout), name));
  }
}

/** nginx's worker user (NGINX_TLS_KEY_OWNER, as the provider reads it). */
export function workerUser(): { uid: number; gid: number } {
  const owner = nginxSettings(env).tlsKeyOwner;
  if (!owner) throw new Error('NGINX_TLS_KEY_OWNER names no uid:gid');
  return owner;
}

export async function benchNginx(): Promise<Figure[]> {
  const maxOpenFiles = await hardOpenFilesLimit();
  const nginx: PrivateNginx = await startPrivateNginx({ maxOpenFiles });
  const layout: HostingLayout = { webRoot: nginx.webRoot, sitesDir: nginx.sitesDir, nginxConf: nginx.conf, nginxCommand: ['nginx'] };
  const listen = { ipv4: '127.0.0.1', ipv6: null, port: nginx.port };
  const siteErrorLog = env.NGINX_SITE_ERROR_LOGS;
  let sites = 0;
  const nextDomain = () => `s${++sites}.${SUFFIX}`;

  /** A site as the provider leaves it (directories, placeholder, vhost), written directly: the fill is not what is measured. */
  const writeSite = (domain: string) => writeSiteFiles(layout, domain, renderVhost(layout, listen, domain, 'active', { siteErrorLog }));

  async function fillTo(count: number): Promise<void> {
    const missing = Array.from({ length: Math.max(0, count - sites) }, nextDomain);
    for (let i = 0; i < missing.length; i += 64) await Promise.all(missing.slice(i, i + 64).map(writeSite));
  }

  /** One new vhost, then `nginx -t` + SIGHUP (as the reloader does) until nginx serves it. */
  async function reloadOnce(): Promise<{ total: number; test: number }> {
    const domain = nextDomain();
    await writeSite(domain);
    const started = performance.now();
    await execFileAsync('nginx', ['-p', path.dirname(nginx.conf), '-c', nginx.conf, '-t', '-q']);
    const tested = performance.now();
    process.kill(await nginxMasterPid(nginx.conf), 'SIGHUP');
    const served = await waitServed(nginx.port, domain);
    return { total: served - started, test: tested - started };
  }

  const figures: Figure[] = [
    { section: SECTION, name: `private nginx RLIMIT_NOFILE (NGINX_SITE_ERROR_LOGS=${siteErrorLog})`, value: maxOpenFiles, unit: 'files' },
  ];
  try {
    for (const count of SITE_COUNTS) {
      await fillTo(count - 1);
      const runs: { total: number; test: number }[] = [];
      for (let i = 0; i < REPS; i++) runs.push(await reloadOnce());
      const total = summary(runs.map((r) => r.total));
      const test = summary(runs.map((r) => r.test));
      const label = `${count.toLocaleString('en-US')} site${count === 1 ? '' : 's'}`;
      figures.push(
        { section: SECTION, name: `per-site layout, ${label}: nginx -t + reload → served p50`, value: round(total.p50, 0), unit: 'ms' },
        { section: SECTION, name: `per-site layout, ${label}: nginx -t + reload → served max (${REPS} runs)`, value: round(total.max, 0), unit: 'ms' },
        { section: SECTION, name: `per-site layout, ${label}: of which nginx -t p50`, value: round(test.p50, 0), unit: 'ms' },
      );
      process.stderr.write(`bench: nginx reload with ${label}: p50 ${round(total.p50, 0)} ms\n`);
    }

    const siteLayout = env.NGINX_SITE_LAYOUT;
    const host = new LocalHost();
    const reloader = new NginxReloader(host, layout, env.NGINX_RELOAD_BATCH_MS);
    const hosting = new NginxHosting({ host, layout, listen, reloader, siteErrorLog, siteLayout, tlsKeyOwner: workerUser() });
    if (siteLayout === 'shared') {
      // Every site so far moves to the shared layout (its vhost goes), then a just-started
      // worker's first site loads the shared file.
      const domains = Array.from({ length: sites }, (_, index) => `s${index + 1}.${SUFFIX}`);
      for (let i = 0; i < domains.length; i += 64) {
        await Promise.all(domains.slice(i, i + 64).map(async (domain) => {
          await writeSharedEntries(layout, domain, workerUser());
          await fs.rm(sitePaths(layout, domain).vhost);
        }));
      }
      const domain = nextDomain();
      const started = performance.now();
      await hosting.ensureSite(domain);
      const firstMs = (await waitServed(nginx.port, domain)) - started;
      figures.push({ section: SECTION, name: `shared layout: a just-started worker's first site (loads the shared file: ${reloader.stats.reloads} reload) → served`, value: round(firstMs, 0), unit: 'ms' });
    }
    const newSite = async (): Promise<number> => {
      const domain = nextDomain();
      const started = performance.now();
      await hosting.ensureSite(domain);
      return (await waitServed(nginx.port, domain)) - started;
    };
    const single: number[] = [];
    for (let i = 0; i < REPS; i++) single.push(await newSite());
    const reloadsBefore = reloader.stats.reloads;
    const burst = await Promise.all(Array.from({ length: BURST }, newSite));
    const burstReloads = reloader.stats.reloads - reloadsBefore;

    const label = `${siteLayout} layout, new site with ${sites.toLocaleString('en-US')} sites`;
    const one = summary(single);
    const many = summary(burst);
    figures.push(
      { section: SECTION, name: `${label}: ensureSite → served p50`, value: round(one.p50, 0), unit: 'ms' },
      { section: SECTION, name: `${label}: ensureSite → served max (${REPS} runs)`, value: round(one.max, 0), unit: 'ms', target: `<= ${TARGET_NEW_SITE_MS} ms`, met: one.max <= TARGET_NEW_SITE_MS },
      { section: SECTION, name: `${siteLayout} layout, ${BURST} new sites at once: slowest ensureSite → served`, value: round(many.max, 0), unit: 'ms', target: `<= ${TARGET_NEW_SITE_MS} ms`, met: many.max <= TARGET_NEW_SITE_MS },
      { section: SECTION, name: `${siteLayout} layout, ${BURST} new sites at once: reloads`, value: burstReloads, unit: 'reloads' },
    );
    return figures;
  } finally {
    await nginx.stop();
  }
}
