import { eq } from 'drizzle-orm';
import { afterAll } from 'vitest';
import { loadEnv } from '../../src/config/env.js';
import { mailAliases, mailboxes, mailDomains, type Server } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { PostfixDovecotProvider } from '../../src/providers/postfix-dovecot/postfix-dovecot.js';
import { HostDirectory } from '../../src/providers/host/host-directory.js';
import { mailSettings } from '../../src/container.js';
import { buildMailDomain } from '../helpers/mail.js';
import type { CrossTenantContext, CrossTenantFixture } from './fixture.js';

// The mail domains live in the shared Postfix/Dovecot files too: the suite's file removes them
// when it ends (a hook registered while the suite imports its fixtures).
const env = loadEnv();
const mail = new PostfixDovecotProvider(new HostDirectory({ sshPrivateKeyPath: null }), mailSettings(env));
const made: { server: Server; domain: string }[] = [];
afterAll(async () => {
  for (const { server, domain } of made) await mail.forServer(server).removeDomain(domain, null);
});

/** A hosted mail domain of tenant A with one mailbox (`info`, password known to nobody) and one alias to it. */
async function createMailDomain({ db, tenant }: CrossTenantContext): Promise<Record<string, string>> {
  const built = await buildMailDomain(db, env, mail, tenant);
  made.push({ server: built.server, domain: built.domain });
  return withTenant(db, tenant.id, async (tx) => {
    const [box] = await tx
      .insert(mailboxes)
      .values({ tenantId: tenant.id, domainId: built.mailDomain.domainId, subscriptionId: built.subscriptionId, localPart: 'info', passwordHash: mail.hashPassword('Fixture-Password-1'), quotaMb: 50, status: 'ACTIVE' })
      .returning();
    const [alias] = await tx.insert(mailAliases).values({ tenantId: tenant.id, mailDomainId: built.mailDomain.id, localPart: 'sales', targets: ['someone@elsewhere.test'] }).returning();
    return { mailDomainId: built.mailDomain.id, mailboxId: box!.id, aliasId: alias!.id };
  });
}

const withId = (key: 'mailDomainId' | 'mailboxId' | 'aliasId') => async (context: CrossTenantContext) => {
  const params = await createMailDomain(context);
  return { ...params, id: params[key]! };
};

/** The mail domain's rows (read as tenant A): what every mail route reads or changes. */
const snapshot: CrossTenantFixture['snapshot'] = ({ db, tenant }, { mailDomainId }) =>
  withTenant(db, tenant.id, async (tx) => {
    const [domain] = await tx.select().from(mailDomains).where(eq(mailDomains.id, mailDomainId!));
    return {
      domain,
      mailboxes: domain ? await tx.select().from(mailboxes).where(eq(mailboxes.domainId, domain.domainId)) : [],
      aliases: await tx.select().from(mailAliases).where(eq(mailAliases.mailDomainId, mailDomainId!)),
    };
  });

export const fixtures: CrossTenantFixture[] = [
  { route: 'GET /api/mail-domains/:id', create: withId('mailDomainId'), snapshot },
  { route: 'GET /api/mailboxes/:id', create: withId('mailboxId'), snapshot },
  { route: 'PATCH /api/mailboxes/:id', create: withId('mailboxId'), body: { quotaMb: 20, resetPassword: true }, snapshot },
  { route: 'DELETE /api/mailboxes/:id', create: withId('mailboxId'), snapshot },
  { route: 'DELETE /api/mail-aliases/:id', create: withId('aliasId'), snapshot },
];
