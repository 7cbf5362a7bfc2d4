import { and, desc, eq, inArray, isNull, max, min, ne, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import {
  customerLogins,
  customerRefreshTokens,
  customers,
  domains,
  prices,
  products,
  sslCertificates,
  subscriptions,
  twoFactorFactors,
  type Customer,
  type CustomerLogin,
} from '../../db/schema/index.js';
import { withCustomer, type Tx } from '../../db/tenant-tx.js';
import { AppError, conflict, notFound } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import { hashPassword, verifyPassword } from '../auth/password.js';
import type { CustomerAuthContext } from '../customer-auth/customer-auth-context.js';
import { revokeAllSessions, sessionLogin, type CustomerAuthDeps } from '../customer-auth/customer-auth.service.js';
import type { CustomerLinkMail } from '../customer-auth/customer-link-mailer.js';
import { issueLink } from '../customer-auth/customer-links.js';
import type { Contact, InviteContactBody, PortalSession, Profile, Service, UpdateProfileBody } from './portal.types.js';

/**
 * The client portal's reads and writes. Every query runs in withCustomer (tenant AND customer set,
 * so the customer RLS policy applies) and is scoped by the customer from the token as well:
 * another customer's object is 404, as another tenant's is.
 */
const inAccount = <T>(db: Database, auth: CustomerAuthContext, fn: (tx: Tx) => Promise<T>): Promise<T> => withCustomer(db, auth.tenantId, auth.customerId, fn);

async function customerRow(tx: Tx, auth: CustomerAuthContext): Promise<Customer> {
  const [row] = await tx.select().from(customers).where(and(eq(customers.tenantId, auth.tenantId), eq(customers.id, auth.customerId), isNull(customers.deletedAt)));
  if (!row) throw notFound('Customer');
  return row;
}

/** Whether the signed-in login has a confirmed second factor (the security screen shows on or off). */
async function twoFactorEnabled(tx: Tx, auth: CustomerAuthContext): Promise<boolean> {
  const [factor] = await tx
    .select({ confirmedAt: twoFactorFactors.confirmedAt })
    .from(twoFactorFactors)
    .where(and(eq(twoFactorFactors.tenantId, auth.tenantId), eq(twoFactorFactors.customerLoginId, auth.loginId)));
  return factor?.confirmedAt != null;
}

async function profileOf(tx: Tx, customer: Customer, auth: CustomerAuthContext): Promise<Profile> {
  return {
    customer: { id: customer.id, email: customer.email, name: customer.name, company: customer.company, phone: customer.phone, billingAddress: customer.billingAddress, taxId: customer.taxId, locale: customer.locale },
    login: sessionLogin({ id: auth.loginId, customerId: auth.customerId, tenantId: auth.tenantId, email: auth.email, name: auth.name, role: auth.role }),
    twoFactorEnabled: await twoFactorEnabled(tx, auth),
  };
}

export async function getProfile(db: Database, auth: CustomerAuthContext): Promise<Profile> {
  return inAccount(db, auth, async (tx) => profileOf(tx, await customerRow(tx, auth), auth));
}

/** Profile, billing address and tax id changes: one audited update of the customer row. */
export async function updateCustomer(db: Database, auth: CustomerAuthContext, actor: AuditActor, change: UpdateProfileBody | Pick<Customer, 'billingAddress'> | Pick<Customer, 'taxId'>): Promise<Profile> {
  return inAccount(db, auth, async (tx) => {
    const before = await customerRow(tx, auth);
    const [after] = await tx.update(customers).set(change).where(and(eq(customers.id, before.id), eq(customers.tenantId, auth.tenantId))).returning();
    if (!after) throw notFound('Customer');
    const fields = Object.keys(change) as (keyof typeof change)[];
    const pick = (row: Customer) => Object.fromEntries(fields.map((field) => [field, row[field as keyof Customer]]));
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'customer.updated', targetType: 'customer', targetId: after.id, before: pick(before), after: pick(after), metadata: { via: 'portal' } });
    return profileOf(tx, after, auth);
  });
}

// ---------------------------------------------------------------------------------------------
// Contacts: the account's other logins

const contactOf = (login: CustomerLogin): Contact => ({ id: login.id, email: login.email, name: login.name, role: login.role, passwordSet: login.passwordHash !== null, lastLoginAt: login.lastLoginAt, createdAt: login.createdAt });

