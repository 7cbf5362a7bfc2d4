import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { rrsetsOf, toProviderRRset } from '../../src/modules/dns/dns-rrsets.js';
import { defaultRecords, dnsSettings } from '../../src/modules/dns/dns-template.js';
import { renderPlaceholder, renderVhost, sitePaths } from '../../src/providers/nginx/vhost.js';
import { fetchRetrying, round, summary, type Figure } from './lib.js';
import {
  ActiveWatcher,
  benchDomain,
  benchResolver,
  cleanUp,
  createTenant,
  env,
  execFileAsync,
  nginxMasterPid,
  placeOrder,
  startApi,
  startWorker,
  stopAll,
  waitServed,
  type BenchTenant,
} from './provisioning.js';

/**
 * Order-to-live (issue 8): a signed order sent to a real `mpanel api` until its subscription is
 * ACTIVE, provisioned by a real `mpanel worker` against PowerDNS and the loopback nginx — one
 * order at a time, then 50 at once. Beside it the floor: the same PowerDNS, filesystem and nginx
 * operations done directly by this script (zone with its records in one POST, docroot +
 * placeholder + vhost, `nginx -t` + SIGHUP, the site checked through the resolver), one domain at
 * a time and 50 at once (one reload for the 50).
 */

const SECTION = 'order-to-live';
const TENANT = 'bench-order-to-live';
const SINGLE = Number(process.env.BENCH_SINGLE_ORDERS ?? 20);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT_ORDERS ?? 50);
const WARM_UP = 3;
const TARGET_SINGLE_P95_MS = 1_000;
const TARGET_CONCURRENT_P95_MS = 10_000;
const TARGET_FLOOR_RATIO = 3;

const settings = dnsSettings(env);
const layout = { webRoot: env.WEB_ROOT, sitesDir: env.NGINX_SITES_DIR, nginxConf: env.NGINX_CONF, nginxCommand: env.NGINX_COMMAND.split(/\s+/).filter(Boolean) };
const listen = { ipv4: '127.0.0.1', ipv6: null, port: env.NGINX_HTTP_PORT };
const pdnsBase = `${env.POWERDNS_API_URL.replace(/\/+$/, '')}/servers/${encodeURIComponent(env.POWERDNS_SERVER_ID)}`;
const pdnsHeaders = { 'X-API-Key': env.POWERDNS_API_KEY, 'content-type': 'application/json', accept: 'application/json' };
const resolver = benchResolver();

