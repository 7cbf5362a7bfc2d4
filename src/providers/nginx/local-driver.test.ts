import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import { getByHost, waitForAnswer } from '../../../test/helpers/nginx.js';
import { nginxSettings } from '../../container.js';
import { InvalidSiteDomainError, type HostingLayout } from '../hosting.port.js';
import { LocalHost } from '../host/local-host.js';
import { NginxHosting } from './nginx-hosting.js';
import { NginxReloader } from './nginx-reloader.js';
import { renderPlaceholder } from './vhost.js';
import { recordingHost } from '../../../test/helpers/recording-host.js';

/**
 * The local driver against the shared nginx of scripts/services.sh (127.0.0.1:NGINX_HTTP_PORT).
 * Every domain is unique to this run, and removed (vhost and files) when the file ends.
 */
const env = loadEnv();
const settings = nginxSettings(env);
const { layout } = settings;
const port = env.NGINX_HTTP_PORT;
const listen = { ipv4: '127.0.0.1', ipv6: null, port };
const run = randomBytes(3).toString('hex');
const created = new Set<string>();

function newHosting(windowMs = settings.batchWindowMs): NginxHosting {
  const host = new LocalHost();
  return new NginxHosting({ host, layout, listen, reloader: new NginxReloader(host, layout, windowMs) });
}
const hosting = newHosting();

function domainFor(label: string): string {
  const domain = `${label}-${run}.local-driver.test`;
  created.add(domain);
  return domain;
}

afterAll(async () => {
  await Promise.all([...created].map((domain) => hosting.removeSite(domain, null)));
});

const mode = async (file: string) => (await fs.stat(file)).mode & 0o777;

