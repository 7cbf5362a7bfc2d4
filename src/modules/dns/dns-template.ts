import type { Env } from '../../config/env.js';
import type { SoaSettings } from '../../providers/dns.port.js';
import { recordConflicts, validateRecord, type DnsRecordData, type RecordInput, type RecordIssue } from './dns-records.js';

/** DNS settings from the environment: name servers, SOA, TTL and the default records of a new zone. */
export interface DnsSettings {
  readonly nameservers: readonly string[];
  readonly soa: SoaSettings;
  readonly defaultTtl: number;
  readonly template: {
    readonly webIpv4: string;
    readonly webIpv6: string | null;
    /** May contain {domain}. */
    readonly mailHost: string;
    readonly mailIpv4: string;
    readonly mailIpv6: string | null;
    readonly spf: string;
    /** null when DMARC is turned off. */
    readonly dmarc: string | null;
    /** The host autoconfig/autodiscover point at (DNS_AUTOCONFIG_HOST), or null for none. */
    readonly autoconfigHost: string | null;
  };
}

/** SOA timers (RFC 1912 §2.2 values, as PowerDNS's default-soa-content uses). */
const SOA_TIMERS = { refresh: 10_800, retry: 3_600, expire: 604_800, minimum: 3_600 } as const;

/** `first.last@example.com` → `first\.last.example.com` (RFC 1035 §8: a dot in the local part is escaped). */
export function hostmasterName(email: string): string {
  const at = email.lastIndexOf('@');
  return `${email.slice(0, at).toLowerCase().replaceAll('.', '\\.')}.${email.slice(at + 1).toLowerCase()}`;
}

type DnsEnv = Pick<
  Env,
  | 'DNS_NAMESERVERS'
  | 'DNS_HOSTMASTER'
  | 'DNS_DEFAULT_TTL'
  | 'DNS_DEFAULT_WEB_IPV4'
  | 'DNS_DEFAULT_WEB_IPV6'
  | 'DNS_MAIL_HOST'
  | 'DNS_DEFAULT_MAIL_IPV4'
  | 'DNS_DEFAULT_MAIL_IPV6'
  | 'DNS_SPF'
  | 'DNS_DMARC'
  | 'DNS_DMARC_RECORD'
  | 'DNS_AUTOCONFIG_HOST'
>;

export function dnsSettings(env: DnsEnv): DnsSettings {
  const [primary = 'ns1.invalid'] = env.DNS_NAMESERVERS;
  return {
    nameservers: env.DNS_NAMESERVERS,
    soa: { primary, hostmaster: hostmasterName(env.DNS_HOSTMASTER), ...SOA_TIMERS, ttl: env.DNS_DEFAULT_TTL },
    defaultTtl: env.DNS_DEFAULT_TTL,
    template: {
      webIpv4: env.DNS_DEFAULT_WEB_IPV4,
      webIpv6: env.DNS_DEFAULT_WEB_IPV6 ?? null,
      mailHost: env.DNS_MAIL_HOST,
      mailIpv4: env.DNS_DEFAULT_MAIL_IPV4,
      mailIpv6: env.DNS_DEFAULT_MAIL_IPV6 ?? null,
      spf: env.DNS_SPF,
      dmarc: env.DNS_DMARC ? env.DNS_DMARC_RECORD : null,
      autoconfigHost: env.DNS_AUTOCONFIG_HOST ?? null,
    },
  };
}

/** A server's addresses (at least one is set). */
export interface ServerAddresses {
  readonly ipv4: string | null;
  readonly ipv6: string | null;
}

/** Where the site and the mail live: a registered server's addresses, or null for the configured defaults. */
export interface TemplateAddresses {
  readonly web: ServerAddresses | null;
  readonly mail: ServerAddresses | null;
}

export const MX_PRIORITY = 10;

/**
 * The default records of a new zone: `@` and `www` A (and AAAA) at the web server, MX to the
 * mail host (with its own A/AAAA when it is inside the zone), SPF, DMARC when enabled, and the
 * mail clients' autoconfig/autodiscover names when DNS_AUTOCONFIG_HOST is set. Every
 * record goes through the same validation and conflict rules as one written through the API; a
 * template that breaks them (a misconfiguration) is reported with the offending record.
 */
export function defaultRecords(domain: string, addresses: TemplateAddresses, settings: DnsSettings): { ok: true; records: DnsRecordData[] } | { ok: false; problems: string[] } {
  const t = settings.template;
  // A registered server's own addresses, never mixed with the defaults (which are another machine).
  const web = addresses.web ?? { ipv4: t.webIpv4, ipv6: t.webIpv6 };
  const mail = addresses.mail ?? { ipv4: t.mailIpv4, ipv6: t.mailIpv6 };
  const mailHost = t.mailHost.replaceAll('{domain}', domain);
  const fill = (text: string) => text.replaceAll('{domain}', domain);

  const inputs: RecordInput[] = [];
  for (const name of ['@', 'www']) {
    if (web.ipv4) inputs.push({ name, type: 'A', content: web.ipv4 });
    if (web.ipv6) inputs.push({ name, type: 'AAAA', content: web.ipv6 });
  }
  inputs.push({ name: '@', type: 'MX', content: mailHost, priority: MX_PRIORITY });
  if (mailHost === domain || mailHost.endsWith(`.${domain}`)) {
    // A mail host at @ or www shares the web records: only a name of its own gets addresses.
    if (mailHost !== domain && mailHost !== `www.${domain}`) {
      if (mail.ipv4) inputs.push({ name: `${mailHost}.`, type: 'A', content: mail.ipv4 });
      if (mail.ipv6) inputs.push({ name: `${mailHost}.`, type: 'AAAA', content: mail.ipv6 });
    }
  }
  inputs.push({ name: '@', type: 'TXT', content: fill(t.spf) });
  if (t.dmarc) inputs.push({ name: '_dmarc', type: 'TXT', content: fill(t.dmarc) });
  if (t.autoconfigHost) {
    const target = `${t.autoconfigHost}.`;
    inputs.push({ name: 'autoconfig', type: 'CNAME', content: target }, { name: 'autodiscover', type: 'CNAME', content: target });
    inputs.push({ name: `_autodiscover._tcp.${domain}.`, type: 'SRV', content: `0 443 ${target}`, priority: 0 });
  }

  const records: DnsRecordData[] = [];
  const problems: string[] = [];
  const describe = (input: RecordInput, issues: readonly RecordIssue[]) =>
    `${input.name} ${input.type} ${input.content}: ${issues.map((issue) => `${issue.field} ${issue.message}`).join('; ')}`;
  for (const input of inputs) {
    const checked = validateRecord(input, domain, settings.defaultTtl);
    if (!checked.ok) {
      problems.push(describe(input, checked.issues));
      continue;
    }
    const conflicts = recordConflicts(checked.value, records);
    if (conflicts.length > 0) problems.push(describe(input, conflicts));
    else records.push(checked.value);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, records };
}
