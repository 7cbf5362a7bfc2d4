import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateNginx, waitForAnswer, type PrivateNginx } from '../../../test/helpers/nginx.js';
import { NginxConfigError, type HostingLayout } from '../hosting.port.js';
import { LocalHost } from '../host/local-host.js';
import { NginxHosting } from './nginx-hosting.js';
import { NginxReloader } from './nginx-reloader.js';

/**
 * Failed `nginx -t`: the change is rolled back and the step fails with nginx's message. This file
 * breaks nginx configurations on purpose, so it runs its OWN nginx (temp prefix, free port),
 * never the shared one other test files reload. Its names hash buckets are small (64) so that a
 * long domain makes nginx refuse a vhost of ours without naming a file.
 */
let nginx: PrivateNginx;
let layout: HostingLayout;
let hosting: NginxHosting;
const run = randomBytes(3).toString('hex');
const domainFor = (label: string) => `${label}-${run}.broken.test`;

beforeAll(async () => {
  nginx = await startPrivateNginx({ namesHashBucketSize: 64 });
  layout = { webRoot: nginx.webRoot, sitesDir: nginx.sitesDir, nginxConf: nginx.conf, nginxCommand: ['nginx'] };
  const host = new LocalHost();
  hosting = new NginxHosting({ host, layout, listen: { ipv4: '127.0.0.1', ipv6: null, port: nginx.port }, reloader: new NginxReloader(host, layout, 20) });
});
afterAll(async () => {
  await nginx?.stop();
});

const served = (domain: string) => waitForAnswer(nginx.port, domain, (answer) => answer.status === 200 && answer.body.includes(domain));

describe('a broken file elsewhere in the sites directory', () => {
  it('fails the step with nginx\'s message (retryable), writes no vhost, changes no other site, and existing sites keep serving', async () => {
    const existing = domainFor('existing');
    await hosting.ensureSite(existing);
    await served(existing);
    const existingVhost = path.join(layout.sitesDir, `${existing}.conf`);
    const existingContent = await fs.readFile(existingVhost, 'utf8');

    const broken = path.join(layout.sitesDir, 'zz-broken.conf');
    await fs.writeFile(broken, 'this is not an nginx directive;\n');
    const fresh = domainFor('fresh');
    try {
      const error = await hosting.ensureSite(fresh).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NginxConfigError);
      const failure = error as NginxConfigError;
      expect(failure.permanent).toBe(false);
      expect(failure.file).toBe(broken);
      expect(failure.message).toContain(`unknown directive "this" in ${broken}:1`);
      expect(failure.nginxMessage).toMatch(/\[emerg\]/);

      // No half-written vhost, no temp file: the sites directory is as it was.
      expect((await fs.readdir(layout.sitesDir)).sort()).toEqual([`${existing}.conf`, 'zz-broken.conf']);
      // A change to an existing site is refused the same way and its previous vhost is back.
      await expect(hosting.suspendSite(existing)).rejects.toBeInstanceOf(NginxConfigError);
      expect(await fs.readFile(existingVhost, 'utf8')).toBe(existingContent);
      // nginx was never reloaded with the broken file: the existing site is still served.
      await served(existing);
    } finally {
      await fs.rm(broken, { force: true });
    }

    // Once an operator fixes the file, the same step succeeds.
    await hosting.ensureSite(fresh);
    await served(fresh);
  });
});

