import { and, eq, ne } from 'drizzle-orm';
import type { Env } from '../../config/env.js';
import { domains, mailAliases, mailboxes, mailDomains, servers, type MailDomain, type Server } from '../../db/schema/index.js';
import type { Tx } from '../../db/tenant-tx.js';
import type { MailDomainSpec } from '../../providers/mailserver.port.js';
import { createSecretBox, type SecretBox } from '../../shared/crypto/secret-box.js';

/**
 * The database is the source of truth of what a mail server holds: these functions read a mail
 * domain's rows and turn them into the adapter's MailDomainSpec, which every mail operation
 * (provisioning, the API, the lifecycle) applies whole.
 */

let box: { key: string; box: SecretBox } | null = null;

/** The secret box of SECRETS_ENCRYPTION_KEY (built once per key). */
export function secretBoxOf(env: Pick<Env, 'SECRETS_ENCRYPTION_KEY'>): SecretBox {
  if (box?.key !== env.SECRETS_ENCRYPTION_KEY) box = { key: env.SECRETS_ENCRYPTION_KEY, box: createSecretBox({ key: env.SECRETS_ENCRYPTION_KEY }) };
  return box.box;
}

/** Associated data of a DKIM private key: a sealed key copied to another row does not open there. */
export const dkimKeyAad = (mailDomainId: string) => `mail_domains:${mailDomainId}:dkim_private_key`;

export interface LoadedMailDomain {
  readonly mailDomain: MailDomain;
  readonly domain: string;
  readonly server: Server;
}

/** The mail domain with its domain name and server, locked for the transaction (one writer per domain at a time). */
export async function lockMailDomain(tx: Tx, mailDomainId: string): Promise<LoadedMailDomain | undefined> {
  const [row] = await tx
    .select({ mailDomain: mailDomains, domain: domains.name, server: servers })
    .from(mailDomains)
    .innerJoin(domains, eq(domains.id, mailDomains.domainId))
    .innerJoin(servers, eq(servers.id, mailDomains.serverId))
    .where(eq(mailDomains.id, mailDomainId))
    .for('update', { of: mailDomains });
  return row;
}

/**
 * Everything the domain holds on its server, from the rows: mailboxes that are not DELETED
 * (enabled only when both the mailbox and the domain are ACTIVE, or PENDING while provisioning),
 * aliases, and the DKIM key (opened from its sealed form).
 */
export async function domainSpec(tx: Tx, env: Pick<Env, 'SECRETS_ENCRYPTION_KEY'>, loaded: LoadedMailDomain): Promise<MailDomainSpec> {
  const { mailDomain } = loaded;
  const boxes = await tx
    .select()
    .from(mailboxes)
    .where(and(eq(mailboxes.domainId, mailDomain.domainId), ne(mailboxes.status, 'DELETED')))
    .orderBy(mailboxes.localPart);
  const aliases = await tx.select().from(mailAliases).where(eq(mailAliases.mailDomainId, mailDomain.id)).orderBy(mailAliases.localPart);
  const domainLive = mailDomain.status === 'ACTIVE' || mailDomain.status === 'PENDING';
  return {
    domain: loaded.domain,
    mailboxes: boxes
      .filter((row) => row.passwordHash !== null)
      .map((row) => ({ localPart: row.localPart, passwordHash: row.passwordHash!, quotaMb: row.quotaMb, enabled: domainLive && row.status !== 'SUSPENDED' })),
    aliases: aliases.map((row) => ({ localPart: row.localPart, targets: row.targets })),
    dkim: { selector: mailDomain.dkimSelector, privateKeyPem: secretBoxOf(env).openText(mailDomain.dkimPrivateKeyEncrypted, dkimKeyAad(mailDomain.id)) },
  };
}

/** The DKIM TXT record's text for a public key. */
export const dkimRecord = (publicKeyBase64: string) => `v=DKIM1; k=rsa; p=${publicKeyBase64}`;
