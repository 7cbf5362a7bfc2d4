import type { HostTarget } from './host/host-directory.js';
import { ProviderError } from './provider-error.js';

/**
 * Mail hosting as the rest of mPanel sees it: domains, mailboxes, aliases and DKIM keys on a mail
 * server, in our own types. The Postfix + Dovecot + OpenDKIM adapter (providers/postfix-dovecot)
 * implements it on this machine or over SSH, through the host transport.
 *
 * The database is the source of truth: a caller hands the WHOLE wanted state of one domain
 * (`applyDomain`), and the adapter makes the server's files say exactly that for the domain,
 * leaving every other domain's lines as they are. So every operation (provisioning, a password
 * change, a suspension, a retry) is the same idempotent call.
 */

/** What the mail provider needs from a servers row (the row itself fits). */
export interface MailServerTarget extends HostTarget {
  readonly id: string;
}

export interface MailboxSpec {
  /** Lower-case local part (checked again by the adapter before it reaches any file). */
  readonly localPart: string;
  /** A Dovecot password field, `{SHA512-CRYPT}$6$...` (MailProvider.hashPassword); never a plain password. */
  readonly passwordHash: string;
  readonly quotaMb: number;
  /** false: login (IMAP, SMTP AUTH) refused, inbound mail still accepted and kept. */
  readonly enabled: boolean;
}

export interface AliasSpec {
  /** The alias's local part in the domain. */
  readonly localPart: string;
  /** Full addresses, hosted or not (a forwarder). */
  readonly targets: readonly string[];
}

export interface DkimKeySpec {
  readonly selector: string;
  /** PKCS#1 or PKCS#8 PEM; written to the server 0600 for OpenDKIM only. */
  readonly privateKeyPem: string;
}

/** Everything a domain holds on the mail server. */
export interface MailDomainSpec {
  readonly domain: string;
  readonly mailboxes: readonly MailboxSpec[];
  readonly aliases: readonly AliasSpec[];
  readonly dkim: DkimKeySpec | null;
}

export interface ApplyResult {
  /** The files this call rewrote (none on a repeat call). */
  readonly changed: readonly string[];
  /** What it reloaded: 'dovecot', 'postfix', 'opendkim'. */
  readonly reloaded: readonly string[];
}

export interface QuotaUsage {
  readonly usedBytes: number;
  /** null: no limit. */
  readonly limitBytes: number | null;
  readonly messages: number;
}

export interface DkimKeyPair {
  readonly privateKeyPem: string;
  /** The `p=` of the DKIM TXT record: base64 of the DER SubjectPublicKeyInfo. */
  readonly publicKeyBase64: string;
}

/** Mail on one server. */
export interface MailServerPort {
  readonly description: string;
  /**
   * Makes the server's users file, Postfix maps and OpenDKIM tables hold exactly `spec` for its
   * domain (mailboxes, aliases, the signing key), then reloads only what must see the change.
   * Writes are atomic and serialised per server (and across processes by the host's lock).
   */
  applyDomain(spec: MailDomainSpec): Promise<ApplyResult>;
  /**
   * Makes these folders exist for the mailbox (existing ones are fine): created now, or by the mail
   * server itself at the mailbox's first access when it is configured to (Dovecot `auto = subscribe`).
   */
  ensureFolders(address: string, folders: readonly string[]): Promise<void>;
  /** The mailbox's usage as Dovecot's quota counts it. */
  quota(address: string): Promise<QuotaUsage>;
  /**
   * Archives the mailbox's maildir to `${archiveTo}/<domain>-<local part>-<UTC time>.tar.gz`
   * (null: no archive), then removes it. Returns the archive, or null when there was no maildir.
   */
  archiveMailbox(address: string, archiveTo: string | null): Promise<string | null>;
  /** Removes every line of the domain (and its key), then archives and removes its maildirs. */
  removeDomain(domain: string, archiveTo: string | null): Promise<{ archive: string | null }>;
  /** An IMAP LOGIN with these credentials: true when accepted, false when refused. */
  checkLogin(address: string, password: string): Promise<boolean>;
  /** Hands a message to the server's inbound SMTP, as mail from outside arrives. */
  sendInbound(message: { from: string; to: string; subject: string; text: string }): Promise<void>;
  /** Waits up to `timeoutMs` for a message with this subject in the INBOX; false when none came. */
  inboxHas(address: string, password: string, subject: string, timeoutMs: number): Promise<boolean>;
}

/** The mail servers: one port per servers row, plus what needs no server. */
export interface MailProvider {
  forServer(server: MailServerTarget): MailServerPort;
  /** The password field for the users file, hashed in this process (never on a command line). */
  hashPassword(plain: string): string;
  /** A new RSA 2048 DKIM key. */
  generateDkimKey(): DkimKeyPair;
}

/** A mail-server failure; `permanent` as for every ProviderError. */
export class MailServerError extends ProviderError {
  override name = 'MailServerError';
}

/** A local part, domain, selector, target or hash that could break a file: refused before any file is touched. */
export class InvalidMailInputError extends MailServerError {
  override name = 'InvalidMailInputError';

  constructor(what: string, value: string) {
    super(`refusing ${what} "${printable(value)}": not a normalised value (lower-case ASCII letters, digits and . _ - only)`, true);
  }
}

function printable(value: string): string {
  const safe = value.replace(/[^\x20-\x7e]/g, '?');
  return safe.length > 80 ? `${safe.slice(0, 80)}…` : safe;
}
