import { eq } from 'drizzle-orm';
import { afterAll } from 'vitest';
import { loadEnv } from '../../src/config/env.js';
import { mailAliases, mailboxes, mailDomains, subscriptions, type Server } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import { mailSettings } from '../../src/container.js';
import { HostDirectory } from '../../src/providers/host/host-directory.js';
import { PostfixDovecotProvider } from '../../src/providers/postfix-dovecot/postfix-dovecot.js';
import { buildMailDomain } from '../helpers/mail.js';
import { buildCustomerLogin } from '../helpers/portal.js';
import type { CrossCustomerContext, CrossCustomerFixture } from './fixture.js';

// The mail domains live in the shared Postfix/Dovecot files too: removed when the suite ends.
// The suite takes its turn on the mail stack (test/cross-customer.test.ts).
const env = loadEnv();
const mail = new PostfixDovecotProvider(new HostDirectory({ sshPrivateKeyPath: null }), mailSettings(env));
const made: { server: Server; domain: string }[] = [];
afterAll(async () => {
  for (const { server, domain } of made) await mail.forServer(server).removeDomain(domain, null);
});

/** Customer A's hosted mail domain with one mailbox (`info`) and one alias (`sales`), and A's owner login. */
async function mailOfCustomer({ db, tenant }: CrossCustomerContext, key: 'mailboxId' | 'aliasId') {
  const built = await buildMailDomain(db, env, mail, tenant);
  made.push({ server: built.server, domain: built.domain });
  const rows = await withTenant(db, tenant.id, async (tx) => {
    const [box] = await tx
      .insert(mailboxes)
      .values({ tenantId: tenant.id, domainId: built.mailDomain.domainId, subscriptionId: built.subscriptionId, localPart: 'info', passwordHash: mail.hashPassword('Fixture-Password-1'), quotaMb: 50, status: 'ACTIVE' })
      .returning();
    const [alias] = await tx.insert(mailAliases).values({ tenantId: tenant.id, mailDomainId: built.mailDomain.id, localPart: 'sales', targets: ['someone@elsewhere.test'] }).returning();
    const [subscription] = await tx.select({ customerId: subscriptions.customerId }).from(subscriptions).where(eq(subscriptions.id, built.subscriptionId));
    return { mailboxId: box!.id, aliasId: alias!.id, customerId: subscription!.customerId };
  });
  return { params: { id: rows[key], mailDomainId: built.mailDomain.id }, owner: await buildCustomerLogin(db, tenant, { id: rows.customerId }) };
}

/** The mail domain's rows, as the tenant reads them. */
const snapshot: CrossCustomerFixture['snapshot'] = ({ db, tenant }, { mailDomainId }) =>
  withTenant(db, tenant.id, async (tx) => {
    const [domain] = await tx.select().from(mailDomains).where(eq(mailDomains.id, mailDomainId!));
    return {
      domain,
      mailboxes: domain ? await tx.select().from(mailboxes).where(eq(mailboxes.domainId, domain.domainId)) : [],
      aliases: await tx.select().from(mailAliases).where(eq(mailAliases.mailDomainId, mailDomainId!)),
    };
  });

export const fixtures: CrossCustomerFixture[] = [
  { route: 'POST /api/portal/mailboxes/:id/password', create: (context) => mailOfCustomer(context, 'mailboxId'), body: {}, snapshot },
  { route: 'DELETE /api/portal/mail-aliases/:id', create: (context) => mailOfCustomer(context, 'aliasId'), snapshot },
  // The object is named in the body: another customer's mail domain is 404 too.
  {
    route: 'POST /api/portal/mailboxes',
    create: (context) => mailOfCustomer(context, 'mailboxId'),
    body: ({ mailDomainId }: Record<string, string>) => ({ mailDomainId, localPart: 'cross-customer' }),
    snapshot,
  },
  {
    route: 'POST /api/portal/mail-aliases',
    create: (context) => mailOfCustomer(context, 'aliasId'),
    body: ({ mailDomainId }: Record<string, string>) => ({ mailDomainId, localPart: 'cross-customer', targets: ['someone@elsewhere.test'] }),
    snapshot,
  },
];
