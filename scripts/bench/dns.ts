import { loadEnv } from '../../src/config/env.js';
import { rrsetsOf, toProviderRRset } from '../../src/modules/dns/dns-rrsets.js';
import { defaultRecords, dnsSettings } from '../../src/modules/dns/dns-template.js';
import { powerDnsSettings } from '../../src/container.js';
import { PowerDnsClient } from '../../src/providers/powerdns/powerdns.client.js';
import type { DnsRRset } from '../../src/providers/dns.port.js';
import { deleteZones, fetchRetrying, type Figure } from './lib.js';

/**
 * Zone provisioning through mPanel's PowerDNS provider against the raw API floor: the same HTTP
 * calls made directly with fetch, no validation, no error mapping. Per zone, as PROVISION_DNS and
 * the API do it: one POST /zones carrying SOA, NS and the default records (the step creates a zone
 * with its records in one request), then one PATCH of an RRset (a record change through the API).
 * Floor and provider alternate zone by zone, so PowerDNS's SQLite grows under both alike; every
 * zone is under a reserved suffix and deleted at the end (and before, if a run was interrupted).
 */

const SECTION = 'dns';
const ZONES = Number(process.env.BENCH_DNS_ZONES ?? 500);
const SUFFIX = 'bench-mpanel.test';
const TARGET_ZONES_PER_SECOND = 50;
const TARGET_P95_RATIO = 3;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function stats(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const total = samples.reduce((sum, value) => sum + value, 0);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), perSecond: (samples.length * 1000) / total };
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