export async function listContacts(db: Database, auth: CustomerAuthContext): Promise<{ items: Contact[] }> {
  return inAccount(db, auth, async (tx) => {
    const rows = await tx.select().from(customerLogins).where(and(eq(customerLogins.customerId, auth.customerId), isNull(customerLogins.deletedAt))).orderBy(customerLogins.createdAt);
    return { items: rows.map(contactOf) };
  });
}

/** The owner invites a billing or technical contact: a login without password and its 72 h invitation. */
export async function inviteContact(deps: CustomerAuthDeps, auth: CustomerAuthContext, actor: AuditActor, body: InviteContactBody): Promise<Contact> {
  let mail: CustomerLinkMail | undefined;
  const contact = await inAccount(deps.db, auth, async (tx) => {
    const [login] = await tx
      .insert(customerLogins)
      .values({ tenantId: auth.tenantId, customerId: auth.customerId, email: body.email, name: body.name, role: body.role, invitedBy: auth.loginId })
      .onConflictDoNothing()
      .returning();
    if (!login) throw new AppError('CONFLICT', 'This email already has a portal login here', { fields: [{ field: 'body/email', message: 'already has a portal login' }] });
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'customer_login.invited', targetType: 'customer_login', targetId: login.id, after: { customerId: auth.customerId, email: login.email, role: login.role } });
    mail = await issueLink(tx, login, 'INVITATION', deps.env.PORTAL_URL);
    return contactOf(login);
  });
  if (mail) await deps.mailer.send(mail).catch((error: unknown) => deps.logger.error({ err: error }, 'could not send a contact invitation'));
  return contact;
}

/** The owner removes a contact: the login is gone and its sessions end. The owner cannot be removed. */
export async function removeContact(db: Database, auth: CustomerAuthContext, actor: AuditActor, loginId: string): Promise<void> {
  await inAccount(db, auth, async (tx) => {
    const [login] = await tx
      .select()
      .from(customerLogins)
      .where(and(eq(customerLogins.customerId, auth.customerId), eq(customerLogins.id, loginId), isNull(customerLogins.deletedAt)))
      .for('update');
    if (!login) throw notFound('Contact');
    if (login.role === 'OWNER') throw conflict('The owner login cannot be removed');
    // The email is freed for a later invitation: the unique index covers deleted rows too.
    await tx.update(customerLogins).set({ deletedAt: new Date(), isActive: false, email: `${login.id}@removed.invalid` }).where(eq(customerLogins.id, login.id));
    await revokeAllSessions(tx, login.id);
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'customer_login.removed', targetType: 'customer_login', targetId: login.id, before: { email: login.email, role: login.role } });
  });
}

// ---------------------------------------------------------------------------------------------
// Own sessions and password

export async function listSessions(db: Database, auth: CustomerAuthContext): Promise<{ items: PortalSession[] }> {
  return inAccount(db, auth, async (tx) => {
    const rows = await tx
      .select({
        familyId: customerRefreshTokens.familyId,
        startedAt: min(customerRefreshTokens.createdAt),
        lastUsedAt: max(customerRefreshTokens.createdAt),
        ip: sql<string | null>`(array_agg(${customerRefreshTokens.ip} order by ${customerRefreshTokens.createdAt} desc))[1]`,
        userAgent: sql<string | null>`(array_agg(${customerRefreshTokens.userAgent} order by ${customerRefreshTokens.createdAt} desc))[1]`,
      })
      .from(customerRefreshTokens)
      .where(and(eq(customerRefreshTokens.loginId, auth.loginId), isNull(customerRefreshTokens.revokedAt), sql`${customerRefreshTokens.expiresAt} > now()`))
      .groupBy(customerRefreshTokens.familyId)
      .orderBy(desc(max(customerRefreshTokens.createdAt)));
    return {
      items: rows.map((row) => ({ id: row.familyId, startedAt: row.startedAt ?? new Date(0), lastUsedAt: row.lastUsedAt ?? new Date(0), ip: row.ip, userAgent: row.userAgent, current: row.familyId === auth.sessionId })),
    };
  });
}