/** The zone as PROVISION_DNS makes it (SOA, NS, the default records at the web server), in one POST. */
async function floorZone(domain: string): Promise<void> {
  const template = defaultRecords(domain, { web: { ipv4: '127.0.0.1', ipv6: null }, mail: null }, settings);
  if (!template.ok) throw new Error(`the DNS template is not valid: ${template.problems.join('; ')}`);
  const dotted = (name: string) => `${name}.`;
  const { soa } = settings;
  const body = {
    name: dotted(domain),
    kind: 'Native',
    account: 'bench',
    rrsets: [
      { name: dotted(domain), type: 'SOA', ttl: soa.ttl, records: [{ content: `${dotted(soa.primary)} ${dotted(soa.hostmaster)} 0 ${soa.refresh} ${soa.retry} ${soa.expire} ${soa.minimum}`, disabled: false }] },
      { name: dotted(domain), type: 'NS', ttl: soa.ttl, records: settings.nameservers.map((host) => ({ content: dotted(host), disabled: false })) },
      ...rrsetsOf(template.records).map(toProviderRRset).map((rrset) => ({ ...rrset, name: dotted(rrset.name) })),
    ],
  };
  const response = await fetchRetrying(`${pdnsBase}/zones`, { method: 'POST', headers: pdnsHeaders, body: JSON.stringify(body) });
  if (response.status !== 201) throw new Error(`floor: POST /zones ${domain} answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

/** The site's directories (0755 whatever the umask: nginx's workers are `nobody`), placeholder and vhost. */
async function floorSite(domain: string): Promise<void> {
  const paths = sitePaths(layout, domain);
  for (const dir of [paths.siteDir, paths.docroot, paths.logsDir]) {
    await fs.mkdir(dir);
    await fs.chmod(dir, 0o755);
  }
  await fs.writeFile(paths.index, renderPlaceholder(domain), { mode: 0o644 });
  await fs.writeFile(paths.vhost, renderVhost(layout, listen, domain, 'active', { siteErrorLog: env.NGINX_SITE_ERROR_LOGS }), { mode: 0o644 });
}

async function floorReload(): Promise<void> {
  const [command = 'nginx', ...args] = layout.nginxCommand;
  await execFileAsync(command, [...args, '-p', path.dirname(layout.nginxConf), '-c', layout.nginxConf, '-t', '-q']);
  process.kill(await nginxMasterPid(layout.nginxConf), 'SIGHUP');
}

/** domain and www.domain resolved through PowerDNS, then requested from that address until the placeholder answers. */
async function floorCheck(domain: string): Promise<void> {
  for (const name of [domain, `www.${domain}`]) {
    const [address] = await resolver.resolve4(name);
    if (address !== '127.0.0.1') throw new Error(`floor: ${name} resolves to ${address}`);
    await waitServed(env.NGINX_HTTP_PORT, name, domain);
  }
}

async function floorOne(domain: string): Promise<number> {
  const started = performance.now();
  await floorZone(domain);
  await floorSite(domain);
  await floorReload();
  await floorCheck(domain);
  return performance.now() - started;
}

/** N domains at once: the zones and the sites in parallel, one reload, each domain's latency until it is checked. */
async function floorBatch(count: number): Promise<number[]> {
  const domains = Array.from({ length: count }, () => benchDomain('fb'));
  const started = performance.now();
  await Promise.all(domains.map((domain) => floorZone(domain)));
  await Promise.all(domains.map((domain) => floorSite(domain)));
  await floorReload();
  return Promise.all(domains.map(async (domain) => (await floorCheck(domain), performance.now() - started)));
}

async function orderToLive(apiUrl: string, tenant: BenchTenant, watcher: ActiveWatcher): Promise<number> {
  const order = await placeOrder(apiUrl, tenant, benchDomain('o'));
  const activeAt = await watcher.active(order.subscriptionId);
  return activeAt - order.sentAt;
}

export async function benchOrderToLive(): Promise<Figure[]> {
  await cleanUp(TENANT);
  const tenant = await createTenant(TENANT);
  const children: (ChildProcess | undefined)[] = [];
  const watcher = new ActiveWatcher(tenant);
  try {
    const floorSingle: number[] = [];
    await floorOne(benchDomain('fw')); // warm: connections, the resolver, nginx's page cache
    for (let i = 0; i < SINGLE; i++) floorSingle.push(await floorOne(benchDomain('f')));
    const floorConcurrent = await floorBatch(CONCURRENT);

    const api = await startApi();
    children.push(api.child, await startWorker(tenant));
    for (let i = 0; i < WARM_UP; i++) await orderToLive(api.url, tenant, watcher);
    const single: number[] = [];
    for (let i = 0; i < SINGLE; i++) single.push(await orderToLive(api.url, tenant, watcher));
    process.stderr.write(`bench: order-to-live ${SINGLE} single orders done, ${CONCURRENT} at once...\n`);
    const concurrent = await Promise.all(Array.from({ length: CONCURRENT }, () => orderToLive(api.url, tenant, watcher)));

    const f1 = summary(floorSingle);
    const fN = summary(floorConcurrent);
    const s1 = summary(single);
    const sN = summary(concurrent);
    const ratio = s1.p95 / f1.p95;
    return [
      { section: SECTION, name: `floor (direct ops), 1 domain p50 (${SINGLE} runs)`, value: round(f1.p50, 0), unit: 'ms' },
      { section: SECTION, name: 'floor (direct ops), 1 domain p95', value: round(f1.p95, 0), unit: 'ms' },
      { section: SECTION, name: `1 order p50 (${SINGLE} sequential; POST sent → ACTIVE)`, value: round(s1.p50, 0), unit: 'ms' },
      { section: SECTION, name: '1 order p95', value: round(s1.p95, 0), unit: 'ms', target: `<= ${TARGET_SINGLE_P95_MS} ms`, met: s1.p95 <= TARGET_SINGLE_P95_MS },
      { section: SECTION, name: '1 order p95 vs floor p95', value: round(ratio), unit: 'x', target: `<= ${TARGET_FLOOR_RATIO}x`, met: ratio <= TARGET_FLOOR_RATIO },
      { section: SECTION, name: `floor (direct ops), ${CONCURRENT} domains at once p50`, value: round(fN.p50, 0), unit: 'ms' },
      { section: SECTION, name: `floor (direct ops), ${CONCURRENT} domains at once p95`, value: round(fN.p95, 0), unit: 'ms' },
      { section: SECTION, name: `${CONCURRENT} concurrent orders p50`, value: round(sN.p50, 0), unit: 'ms' },
      { section: SECTION, name: `${CONCURRENT} concurrent orders p95`, value: round(sN.p95, 0), unit: 'ms', target: `<= ${TARGET_CONCURRENT_P95_MS} ms`, met: sN.p95 <= TARGET_CONCURRENT_P95_MS },
      { section: SECTION, name: `${CONCURRENT} concurrent p95 vs floor p95`, value: round(sN.p95 / fN.p95), unit: 'x' },
    ];
  } finally {
    await watcher.close();
    await stopAll(children);
    await cleanUp(TENANT);
  }
}