export async function benchDns(): Promise<Figure[]> {
  const env = loadEnv();
  const settings = dnsSettings(env);
  const provider = new PowerDnsClient(powerDnsSettings(env));
  const base = `${env.POWERDNS_API_URL.replace(/\/+$/, '')}/servers/${encodeURIComponent(env.POWERDNS_SERVER_ID)}`;
  const headers = { 'X-API-Key': env.POWERDNS_API_KEY, 'content-type': 'application/json', accept: 'application/json' };
  const run = `${Date.now().toString(36)}`;
  const created: string[] = [];

  const leftovers = (await provider.listZones()).filter((zone) => zone.name.endsWith(`.${SUFFIX}`));
  await deleteZones(provider, leftovers.map((zone) => zone.name));

  const templateOf = (name: string): DnsRRset[] => {
    const template = defaultRecords(name, { web: null, mail: null }, settings);
    if (!template.ok) throw new Error(`the DNS template is not valid: ${template.problems.join('; ')}`);
    return rrsetsOf(template.records).map(toProviderRRset);
  };
  const dotted = (name: string) => `${name}.`;
  const { soa } = settings;

  /** The floor: the request the provider sends, built by hand (retried as the provider retries), its response parsed and nothing more. */
  async function rawProvision(name: string): Promise<void> {
    const body = {
      name: dotted(name),
      kind: 'Native',
      account: 'bench',
      rrsets: [
        { name: dotted(name), type: 'SOA', ttl: soa.ttl, records: [{ content: `${dotted(soa.primary)} ${dotted(soa.hostmaster)} 0 ${soa.refresh} ${soa.retry} ${soa.expire} ${soa.minimum}`, disabled: false }] },
        { name: dotted(name), type: 'NS', ttl: soa.ttl, records: settings.nameservers.map((host) => ({ content: dotted(host), disabled: false })) },
        ...templateOf(name).map((rrset) => ({ ...rrset, name: dotted(rrset.name) })),
      ],
    };
    const res = await fetchRetrying(`${base}/zones`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`floor: POST /zones ${name} answered ${res.status}: ${await res.text()}`);
    await res.json();
  }

  async function rawPatch(name: string): Promise<void> {
    const rrsets = [{ name: dotted(`www.${name}`), type: 'A', ttl: 300, changetype: 'REPLACE', records: [{ content: '127.0.0.2', disabled: false }] }];
    const res = await fetchRetrying(`${base}/zones/${dotted(name)}`, { method: 'PATCH', headers, body: JSON.stringify({ rrsets }) });
    if (res.status !== 204) throw new Error(`floor: PATCH ${name} answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }

  async function providerProvision(name: string): Promise<void> {
    const { created: isNew } = await provider.createZone({ name, account: 'bench', nameservers: settings.nameservers, soa, rrsets: templateOf(name) });
    if (!isNew) throw new Error(`provider: ${name} already existed`);
  }

  async function providerPatch(name: string): Promise<void> {
    await provider.patchRRsets(name, [{ kind: 'replace', name: `www.${name}`, type: 'A', ttl: 300, contents: ['127.0.0.2'] }]);
  }

  const timed = async (fn: () => Promise<void>): Promise<number> => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };

  const samples = { floorProvision: [] as number[], floorPatch: [] as number[], provision: [] as number[], patch: [] as number[] };
  try {
    // A few zones first so both paths have warm connections and JIT before anything is measured.
    for (let i = 0; i < 10; i++) {
      const floorName = `warm-f${i}-${run}.${SUFFIX}`;
      const providerName = `warm-p${i}-${run}.${SUFFIX}`;
      created.push(floorName, providerName);
      await rawProvision(floorName);
      await providerProvision(providerName);
    }
    for (let i = 0; i < ZONES; i++) {
      const floorName = `f${i}-${run}.${SUFFIX}`;
      const providerName = `p${i}-${run}.${SUFFIX}`;
      created.push(floorName, providerName);
      samples.floorProvision.push(await timed(() => rawProvision(floorName)));
      samples.floorPatch.push(await timed(() => rawPatch(floorName)));
      samples.provision.push(await timed(() => providerProvision(providerName)));
      samples.patch.push(await timed(() => providerPatch(providerName)));
      if ((i + 1) % 100 === 0) process.stderr.write(`bench: dns ${i + 1}/${ZONES} zones\n`);
    }
  } finally {
    await deleteZones(provider, created);
  }

  const floor = stats(samples.floorProvision);
  const mpanel = stats(samples.provision);
  const floorPatch = stats(samples.floorPatch);
  const patch = stats(samples.patch);
  const p95Ratio = mpanel.p95 / floor.p95;
  const patchRatio = patch.p95 / floorPatch.p95;
  return [
    { section: SECTION, name: `zones provisioned (each way)`, value: ZONES, unit: 'zones' },
    { section: SECTION, name: 'floor (fetch): POST zone p50', value: round(floor.p50), unit: 'ms' },
    { section: SECTION, name: 'floor (fetch): POST zone p95', value: round(floor.p95), unit: 'ms' },
    { section: SECTION, name: 'floor (fetch): zones/s', value: round(floor.perSecond, 1), unit: 'zones/s' },
    { section: SECTION, name: 'provider: create zone p50', value: round(mpanel.p50), unit: 'ms' },
    { section: SECTION, name: 'provider: create zone p95', value: round(mpanel.p95), unit: 'ms' },
    {
      section: SECTION,
      name: 'provider: zones/s',
      value: round(mpanel.perSecond, 1),
      unit: 'zones/s',
      target: `>= ${TARGET_ZONES_PER_SECOND} zones/s`,
      met: mpanel.perSecond >= TARGET_ZONES_PER_SECOND,
    },
    { section: SECTION, name: 'provider vs floor: zones/s', value: round(mpanel.perSecond / floor.perSecond), unit: 'x' },
    { section: SECTION, name: 'provider vs floor: p95', value: round(p95Ratio), unit: 'x', target: `<= ${TARGET_P95_RATIO}x the floor`, met: p95Ratio <= TARGET_P95_RATIO },
    { section: SECTION, name: 'floor (fetch): PATCH rrset p95', value: round(floorPatch.p95), unit: 'ms' },
    { section: SECTION, name: 'provider: PATCH rrset p95', value: round(patch.p95), unit: 'ms' },
    { section: SECTION, name: 'provider vs floor: PATCH p95', value: round(patchRatio), unit: 'x', target: `<= ${TARGET_P95_RATIO}x the floor`, met: patchRatio <= TARGET_P95_RATIO },
  ];
}