/** Ends one of the login's own sessions (another login's session is not found). */
export async function revokeSession(db: Database, auth: CustomerAuthContext, actor: AuditActor, sessionId: string): Promise<void> {
  await inAccount(db, auth, async (tx) => {
    const revoked = await tx
      .update(customerRefreshTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(customerRefreshTokens.loginId, auth.loginId), eq(customerRefreshTokens.familyId, sessionId), isNull(customerRefreshTokens.revokedAt)))
      .returning({ id: customerRefreshTokens.id });
    if (revoked.length === 0) throw notFound('Session');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'customer_auth.session_revoked', targetType: 'customer_login', targetId: auth.loginId, metadata: { sessionId } });
  });
}

/** A new password with the current one; every other session of the login ends. */
export async function changePassword(db: Database, auth: CustomerAuthContext, actor: AuditActor, currentPassword: string, newPassword: string): Promise<void> {
  const [login] = await inAccount(db, auth, (tx) => tx.select().from(customerLogins).where(eq(customerLogins.id, auth.loginId)));
  if (!login?.passwordHash || !(await verifyPassword(currentPassword, login.passwordHash))) {
    throw new AppError('VALIDATION_FAILED', 'The current password is wrong', { fields: [{ field: 'body/currentPassword', message: 'is wrong' }] });
  }
  const passwordHash = await hashPassword(newPassword);
  await inAccount(db, auth, async (tx) => {
    await tx.update(customerLogins).set({ passwordHash }).where(eq(customerLogins.id, auth.loginId));
    await tx
      .update(customerRefreshTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(customerRefreshTokens.loginId, auth.loginId), ne(customerRefreshTokens.familyId, auth.sessionId), isNull(customerRefreshTokens.revokedAt)));
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'customer_login.password_changed', targetType: 'customer_login', targetId: auth.loginId });
  });
}

// ---------------------------------------------------------------------------------------------
// Services

async function servicesOf(tx: Tx, auth: CustomerAuthContext, id?: string): Promise<Service[]> {
  const rows = await tx
    .select({ subscription: subscriptions, product: products, price: prices })
    .from(subscriptions)
    .innerJoin(products, eq(products.id, subscriptions.productId))
    .innerJoin(prices, eq(prices.id, subscriptions.priceId))
    .where(and(eq(subscriptions.tenantId, auth.tenantId), eq(subscriptions.customerId, auth.customerId), id ? eq(subscriptions.id, id) : undefined))
    .orderBy(desc(subscriptions.createdAt));
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.subscription.id);
  const names = await tx.select({ id: domains.id, name: domains.name, subscriptionId: domains.subscriptionId }).from(domains).where(inArray(domains.subscriptionId, ids));
  const certificates = names.length
    ? await tx.select({ domainId: sslCertificates.domainId, status: sslCertificates.status }).from(sslCertificates).where(inArray(sslCertificates.domainId, names.map((d) => d.id))).orderBy(desc(sslCertificates.createdAt))
    : [];
  return rows.map(({ subscription, product, price }) => {
    const domain = names.find((d) => d.subscriptionId === subscription.id);
    const certificate = domain ? certificates.find((c) => c.domainId === domain.id) : undefined;
    const reason = subscription.statusReason;
    return {
      id: subscription.id,
      plan: { productId: product.id, name: product.name, type: product.type, priceId: price.id, amount: price.amount, currency: price.currency, interval: price.interval },
      status: subscription.status,
      statusReason: reason ? { event: reason.event, reason: reason.reason, at: reason.at } : null,
      currentPeriodStart: subscription.currentPeriodStart,
      currentPeriodEnd: subscription.currentPeriodEnd,
      paidThrough: subscription.paidThrough,
      cancelAtPeriodEnd: subscription.cancelAtPeriodEnd,
      domain: domain?.name ?? null,
      siteUrl: domain ? `${certificate?.status === 'ISSUED' ? 'https' : 'http'}://${domain.name}/` : null,
      certificateStatus: certificate?.status ?? null,
      createdAt: subscription.createdAt,
    };
  });
}

export async function listServices(db: Database, auth: CustomerAuthContext): Promise<{ items: Service[] }> {
  return inAccount(db, auth, async (tx) => ({ items: await servicesOf(tx, auth) }));
}

export async function getService(db: Database, auth: CustomerAuthContext, id: string): Promise<Service> {
  return inAccount(db, auth, async (tx) => {
    const [service] = await servicesOf(tx, auth, id);
    if (!service) throw notFound('Service');
    return service;
  });
}
