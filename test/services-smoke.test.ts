import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadEnv } from '../src/config/env.js';

// The real loopback services started by scripts/services.sh: PowerDNS answers a zone created
// through its API, and nginx serves a vhost by its Host header after a reload.
const env = loadEnv();
const domain = `smoke-${randomBytes(4).toString('hex')}.test`;
const pdns = `${env.POWERDNS_API_URL}/servers/${env.POWERDNS_SERVER_ID}`;
const headers = { 'X-API-Key': env.POWERDNS_API_KEY, 'Content-Type': 'application/json' };
const vhost = path.join(env.NGINX_SITES_DIR, `${domain}.conf`);
const docroot = path.join(env.WEB_ROOT, domain);
const nginx = (...args: string[]) => execFileSync('nginx', ['-p', path.dirname(env.NGINX_CONF), '-c', env.NGINX_CONF, ...args], { stdio: 'pipe' });

afterAll(async () => {
  await fetch(`${pdns}/zones/${domain}.`, { method: 'DELETE', headers });
  await rm(vhost, { force: true });
  await rm(docroot, { recursive: true, force: true });
  nginx('-s', 'reload');
});

it('PowerDNS: a zone created through the API answers DNS queries', async () => {
  const created = await fetch(`${pdns}/zones`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: `${domain}.`, kind: 'Native', nameservers: [`ns1.${domain}.`] }),
  });
  expect(created.status).toBe(201);
  const patched = await fetch(`${pdns}/zones/${domain}.`, {
    method: 'PATCH',
    headers,
    body: JSON.stringify({
      rrsets: [{ name: `www.${domain}.`, type: 'A', ttl: 300, changetype: 'REPLACE', records: [{ content: '127.0.0.1', disabled: false }] }],
    }),
  });
  expect(patched.status).toBe(204);
  const resolver = new Resolver();
  resolver.setServers([env.DNS_RESOLVER]);
  expect(await resolver.resolve4(`www.${domain}`)).toEqual(['127.0.0.1']);
});

it('nginx: a new vhost is served by Host header after nginx -t and reload', async () => {
  await mkdir(path.join(docroot, 'public'), { recursive: true });
  await writeFile(path.join(docroot, 'public', 'index.html'), `<h1>${domain}</h1>\n`);
  await writeFile(
    vhost,
    `server {\n  listen 127.0.0.1:${env.NGINX_HTTP_PORT};\n  server_name ${domain};\n  root ${docroot}/public;\n  index index.html;\n}\n`,
  );
  nginx('-t', '-q');
  nginx('-s', 'reload');

  // The reload is asynchronous: poll with fresh connections (a reload drops keep-alives).
  let body = '';
  for (let i = 0; i < 100 && !body.includes(domain); i++) {
    body = await get(`http://127.0.0.1:${env.NGINX_HTTP_PORT}/`, domain).catch(() => '');
    if (!body.includes(domain)) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(body).toContain(`<h1>${domain}</h1>`);
});

function get(url: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { host }, agent: false }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}