describe('a configuration the master refuses although nginx -t passed', () => {
  it('too many open files for the per-site logs: the step fails (retryable) with nginx\'s error log, the vhost is put back, the loaded sites keep serving', async () => {
    // A master allowed 40 files: a reload holds the old and the new log files (two per site) at once,
    // while `nginx -t` runs in its own process with the test's higher limit and passes.
    const small = await startPrivateNginx({ maxOpenFiles: 40 });
    try {
      const smallLayout: HostingLayout = { webRoot: small.webRoot, sitesDir: small.sitesDir, nginxConf: small.conf, nginxCommand: ['nginx'] };
      const host = new LocalHost();
      const limited = new NginxHosting({
        host,
        layout: smallLayout,
        listen: { ipv4: '127.0.0.1', ipv6: null, port: small.port },
        reloader: new NginxReloader(host, smallLayout, 0, { confirmTimeoutMs: 1_500 }),
      });
      const loaded: string[] = [];
      let failure: unknown;
      for (let index = 0; index < 20 && failure === undefined; index += 1) {
        const domain = domainFor(`fd${index}`);
        try {
          await limited.ensureSite(domain);
          loaded.push(domain);
        } catch (error) {
          failure = error;
          await expect(fs.access(path.join(smallLayout.sitesDir, `${domain}.conf`)), 'the refused vhost is put back').rejects.toThrow();
        }
      }
      expect(failure).toBeInstanceOf(NginxConfigError);
      expect((failure as NginxConfigError).permanent).toBe(false);
      expect((failure as Error).message).toContain('did not load the new configuration');
      expect((failure as Error).message).toContain('Too many open files');
      expect(loaded.length).toBeGreaterThan(0);
      expect(limited.stats.confirmed).toBe(loaded.length);
      for (const domain of loaded) await waitForAnswer(small.port, domain, (answer) => answer.status === 200);
    } finally {
      await small.stop();
    }
  });
});

describe('a vhost of ours that nginx refuses', () => {
  it('in a batch: that site fails permanently with nginx\'s message and its file is gone; the others are served', async () => {
    // 96 characters: too long for names hash buckets of 64 ("could not build server_names_hash"), no file named.
    const long = `${'l'.repeat(60)}.${run}-${'m'.repeat(23)}.test`;
    const good = [domainFor('good1'), domainFor('good2'), domainFor('good3')];
    const before = { ...hosting.stats };
    const results = await Promise.allSettled([hosting.ensureSite(good[0]!), hosting.ensureSite(long), hosting.ensureSite(good[1]!), hosting.ensureSite(good[2]!)]);

    const refused = results[1];
    expect(refused?.status).toBe('rejected');
    const error: unknown = refused?.status === 'rejected' ? refused.reason : undefined;
    expect(error).toBeInstanceOf(NginxConfigError);
    expect((error as NginxConfigError).permanent).toBe(true);
    expect((error as NginxConfigError).message).toContain('could not build server_names_hash');
    await expect(fs.access(path.join(layout.sitesDir, `${long}.conf`))).rejects.toThrow();

    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
    for (const domain of good) await served(domain);
    // Found by splitting the batch: more tests than reloads, and still one batch.
    expect(hosting.stats.batches - before.batches).toBe(1);
    expect(hosting.stats.tests - before.tests).toBeGreaterThan(hosting.stats.reloads - before.reloads);
  });

  it('named by nginx in its error: the previous content of that file is restored, a new file removed', async () => {
    const host = new LocalHost();
    const reloader = new NginxReloader(host, layout, 0);
    const file = path.join(layout.sitesDir, `manual-${run}.conf`);
    const good = `server { listen 127.0.0.1:${nginx.port}; server_name manual-${run}.test; return 204; }\n`;
    await reloader.apply(file, good);
    await waitForAnswer(nginx.port, `manual-${run}.test`, (answer) => answer.status === 204);

    const error = await reloader.apply(file, 'garbage;\n').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NginxConfigError);
    expect((error as NginxConfigError).permanent).toBe(true);
    expect((error as NginxConfigError).message).toContain(`unknown directive "garbage" in ${file}:1`);
    expect(await fs.readFile(file, 'utf8')).toBe(good);

    const added = path.join(layout.sitesDir, `added-${run}.conf`);
    await expect(reloader.apply(added, 'server {\n')).rejects.toBeInstanceOf(NginxConfigError);
    await expect(fs.access(added)).rejects.toThrow();

    await reloader.apply(file, null);
    await expect(fs.access(file)).rejects.toThrow();
  });
});
