import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostingError, InvalidSiteDomainError, type HostingLayout } from '../hosting.port.js';
import { parseNginxOutput } from './nginx-reloader.js';
import { shellQuote } from '../host/ssh-host.js';
import { hostKeyFingerprint, parseHostKey } from '../host/ssh-host-key.js';
import { assertSafeLayout, placeholderMarker, renderPlaceholder, renderVhost } from './vhost.js';

/** Pure parts of the nginx provider: rendering, parsing nginx's output, host keys, quoting. */
const layout: HostingLayout = { webRoot: '/srv/web/clients', sitesDir: '/etc/nginx/sites', nginxConf: '/etc/nginx/nginx.conf', nginxCommand: ['nginx'] };

describe('renderVhost', () => {
  it('renders the verified template: names, root, per-site logs, ACME location, security headers', () => {
    expect(renderVhost(layout, { ipv4: '203.0.113.7', ipv6: null, port: 80 }, 'example.com', 'active')).toBe(`# mPanel site example.com (active): written by mPanel on every change; edits here are lost.
server {
  listen 203.0.113.7:80;
  server_name example.com www.example.com;
  root /srv/web/clients/example.com/public;
  index index.html;
  access_log /srv/web/clients/example.com/logs/access.log;
  error_log /srv/web/clients/example.com/logs/error.log;
  add_header X-Content-Type-Options "nosniff" always;
  add_header X-Frame-Options "SAMEORIGIN" always;
  add_header Content-Security-Policy "frame-ancestors 'self'" always;
  add_header Referrer-Policy "strict-origin-when-cross-origin" always;

  location ^~ /.well-known/acme-challenge/ {
    root /srv/web/clients/example.com;
    default_type text/plain;
    try_files $uri =404;
  }
  location / {
    try_files $uri $uri/ =404;
  }
}
`);
  });

  it('listens on each registered address, or on the port alone', () => {
    const both = renderVhost(layout, { ipv4: '127.0.0.1', ipv6: '2001:db8::5', port: 8080 }, 'example.com', 'active');
    expect(both).toContain('  listen 127.0.0.1:8080;\n  listen [2001:db8::5]:8080;\n');
    expect(renderVhost(layout, { ipv4: null, ipv6: null, port: 8081 }, 'example.com', 'active')).toContain('  listen 8081;\n');
  });

  it('leaves the error log to nginx\'s main log when per-site error logs are off', () => {
    const vhost = renderVhost(layout, { ipv4: '127.0.0.1', ipv6: null, port: 80 }, 'example.com', 'active', { siteErrorLog: false });
    expect(vhost).toContain('access_log /srv/web/clients/example.com/logs/access.log;');
    expect(vhost).not.toContain('error_log');
  });

  it('suspended: 503 with a fixed page for everything but ACME challenges', () => {
    const vhost = renderVhost(layout, { ipv4: '127.0.0.1', ipv6: null, port: 80 }, 'example.com', 'suspended');
    expect(vhost).toContain("  return 503 '<!doctype html>");
    expect(vhost).toContain('location ^~ /.well-known/acme-challenge/');
    expect(vhost).not.toContain('try_files $uri $uri/');
  });

  it('refuses what could break out of a directive: bad domains, addresses, ports and paths', () => {
    const listen = { ipv4: '127.0.0.1', ipv6: null, port: 80 };
    expect(() => renderVhost(layout, listen, 'a.test; include /etc/passwd', 'active')).toThrow(InvalidSiteDomainError);
    expect(() => renderVhost(layout, { ...listen, ipv4: '127.0.0.1:80; evil' }, 'a.test', 'active')).toThrow(HostingError);
    expect(() => renderVhost(layout, { ...listen, ipv6: '127.0.0.1' }, 'a.test', 'active')).toThrow(HostingError);
    expect(() => renderVhost(layout, { ...listen, port: 0 }, 'a.test', 'active')).toThrow(HostingError);
    for (const webRoot of ['relative/www', '/srv/web clients', '/srv/web;', '/srv/{web}', '/srv/../etc', '/srv/"x"', '/srv/$web']) {
      expect(() => assertSafeLayout({ ...layout, webRoot }), webRoot).toThrow(HostingError);
    }
    expect(() => assertSafeLayout({ ...layout, nginxCommand: ['nginx', '-g', 'daemon off;'] })).toThrow(HostingError);
    expect(assertSafeLayout({ ...layout, webRoot: '/srv/web/' }).webRoot).toBe('/srv/web');
  });
});

describe('renderPlaceholder', () => {
  it('names the domain (HTML-escaped) and carries the marker VERIFY_AND_ACTIVATE looks for', () => {
    const page = renderPlaceholder('xn--bcher-kva.example');
    expect(page).toContain('<title>xn--bcher-kva.example</title>');
    expect(page).toContain(placeholderMarker('xn--bcher-kva.example'));
    expect(page).not.toContain(placeholderMarker('other.example'));
    expect(() => renderPlaceholder('<script>.test')).toThrow(InvalidSiteDomainError);
  });
});

describe('parseNginxOutput', () => {
  it('keeps the error lines and the file nginx names', () => {
    const stderr =
      '2026/11/25 12:55:40 [emerg] 7498#7498: unknown directive "garbage" in /srv/sites/b.conf:1\nnginx: configuration file /etc/nginx/nginx.conf test failed\n';
    expect(parseNginxOutput(1, stderr, '')).toEqual({ ok: false, message: '2026/11/25 12:55:40 [emerg] 7498#7498: unknown directive "garbage" in /srv/sites/b.conf:1', file: '/srv/sites/b.conf' });
    const noFile = parseNginxOutput(1, '[emerg] could not build server_names_hash, you should increase server_names_hash_bucket_size: 64\n', '');
    expect(noFile.file).toBeNull();
    expect(parseNginxOutput(0, '', '')).toEqual({ ok: true, message: 'exit code 0', file: null });
  });
});

describe('parseHostKey', () => {
  it('accepts an OpenSSH public key line and refuses anything else', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mpanel-key-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'host comment', '-f', path.join(dir, 'key')]);
      const line = readFileSync(path.join(dir, 'key.pub'), 'utf8');
      const parsed = parseHostKey(line);
      expect(parsed?.type).toBe('ssh-ed25519');
      const fingerprint = execFileSync('ssh-keygen', ['-lf', path.join(dir, 'key.pub')], { encoding: 'utf8' }).split(' ')[1];
      expect(hostKeyFingerprint(parsed!.blob)).toBe(fingerprint);
      expect(parseHostKey(line.replace('ssh-ed25519', 'ssh-rsa'))).toBeNull();
      expect(parseHostKey(line.replace(/ AAAA/, ' AAAB'))).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const bad of ['', 'ssh-ed25519', 'ssh-ed25519 !!!', 'ssh-dss AAAAB3NzaC1kc3M=', 'ssh-ed25519 AAAA\nssh-ed25519 AAAA']) expect(parseHostKey(bad), bad).toBeNull();
  });
});

describe('shellQuote', () => {
  it('passes any argument to the remote shell as one literal word', () => {
    const nasty = `it's $(rm -rf /) \`x\` "y" ; | & \n`;
    expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(nasty)}`], { encoding: 'utf8' })).toBe(nasty);
  });
});
