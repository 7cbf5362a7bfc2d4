import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Database } from '../../src/config/database.js';
import type { Env } from '../../src/config/env.js';
import { createContainer, type Container } from '../../src/container.js';
import { customerLogins, customerRefreshTokens, type Customer, type CustomerLogin, type CustomerRole, type Tenant } from '../../src/db/schema/index.js';
import { withTenant } from '../../src/db/tenant-tx.js';
import type { CustomerLinkMail, CustomerLinkMailer } from '../../src/modules/customer-auth/customer-link-mailer.js';
import { signCustomerToken } from '../../src/modules/customer-auth/customer-tokens.js';
import { DEFAULT_PASSWORD } from '../factories.js';
import { hashPassword } from '../../src/modules/auth/password.js';

/** A mailer that keeps every customer link it is given, for tests to follow. */
export class CapturingMailer implements CustomerLinkMailer {
  readonly sent: CustomerLinkMail[] = [];
  send(mail: CustomerLinkMail): Promise<void> {
    this.sent.push(mail);
    return Promise.resolve();
  }
  /** The token of the newest link of `kind` sent to `email`. */
  tokenFor(email: string, kind: CustomerLinkMail['kind']): string {
    const mail = this.sent.filter((m) => m.email === email.toLowerCase() && m.kind === kind).at(-1);
    if (!mail) throw new Error(`no ${kind} link sent to ${email}`);
    const token = new URL(mail.url).searchParams.get('token');
    if (!token) throw new Error(`no token in ${mail.url}`);
    return token;
  }
}

/** The app's container with a capturing customer mailer (AppDeps.customerLinkMailer). */
export function containerWithMailer(mailer: CustomerLinkMailer) {
  return (env: Env): Container => Object.assign(createContainer(env, 'api'), { customerLinkMailer: mailer });
}

const fastHash = hashPassword(DEFAULT_PASSWORD, 4);

/** A portal login of `customer` with the default password (set directly, as an accepted invitation leaves it). */
export async function buildCustomerLogin(
  db: Database,
  tenant: Pick<Tenant, 'id'>,
  customer: Pick<Customer, 'id'>,
  overrides: { role?: CustomerRole; email?: string } = {},
): Promise<CustomerLogin> {
  const login = await withTenant(db, tenant.id, async (tx) => {
    const [row] = await tx
      .insert(customerLogins)
      .values({ tenantId: tenant.id, customerId: customer.id, email: overrides.email ?? `login-${randomUUID().slice(0, 8)}@example.test`, name: 'Portal User', role: overrides.role ?? 'OWNER', passwordHash: await fastHash })
      .returning();
    return row;
  });
  if (!login) throw new Error('buildCustomerLogin: no row');
  return login;
}

/** Authorization header for a portal login, with an open session (as a real login leaves it). */
export async function customerAuthHeader(env: Env, db: Database, login: CustomerLogin): Promise<Record<string, string>> {
  const sessionId = randomUUID();
  await withTenant(db, login.tenantId, (tx) =>
    tx.insert(customerRefreshTokens).values({ tenantId: login.tenantId, customerId: login.customerId, loginId: login.id, familyId: sessionId, tokenHash: `test-${randomUUID()}`, expiresAt: new Date(Date.now() + 3_600_000) }),
  );
  const token = await signCustomerToken(env, { loginId: login.id, tenantId: login.tenantId, customerId: login.customerId, sessionId, role: login.role });
  return { authorization: `Bearer ${token}` };
}

export async function loginRow(db: Database, tenantId: string, id: string): Promise<CustomerLogin | undefined> {
  const [row] = await withTenant(db, tenantId, (tx) => tx.select().from(customerLogins).where(eq(customerLogins.id, id)));
  return row;
}