describe('local driver: ensureSite', () => {
  it('creates the docroot, placeholder and vhost, tests and reloads nginx, and the site answers by Host', async () => {
    const domain = domainFor('fresh');
    const result = await hosting.ensureSite(domain);
    const siteDir = path.join(layout.webRoot, domain);
    expect(result).toEqual({
      domain,
      docroot: path.join(siteDir, 'public'),
      vhostPath: path.join(layout.sitesDir, `${domain}.conf`),
      placeholder: true,
      vhostChanged: true,
    });

    expect(await fs.readFile(path.join(siteDir, 'public', 'index.html'), 'utf8')).toBe(renderPlaceholder(domain));
    for (const dir of [siteDir, path.join(siteDir, 'public'), path.join(siteDir, 'logs')]) expect(await mode(dir)).toBe(0o755);
    expect(await mode(path.join(siteDir, 'public', 'index.html'))).toBe(0o644);
    expect(await mode(result.vhostPath)).toBe(0o644);
    const vhost = await fs.readFile(result.vhostPath, 'utf8');
    expect(vhost).toContain(`server_name ${domain} www.${domain};`);
    expect(vhost).toContain(`listen 127.0.0.1:${port};`);
    expect(vhost).toContain(`access_log ${siteDir}/logs/access.log;`);

    // The reload is asynchronous: poll with fresh connections.
    for (const name of [domain, `www.${domain}`]) {
      const answer = await waitForAnswer(port, name, (a) => a.status === 200);
      expect(answer.body).toContain(`<h1>${domain}</h1>`);
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(answer.headers['content-security-policy']).toBe("frame-ancestors 'self'");
      expect(answer.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
    }
    // Another name still gets the default server's 404: the vhost answers only for its own names.
    expect((await getByHost(port, `other-${domain}`)).status).toBe(404);
    // ACME HTTP-01 files are served from the site's directory, not the docroot.
    await fs.mkdir(path.join(siteDir, '.well-known', 'acme-challenge'), { recursive: true });
    await fs.writeFile(path.join(siteDir, '.well-known', 'acme-challenge', 'token-1'), 'key-authorization');
    // (Polled too: for a moment after a reload, an old worker may still take a new connection.)
    const token = await waitForAnswer(port, domain, (a) => a.status === 200, 5_000, '/.well-known/acme-challenge/token-1');
    expect(token.body).toBe('key-authorization');
    expect(token.headers['content-type']).toBe('text/plain');
    // nginx's access log for the site is in its own directory.
    await expect.poll(async () => (await fs.readFile(path.join(siteDir, 'logs', 'access.log'), 'utf8')).includes('token-1')).toBe(true);
  });

  it('is idempotent: a re-run leaves the same files and one vhost, and never overwrites the customer index.html', async () => {
    const domain = domainFor('again');
    const first = await hosting.ensureSite(domain);
    const vhostBefore = await fs.readFile(first.vhostPath, 'utf8');
    const second = await hosting.ensureSite(domain);
    expect(second).toEqual({ ...first, vhostChanged: false });
    expect(await fs.readFile(first.vhostPath, 'utf8')).toBe(vhostBefore);
    expect((await fs.readdir(layout.sitesDir)).filter((name) => name.includes(domain))).toEqual([`${domain}.conf`]);
    expect((await fs.readdir(path.join(layout.webRoot, domain))).sort()).toEqual(['logs', 'public']);

    await fs.writeFile(path.join(first.docroot, 'index.html'), '<p>customer site</p>');
    const third = await hosting.ensureSite(domain);
    expect(third.placeholder).toBe(false);
    expect(await fs.readFile(path.join(first.docroot, 'index.html'), 'utf8')).toBe('<p>customer site</p>');
    expect((await waitForAnswer(port, domain, (a) => a.body.includes('customer site'))).status).toBe(200);
  });

  it('with a file owner (WEB_FILE_OWNER): the site\'s directory, docroot and placeholder are theirs, the logs directory stays the worker\'s', async () => {
    const host = new LocalHost();
    const nobody = { uid: 65534, gid: 65534 };
    const owned = new NginxHosting({ host, layout, listen, fileOwner: nobody, reloader: new NginxReloader(host, layout, 0) });
    const domain = domainFor('owned');
    const site = await owned.ensureSite(domain);
    const owner = async (file: string) => {
      const stat = await fs.stat(file);
      return [stat.uid, stat.gid];
    };
    for (const file of [path.join(layout.webRoot, domain), site.docroot, path.join(site.docroot, 'index.html')]) expect(await owner(file), file).toEqual([65534, 65534]);
    expect(await owner(path.join(layout.webRoot, domain, 'logs'))).toEqual([process.getuid?.(), process.getgid?.()]);
    await waitForAnswer(port, domain, (a) => a.status === 200);
  });

  it('batches: 20 concurrent ensureSite calls share far fewer than 20 nginx tests and reloads', async () => {
    const batched = newHosting();
    const domains = Array.from({ length: 20 }, (_, index) => domainFor(`batch${index}`));
    await Promise.all(domains.map((domain) => batched.ensureSite(domain)));
    expect(batched.stats.reloads).toBeGreaterThanOrEqual(1);
    expect(batched.stats.reloads).toBeLessThanOrEqual(3);
    expect(batched.stats.tests).toBe(batched.stats.reloads);
    // Each reload was seen taking effect (the master started new workers).
    expect(batched.stats.confirmed).toBe(batched.stats.reloads);
    for (const domain of domains) await waitForAnswer(port, domain, (a) => a.status === 200 && a.body.includes(domain));
  });
});

describe('local driver: reloads', () => {
  it('falls back to `nginx -s reload` when it may not signal the master itself, and still confirms the reload', async () => {
    // As when the worker is not nginx's user and NGINX_COMMAND goes through sudo.
    class NoSignalHost extends LocalHost {
      override async signal(): Promise<boolean> {
        return false;
      }
    }
    const host = new NoSignalHost();
    const fallback = new NginxHosting({ host, layout, listen, reloader: new NginxReloader(host, layout, 0) });
    const domain = domainFor('fallback');
    await fallback.ensureSite(domain);
    expect(fallback.stats).toMatchObject({ reloads: 1, confirmed: 1 });
    await waitForAnswer(port, domain, (a) => a.status === 200);
  });

  it('a change that leaves a vhost as this reloader saw nginx load it needs no reload; one it has not seen loaded is reloaded', async () => {
    const domain = domainFor('asloaded');
    const own = newHosting(0);
    await own.ensureSite(domain);
    const after = { ...own.stats };
    await own.ensureSite(domain);
    expect(own.stats).toEqual({ ...after, batches: after.batches + 1, unchanged: after.unchanged + 1 });

    // A new process (a restarted worker) cannot know that nginx loaded the file: as after a crash
    // between writing it and reloading, it tests and reloads once, then knows.
    const restarted = newHosting(0);
    await restarted.ensureSite(domain);
    expect(restarted.stats).toMatchObject({ tests: 1, reloads: 1, unchanged: 0 });
    await restarted.ensureSite(domain);
    expect(restarted.stats).toMatchObject({ tests: 1, reloads: 1, unchanged: 1 });
  });

  it('once a change returns, no old worker answers any more: every connection made right after gets the new site', async () => {
    // The master starts the new workers and only 100 ms later stops the old ones, which serve the
    // old configuration meanwhile. A reload counts as done once they have stopped accepting.
    const statuses: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      const domain = domainFor(`instant${round}`);
      await hosting.ensureSite(domain);
      const answers = await Promise.all(Array.from({ length: 20 }, () => getByHost(port, domain)));
      statuses.push(...answers.map((answer) => answer.status));
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
  });
});

describe('local driver: suspend, unsuspend, remove', () => {
  it('suspends (503 page, files kept), unsuspends, then removes with an archive', async () => {
    const domain = domainFor('lifecycle');
    const site = await hosting.ensureSite(domain);
    await waitForAnswer(port, domain, (a) => a.status === 200);

    await hosting.suspendSite(domain);
    const suspended = await waitForAnswer(port, `www.${domain}`, (a) => a.status === 503);
    expect(suspended.body).toContain('This website is suspended');
    expect(suspended.headers['x-content-type-options']).toBe('nosniff');
    expect(await fs.readFile(path.join(site.docroot, 'index.html'), 'utf8')).toBe(renderPlaceholder(domain));

    await hosting.unsuspendSite(domain);
    expect((await waitForAnswer(port, domain, (a) => a.status === 200)).body).toContain(`<h1>${domain}</h1>`);

    const archives = mkdtempSync(path.join(tmpdir(), 'mpanel-archive-'));
    try {
      const removed = await hosting.removeSite(domain, archives);
      expect(removed.archive).toMatch(new RegExp(`^${archives}/${domain.replaceAll('.', '\\.')}-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
      await waitForAnswer(port, domain, (a) => a.status === 404);
      await expect(fs.access(site.vhostPath)).rejects.toThrow();
      await expect(fs.access(path.join(layout.webRoot, domain))).rejects.toThrow();
      const listing = execFileSync('tar', ['-tzf', removed.archive!], { encoding: 'utf8' }).split('\n');
      expect(listing).toContain(`${domain}/public/index.html`);
      // Again: nothing left to archive, and no error.
      expect(await hosting.removeSite(domain, archives)).toEqual({ archive: null });
    } finally {
      await fs.rm(archives, { recursive: true, force: true });
    }
  });
});

describe('the provider boundary refuses hostile domain names before touching anything', () => {
  const hostile = [
    '../etc',
    '../../root.test',
    'a/../../b.test',
    'evil.test/../../x',
    'with space.test',
    'semi;colon.test',
    'brace}.test',
    'brace{.test',
    'new\nline.test',
    'example.test\n}\nserver {',
    'unicodé.test',
    'ÉXAMPLE.test',
    'UPPER.test',
    `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.test`, // 254 characters
    'trailing-dot.test.',
    '',
    'single-label',
    '-leading-hyphen.test',
    'quote".test',
    "quote'.test",
    'dollar$host.test',
  ];

  it('every operation throws InvalidSiteDomainError and no file or command is touched', async () => {
    expect(hostile.find((name) => name.length === 254)).toBeDefined();
    const calls: string[] = [];
    // Records every operation, then fails it: nothing may reach the host.
    const recording = recordingHost(calls);
    const sandbox = mkdtempSync(path.join(tmpdir(), 'mpanel-hostile-'));
    const sandboxLayout: HostingLayout = { ...layout, webRoot: path.join(sandbox, 'www'), sitesDir: path.join(sandbox, 'sites') };
    const guarded = new NginxHosting({ host: recording, layout: sandboxLayout, listen, reloader: new NginxReloader(recording, sandboxLayout, 0) });
    try {
      for (const domain of hostile) {
        await expect(guarded.ensureSite(domain), JSON.stringify(domain)).rejects.toBeInstanceOf(InvalidSiteDomainError);
        await expect(guarded.suspendSite(domain)).rejects.toBeInstanceOf(InvalidSiteDomainError);
        await expect(guarded.unsuspendSite(domain)).rejects.toBeInstanceOf(InvalidSiteDomainError);
        await expect(guarded.removeSite(domain, sandbox)).rejects.toBeInstanceOf(InvalidSiteDomainError);
      }
      expect(calls).toEqual([]);
      expect(await fs.readdir(sandbox)).toEqual([]);
      expect(guarded.stats).toEqual({ batches: 0, tests: 0, reloads: 0, confirmed: 0, unchanged: 0 });
    } finally {
      await fs.rm(sandbox, { recursive: true, force: true });
    }
  });

  it('the error names the refused domain without its control characters', async () => {
    const error = await hosting.ensureSite('evil.test\n}\nserver {').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidSiteDomainError);
    expect((error as Error).message).not.toContain('\n');
    expect((error as InvalidSiteDomainError).permanent).toBe(true);
  });
});
