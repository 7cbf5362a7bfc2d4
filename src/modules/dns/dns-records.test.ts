import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../config/env.js';
import {
  canonicalPresentation,
  parseTxtStrings,
  quoteTxt,
  recordConflicts,
  resolveOwnerName,
  toPresentation,
  validateRecord,
  type DnsRecordData,
  type RecordInput,
} from './dns-records.js';
import { diffRRsets, repairChanges, wantedZone } from './dns-rrsets.js';
import { defaultRecords, dnsSettings, hostmasterName } from './dns-template.js';

// Pure rules: no database, no PowerDNS (the integration tests send these records to the real one).
const zone = 'example.test';
const valid = (input: RecordInput) => {
  const checked = validateRecord(input, zone, 3600);
  if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
  return checked.value;
};
const issuesOf = (input: RecordInput) => {
  const checked = validateRecord(input, zone, 3600);
  return checked.ok ? [] : checked.issues.map((issue) => issue.field);
};

describe('owner names', () => {
  it.each([
    ['@', zone],
    ['www', `www.${zone}`],
    ['WWW', `www.${zone}`],
    ['*', `*.${zone}`],
    ['_dmarc', `_dmarc.${zone}`],
    [`a.b.${zone}`, `a.b.${zone}`],
    [`a.b.${zone}.`, `a.b.${zone}`],
    [`${zone}.`, zone],
    [`*.dev.${zone}`, `*.dev.${zone}`],
  ])('%s → %s', (input, expected) => {
    expect(resolveOwnerName(input, zone)).toEqual({ ok: true, name: expected });
  });

  it.each([
    ['www.other.test', /outside the zone/],
    ['www.other.test.', /outside the zone/],
    ['www.', /outside the zone/],
    [`notexample.test`, /outside the zone/],
    [`a.*.${zone}`, /only as its first label/],
    [`-bad.${zone}`, /invalid label/],
    [`${'x'.repeat(64)}.${zone}`, /invalid label/],
    ['exämple', /ASCII/],
    ['', /empty/],
  ])('%s is refused (%s)', (input, reason) => {
    const result = resolveOwnerName(input, zone);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});

describe('validateRecord', () => {
  it('normalises each type to its stored form', () => {
    expect(valid({ name: 'v6', type: 'AAAA', content: '2001:DB8:0:0:0:0:0:10' }).content).toBe('2001:db8::10');
    expect(valid({ name: 'v6', type: 'AAAA', content: '::ffff:192.0.2.1' }).content).toBe('::ffff:c000:201');
    expect(valid({ name: 'blog', type: 'CNAME', content: 'WWW.Example.Test.' }).content).toBe('www.example.test');
    expect(valid({ name: 'shop', type: 'MX', content: '@', priority: 0 })).toMatchObject({ content: zone, priority: 0 });
    expect(valid({ name: '_sip._tcp.example.test', type: 'SRV', content: '05 5060 SIP.example.test.', priority: 1 }).content).toBe('5 5060 sip.example.test');
    expect(valid({ name: '_sip._tcp.example.test', type: 'SRV', content: '0 0 .', priority: 0 }).content).toBe('0 0 .');
    expect(valid({ name: '@', type: 'CAA', content: '0 ISSUE letsencrypt.org' }).content).toBe('0 issue "letsencrypt.org"');
    expect(valid({ name: '@', type: 'CAA', content: '128 iodef "mailto:security@example.test"' }).content).toBe('128 iodef "mailto:security@example.test"');
    expect(valid({ name: 'txt', type: 'TXT', content: ' spaced "quoted" \\ text ' }).content).toBe(' spaced "quoted" \\ text ');
    expect(valid({ name: 'x', type: 'A', content: '192.0.2.1' })).toEqual({ name: `x.${zone}`, type: 'A', content: '192.0.2.1', ttl: 3600, priority: null });
  });

  it.each<[string, RecordInput, string[]]>([
    ['A with a leading zero', { name: 'x', type: 'A', content: '192.0.2.01' }, ['content']],
    ['A with an IPv6 address', { name: 'x', type: 'A', content: '::1' }, ['content']],
    ['CNAME to a bare label', { name: 'x', type: 'CNAME', content: 'www' }, ['content']],
    ['CNAME at the apex', { name: '@', type: 'CNAME', content: 'www.example.net' }, ['name']],
    ['NS at the apex', { name: '@', type: 'NS', content: 'ns.example.net' }, ['name']],
    ['MX without priority', { name: '@', type: 'MX', content: 'mx.example.net' }, ['priority']],
    ['MX with a priority out of range', { name: '@', type: 'MX', content: 'mx.example.net', priority: 70000 }, ['priority']],
    ['priority on TXT', { name: 'x', type: 'TXT', content: 'hello', priority: 1 }, ['priority']],
    ['TXT with a control character', { name: 'x', type: 'TXT', content: 'a\nb' }, ['content']],
    ['TXT too long', { name: 'x', type: 'TXT', content: 'a'.repeat(4001) }, ['content']],
    ['SRV with four fields', { name: '_sip._tcp', type: 'SRV', content: '10 5 5060 sip.example.test', priority: 1 }, ['name', 'content']],
    ['SRV port out of range', { name: `_sip._tcp.${zone}`, type: 'SRV', content: '5 70000 sip.example.test', priority: 1 }, ['content']],
    ['CAA value with a quote inside', { name: '@', type: 'CAA', content: '0 issue "a"b"' }, ['content']],
    ['CAA without a value', { name: '@', type: 'CAA', content: '0 issue' }, ['content']],
    ['TTL too short', { name: 'x', type: 'A', content: '192.0.2.1', ttl: 59 }, ['ttl']],
    ['TTL too long', { name: 'x', type: 'A', content: '192.0.2.1', ttl: 604801 }, ['ttl']],
  ])('%s → issues on %j', (_what, input, fields) => {
    expect(issuesOf(input)).toEqual(fields);
  });
});

describe('recordConflicts', () => {
  const a = valid({ name: 'www', type: 'A', content: '192.0.2.1' });
  const cname = valid({ name: 'www', type: 'CNAME', content: 'elsewhere.example.net' });
  it('a CNAME shares its name with nothing, and a name has one CNAME', () => {
    expect(recordConflicts(cname, [a])).toEqual([{ field: 'name', message: expect.stringMatching(/cannot share its name.*has A records/) }]);
    expect(recordConflicts(a, [cname])).toEqual([{ field: 'name', message: expect.stringMatching(/has a CNAME record/) }]);
    expect(recordConflicts(valid({ name: 'www', type: 'CNAME', content: 'other.example.net' }), [cname])).toEqual([{ field: 'name', message: expect.stringMatching(/at most one/) }]);
    expect(recordConflicts(valid({ name: 'mail', type: 'CNAME', content: 'x.example.net' }), [a])).toEqual([]);
  });
  it('the same record twice is a conflict; another value of the same RRset is not', () => {
    expect(recordConflicts(a, [a])).toEqual([{ field: 'content', message: expect.stringMatching(/already exists/) }]);
    expect(recordConflicts(valid({ name: 'www', type: 'A', content: '192.0.2.2' }), [a])).toEqual([]);
  });
});

describe('presentation format', () => {
  const record = (input: RecordInput): DnsRecordData => valid(input);
  it('writes host names absolute, priorities first, TXT quoted in strings of at most 255 bytes', () => {
    expect(toPresentation(record({ name: 'x', type: 'CNAME', content: 'www.example.test' }))).toBe('www.example.test.');
    expect(toPresentation(record({ name: '@', type: 'MX', content: 'mail.example.test', priority: 10 }))).toBe('10 mail.example.test.');
    expect(toPresentation(record({ name: `_sip._tcp.${zone}`, type: 'SRV', content: '5 5060 sip.example.test', priority: 1 }))).toBe('1 5 5060 sip.example.test.');
    expect(toPresentation(record({ name: `_sip._tcp.${zone}`, type: 'SRV', content: '0 0 .', priority: 0 }))).toBe('0 0 0 .');
    expect(toPresentation(record({ name: 'x', type: 'TXT', content: 'say "hi" \\o/' }))).toBe('"say \\"hi\\" \\\\o/"');
    const long = 'a'.repeat(300);
    expect(quoteTxt(long)).toBe(`"${'a'.repeat(255)}" "${'a'.repeat(45)}"`);
    expect(parseTxtStrings(quoteTxt(long))?.join('')).toBe(long);
    expect(parseTxtStrings('"a\\"b" "c\\092d" e')).toEqual(['a"b', 'c\\d', 'e']);
    expect(parseTxtStrings('"unterminated')).toBeUndefined();
  });

  it('compares PowerDNS spellings with ours', () => {
    expect(canonicalPresentation('MX', '10 Mail.Example.TEST.')).toBe('10 mail.example.test.');
    expect(canonicalPresentation('AAAA', '2001:DB8::0:10')).toBe('2001:db8::10');
    expect(canonicalPresentation('TXT', '"v=spf1" " -all"')).toBe('"v=spf1" " -all"');
    expect(canonicalPresentation('TXT', '"a\\098c"')).toBe('"abc"');
    expect(canonicalPresentation('CAA', '0 issue letsencrypt.org')).toBe('0 issue "letsencrypt.org"');
    expect(canonicalPresentation('SRV', '1 5 5060 SIP.example.test.')).toBe('1 5 5060 sip.example.test.');
  });
});

describe('RRsets and drift', () => {
  const records = [
    valid({ name: 'www', type: 'A', content: '192.0.2.1', ttl: 600 }),
    valid({ name: 'www', type: 'A', content: '192.0.2.2', ttl: 300 }),
    valid({ name: '@', type: 'TXT', content: 'hello' }),
  ];
  const wanted = wantedZone(zone, records, ['ns1.mpanel.test'], 3600);

  it('groups records into RRsets under the lowest TTL, plus the configured apex NS', () => {
    expect(wanted).toEqual([
      { name: zone, type: 'NS', ttl: 3600, contents: ['ns1.mpanel.test.'] },
      { name: `www.${zone}`, type: 'A', ttl: 300, contents: ['192.0.2.1', '192.0.2.2'] },
      { name: zone, type: 'TXT', ttl: 3600, contents: ['"hello"'] },
    ]);
  });

  it('ignores the SOA and spelling differences, reports the rest, and repairs with REPLACE and DELETE', () => {
    const actual = [
      { name: zone, type: 'SOA', ttl: 3600, records: [{ content: 'ns1.mpanel.test. hostmaster.mpanel.test. 2026010101 1 1 1 1', disabled: false }] },
      { name: zone, type: 'NS', ttl: 3600, records: [{ content: 'NS1.MPANEL.TEST.', disabled: false }] },
      { name: `www.${zone}`, type: 'A', ttl: 300, records: [{ content: '192.0.2.2', disabled: false }, { content: '192.0.2.1', disabled: true }] },
      { name: `old.${zone}`, type: 'A', ttl: 60, records: [{ content: '192.0.2.9', disabled: false }] },
    ];
    const drift = diffRRsets(wanted, actual);
    expect(drift).toEqual([
      { kind: 'missing', name: zone, type: 'TXT', expected: { ttl: 3600, contents: ['"hello"'] } },
      { kind: 'extra', name: `old.${zone}`, type: 'A', actual: { ttl: 60, contents: ['192.0.2.9'] } },
      { kind: 'different', name: `www.${zone}`, type: 'A', expected: { ttl: 300, contents: ['192.0.2.1', '192.0.2.2'] }, actual: { ttl: 300, contents: ['192.0.2.2', 'disabled: 192.0.2.1'] } },
    ]);
    expect(repairChanges(drift)).toEqual([
      { kind: 'replace', name: zone, type: 'TXT', ttl: 3600, contents: ['"hello"'] },
      { kind: 'delete', name: `old.${zone}`, type: 'A' },
      { kind: 'replace', name: `www.${zone}`, type: 'A', ttl: 300, contents: ['192.0.2.1', '192.0.2.2'] },
    ]);
  });
});

describe('the default template', () => {
  const settings = dnsSettings(loadEnv({ NODE_ENV: 'test', DNS_DEFAULT_WEB_IPV6: '2001:db8::80', DNS_DMARC: 'false' }));

  it('A/AAAA for @ and www, MX to the mail host with its own A, SPF; no DMARC when turned off', () => {
    const result = defaultRecords('shop.test', { web: null, mail: null }, settings);
    expect(result.ok && result.records.map((r) => `${r.name} ${r.type} ${r.priority ?? ''} ${r.content}`.replace('  ', ' '))).toEqual([
      'shop.test A 127.0.0.1',
      'shop.test AAAA 2001:db8::80',
      'www.shop.test A 127.0.0.1',
      'www.shop.test AAAA 2001:db8::80',
      'shop.test MX 10 mail.shop.test',
      'mail.shop.test A 127.0.0.1',
      'shop.test TXT v=spf1 mx -all',
    ]);
  });

  it("uses a registered server's own addresses only, never mixed with the defaults", () => {
    const result = defaultRecords('shop.test', { web: { ipv4: null, ipv6: '2001:db8::1' }, mail: { ipv4: '192.0.2.25', ipv6: null } }, settings);
    expect(result.ok && result.records.filter((r) => r.type === 'A' || r.type === 'AAAA').map((r) => `${r.name} ${r.type} ${r.content}`)).toEqual([
      'shop.test AAAA 2001:db8::1',
      'www.shop.test AAAA 2001:db8::1',
      'mail.shop.test A 192.0.2.25',
    ]);
  });

  it('an external mail host gets no A record; a bad setting is reported, not sent', () => {
    const external = defaultRecords('shop.test', { web: null, mail: null }, dnsSettings(loadEnv({ NODE_ENV: 'test', DNS_MAIL_HOST: 'mx.hoster.example' })));
    expect(external.ok && external.records.filter((r) => r.name.startsWith('mx.'))).toEqual([]);
    expect(external.ok && external.records.find((r) => r.type === 'MX')?.content).toBe('mx.hoster.example');
    const broken = defaultRecords('shop.test', { web: { ipv4: 'not-an-ip', ipv6: null }, mail: null }, settings);
    expect(broken).toEqual({ ok: false, problems: [expect.stringMatching(/@ A not-an-ip: content must be an IPv4 address/), expect.stringMatching(/www A not-an-ip/)] });
  });

  it('with DNS_AUTOCONFIG_HOST: autoconfig and autodiscover CNAMEs and the autodiscover SRV at that host; a bad host is refused at start-up', () => {
    const withAutoconfig = dnsSettings(loadEnv({ NODE_ENV: 'test', DNS_AUTOCONFIG_HOST: 'panel.hoster.example' }));
    const result = defaultRecords('shop.test', { web: null, mail: null }, withAutoconfig);
    expect(result.ok && result.records.filter((r) => r.type === 'CNAME' || r.type === 'SRV').map((r) => `${r.name} ${r.type} ${r.priority ?? '-'} ${r.content}`)).toEqual([
      'autoconfig.shop.test CNAME - panel.hoster.example',
      'autodiscover.shop.test CNAME - panel.hoster.example',
      '_autodiscover._tcp.shop.test SRV 0 0 443 panel.hoster.example',
    ]);
    expect(settings.template.autoconfigHost).toBeNull();
    expect(() => loadEnv({ NODE_ENV: 'test', DNS_AUTOCONFIG_HOST: 'Panel Host' })).toThrow(/DNS_AUTOCONFIG_HOST/);
  });

  it('writes the SOA contact in domain form', () => {
    expect(hostmasterName('Hostmaster@Example.Test')).toBe('hostmaster.example.test');
    expect(hostmasterName('dns.admin@example.test')).toBe('dns\\.admin.example.test');
  });
});
