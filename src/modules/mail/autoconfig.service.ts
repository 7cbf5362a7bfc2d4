import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import type { Env } from '../../config/env.js';
import { domains, mailDomains } from '../../db/schema/index.js';
import { withTenant } from '../../db/tenant-tx.js';
import { isNormalizedDomain } from '../../shared/domain-name.js';
import { notFound } from '../../shared/errors/app-error.js';

/**
 * Mail client autoconfiguration for the hosted mail domains: Thunderbird's autoconfig
 * (`config-v1.1.xml`) and Outlook's POX autodiscover. Both are asked before anyone logs in, so the
 * domain is looked up across tenants: `hosted_name_owner()` (migration mail_autoconfig_lookup)
 * names the tenant holding the exact name, and the mail domain is read in that tenant's own
 * transaction. Only an ACTIVE or SUSPENDED mail domain is answered; any other name is a 404.
 * The answers carry only what MX records already say: the mail host and the client ports.
 */

export type ClientSecurity = 'SSL' | 'STARTTLS' | 'plain';

export interface ClientSettings {
  readonly domain: string;
  readonly mailHost: string;
  readonly imap: { readonly port: number; readonly security: ClientSecurity };
  readonly smtp: { readonly port: number; readonly security: ClientSecurity };
}

type AutoconfigEnv = Pick<Env, 'DNS_MAIL_HOST' | 'MAIL_CLIENT_IMAP_PORT' | 'MAIL_CLIENT_IMAP_SECURITY' | 'MAIL_CLIENT_SMTP_PORT' | 'MAIL_CLIENT_SMTP_SECURITY'>;

/** The domain a request is about: the address's domain, else the host (autoconfig.<domain>, autodiscover.<domain>). */
export function domainOfRequest(address: string | undefined, host: string | undefined): string | undefined {
  if (address !== undefined) return address.slice(address.lastIndexOf('@') + 1);
  const name = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  const match = /^(?:autoconfig|autodiscover)\.(.+)$/.exec(name);
  return match?.[1];
}

/** The client settings of a hosted mail domain; 404 for any name that is not one. */
export async function clientSettings(db: Database, env: AutoconfigEnv, domain: string | undefined): Promise<ClientSettings> {
  if (!domain || !isNormalizedDomain(domain)) throw notFound('Mail domain');
  const owner = await db.execute<{ owner: string | null }>(sql`select hosted_name_owner(${domain}) as owner`);
  const tenantId = owner.rows[0]?.owner;
  if (!tenantId) throw notFound('Mail domain');
  const [hosted] = await withTenant(db, tenantId, (tx) =>
    tx
      .select({ id: mailDomains.id })
      .from(mailDomains)
      .innerJoin(domains, eq(domains.id, mailDomains.domainId))
      .where(and(eq(domains.name, domain), inArray(mailDomains.status, ['ACTIVE', 'SUSPENDED']))),
  );
  if (!hosted) throw notFound('Mail domain');
  return {
    domain,
    mailHost: env.DNS_MAIL_HOST.replaceAll('{domain}', domain),
    imap: { port: env.MAIL_CLIENT_IMAP_PORT, security: env.MAIL_CLIENT_IMAP_SECURITY },
    smtp: { port: env.MAIL_CLIENT_SMTP_PORT, security: env.MAIL_CLIENT_SMTP_SECURITY },
  };
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const xml = (value: string | number) => String(value).replace(/[&<>"']/g, (char) => XML_ESCAPES[char] ?? char);

/** Thunderbird's autoconfig document (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat). */
export function thunderbirdConfig(settings: ClientSettings): string {
  const server = (tag: 'incomingServer' | 'outgoingServer', type: 'imap' | 'smtp', side: ClientSettings['imap']) =>
    `    <${tag} type="${type}">
      <hostname>${xml(settings.mailHost)}</hostname>
      <port>${side.port}</port>
      <socketType>${side.security}</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </${tag}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${xml(settings.domain)}">
    <domain>${xml(settings.domain)}</domain>
    <displayName>${xml(settings.domain)}</displayName>
    <displayShortName>${xml(settings.domain)}</displayShortName>
${server('incomingServer', 'imap', settings.imap)}
${server('outgoingServer', 'smtp', settings.smtp)}
  </emailProvider>
</clientConfig>
`;
}

/** The address an Outlook autodiscover request names (`<EMailAddress>`), or undefined. Read with a pattern: no XML parser, no entities. */
export function autodiscoverAddress(body: string): string | undefined {
  return /<EMailAddress>\s*([^<\s]{3,254})\s*<\/EMailAddress>/i.exec(body)?.[1];
}

/** Outlook's POX autodiscover answer (MS-OXDSCLI), IMAP and SMTP. */
export function outlookAutodiscover(settings: ClientSettings, address: string): string {
  const protocol = (type: 'IMAP' | 'SMTP', side: ClientSettings['imap']) => `      <Protocol>
        <Type>${type}</Type>
        <Server>${xml(settings.mailHost)}</Server>
        <Port>${side.port}</Port>
        <LoginName>${xml(address)}</LoginName>
        <DomainRequired>off</DomainRequired>
        <SPA>off</SPA>
        <SSL>${side.security === 'plain' ? 'off' : 'on'}</SSL>
${side.security === 'STARTTLS' ? '        <Encryption>TLS</Encryption>\n' : ''}        <AuthRequired>on</AuthRequired>
      </Protocol>`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
${protocol('IMAP', settings.imap)}
${protocol('SMTP', settings.smtp)}
    </Account>
  </Response>
</Autodiscover>
`;
}
