import { isNormalizedDomain } from '../../shared/domain-name.js';
import { InvalidMailInputError, type MailDomainSpec } from '../mailserver.port.js';

/**
 * The lines of the files mPanel owns on a mail server (the contract is scripts/services.sh,
 * "Mail"), as pure functions: which lines belong to a domain, and what they become. Every value is
 * checked here before a line is built, so nothing hostile (a ':' or newline that would add a
 * passwd-file field or a map entry, a '/' or '..' that would reach another path, non-ASCII
 * look-alikes) reaches a file or a path.
 */

export type MailFile = 'users' | 'vdomains' | 'vmailboxes' | 'valiases' | 'keyTable' | 'signingTable';
export const mailFiles: readonly MailFile[] = ['users', 'vdomains', 'vmailboxes', 'valiases', 'keyTable', 'signingTable'];

const LOCAL_PART = /^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$/;
/** Outside addresses (forwarders) may also carry '+' tags. */
const TARGET_LOCAL_PART = /^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$/;
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PASSWORD_FIELD = /^\{[A-Z0-9-]{1,32}\}[!-9;-~]{1,512}$/;
const PEM = /^-----BEGIN (RSA )?PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END (RSA )?PRIVATE KEY-----\n?$/;

export function checkDomain(domain: string): string {
  if (!isNormalizedDomain(domain)) throw new InvalidMailInputError('the mail domain', domain);
  return domain;
}

export function checkLocalPart(localPart: string): string {
  if (!LOCAL_PART.test(localPart) || localPart.includes('..')) throw new InvalidMailInputError('the local part', localPart);
  return localPart;
}

/** A full address: `local@domain`, both parts normalised (`targets`: '+' allowed in the local part). */
export function checkAddress(address: string, kind: 'mailbox' | 'target' = 'mailbox'): { localPart: string; domain: string } {
  const at = address.lastIndexOf('@');
  const localPart = address.slice(0, at);
  const domain = address.slice(at + 1);
  const pattern = kind === 'target' ? TARGET_LOCAL_PART : LOCAL_PART;
  if (at <= 0 || !pattern.test(localPart) || localPart.includes('..') || !isNormalizedDomain(domain)) {
    throw new InvalidMailInputError(kind === 'target' ? 'the alias target' : 'the address', address);
  }
  return { localPart, domain };
}

/** Checks every value of the spec; throws InvalidMailInputError on the first bad one. */
export function checkSpec(spec: MailDomainSpec): void {
  checkDomain(spec.domain);
  const seen = new Set<string>();
  for (const box of spec.mailboxes) {
    checkLocalPart(box.localPart);
    if (!PASSWORD_FIELD.test(box.passwordHash)) throw new InvalidMailInputError('the password field', '(hidden)');
    if (!Number.isInteger(box.quotaMb) || box.quotaMb <= 0 || box.quotaMb > 10_000_000) throw new InvalidMailInputError('the quota', String(box.quotaMb));
    seen.add(box.localPart);
  }
  for (const alias of spec.aliases) {
    checkLocalPart(alias.localPart);
    if (seen.has(alias.localPart)) throw new InvalidMailInputError('the alias (a mailbox has that name)', alias.localPart);
    if (alias.targets.length === 0) throw new InvalidMailInputError('the alias (no target)', alias.localPart);
    for (const target of alias.targets) checkAddress(target, 'target');
  }
  if (spec.dkim) {
    if (!SELECTOR.test(spec.dkim.selector)) throw new InvalidMailInputError('the DKIM selector', spec.dkim.selector);
    if (!PEM.test(spec.dkim.privateKeyPem)) throw new InvalidMailInputError('the DKIM private key', '(hidden)');
  }
}

/** The first field of a line: before ':' in the users file, before whitespace in the maps and tables. */
function keyOf(file: MailFile, line: string): string {
  return (file === 'users' ? line.split(':', 1)[0] : line.split(/\s/, 1)[0]) ?? '';
}

/** True when the line is the domain's (and so is rewritten by applyDomain and removed by removeDomain). */
export function belongsTo(file: MailFile, line: string, domain: string): boolean {
  const key = keyOf(file, line);
  switch (file) {
    case 'vdomains':
      return key === domain;
    case 'keyTable':
      return key.endsWith(`._domainkey.${domain}`) && !key.slice(0, -`._domainkey.${domain}`.length).includes('.');
    case 'signingTable':
      return key === `*@${domain}`;
    default:
      return key.endsWith(`@${domain}`) && !key.slice(0, -domain.length - 1).includes('@');
  }
}

export function keyPath(keysDir: string, domain: string, selector: string): string {
  return `${keysDir}/${domain}.${selector}.key`;
}

/** The domain's lines in each file (none for a domain being removed: `spec` null). */
export function domainLines(spec: MailDomainSpec | null, domain: string, keysDir: string): Record<MailFile, string[]> {
  if (!spec) return { users: [], vdomains: [], vmailboxes: [], valiases: [], keyTable: [], signingTable: [] };
  const address = (localPart: string) => `${localPart}@${domain}`;
  // `{SCHEME}!hash` never verifies: the login is refused, the userdb (delivery) still answers.
  const password = (hash: string, enabled: boolean) => (enabled ? hash : hash.replace(/^(\{[A-Z0-9-]+\})!?/, '$1!'));
  const dkim = spec.dkim;
  return {
    users: spec.mailboxes.map((box) => `${address(box.localPart)}:${password(box.passwordHash, box.enabled)}::::::userdb_quota_rule=*:storage=${box.quotaMb}M`),
    vdomains: [`${domain} OK`],
    vmailboxes: spec.mailboxes.map((box) => `${address(box.localPart)} ${address(box.localPart)}`),
    valiases: spec.aliases.map((alias) => `${address(alias.localPart)} ${alias.targets.join(', ')}`),
    keyTable: dkim ? [`${dkim.selector}._domainkey.${domain} ${domain}:${dkim.selector}:${keyPath(keysDir, domain, dkim.selector)}`] : [],
    signingTable: dkim ? [`*@${domain} ${dkim.selector}._domainkey.${domain}`] : [],
  };
}

/** The file's new text: other domains' lines as they were (order kept), then the domain's lines. */
export function replaceDomainLines(file: MailFile, current: string, domain: string, lines: readonly string[]): string {
  const all = current.split('\n').filter((line) => line.trim() !== '');
  const ours = all.filter((line) => belongsTo(file, line, domain));
  // Already right (wherever the lines sit): unchanged, so a repeat writes and reloads nothing.
  if (ours.length === lines.length && ours.every((line, i) => line === lines[i])) return current;
  const kept = all.filter((line) => !belongsTo(file, line, domain));
  return [...kept, ...lines].map((line) => `${line}\n`).join('');
}
