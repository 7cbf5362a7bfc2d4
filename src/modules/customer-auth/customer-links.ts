import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { customerLinkTokens, customerLogins, type CustomerLinkKind, type CustomerLogin } from '../../db/schema/index.js';
import { CUSTOMER_TOKEN_HASH_SETTING, TENANT_SETTING } from '../../db/schema/rls.js';
import type { Tx } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import { hashRefreshToken, newRefreshToken } from '../auth/tokens.js';
import type { CustomerLinkMail } from './customer-link-mailer.js';

/** How long each kind of link works. */
export const LINK_TTL_SECONDS: Readonly<Record<CustomerLinkKind, number>> = {
  INVITATION: 72 * 3600,
  PASSWORD_RESET: 3600,
  SIGN_IN: 15 * 60,
};

/** The portal page each link opens (`<PORTAL_URL>/<page>?token=...`). */
const PAGES: Readonly<Record<CustomerLinkKind, string>> = {
  INVITATION: 'accept-invitation',
  PASSWORD_RESET: 'reset-password',
  SIGN_IN: 'sign-in',
};

const INVALID_LINK = 'This link is not valid, has expired or was already used';

type LinkLogin = Pick<CustomerLogin, 'id' | 'tenantId' | 'customerId' | 'email' | 'name'>;

/**
 * A new one-time link for `login`, in the caller's transaction: 256 random bits, only the SHA-256
 * stored. Earlier unused links of the same kind stop working (the newest email is the one).
 */
export async function issueLink(tx: Tx, login: LinkLogin, kind: CustomerLinkKind, portalUrl: string): Promise<CustomerLinkMail> {
  const { token, hash } = newRefreshToken();
  const expiresAt = new Date(Date.now() + LINK_TTL_SECONDS[kind] * 1000);
  await tx.delete(customerLinkTokens).where(and(eq(customerLinkTokens.loginId, login.id), eq(customerLinkTokens.kind, kind), isNull(customerLinkTokens.usedAt)));
  await tx.insert(customerLinkTokens).values({ tenantId: login.tenantId, customerId: login.customerId, loginId: login.id, kind, tokenHash: hash, expiresAt });
  const url = `${portalUrl.replace(/\/+$/, '')}/${PAGES[kind]}?token=${encodeURIComponent(token)}`;
  return { kind, tenantId: login.tenantId, customerId: login.customerId, loginId: login.id, email: login.email, name: login.name, url, expiresAt };
}

/**
 * Spends a link of one of `kinds` and runs `fn` in the same transaction (tenant set), so the link
 * is used exactly once and only if `fn` succeeds. Unknown, expired, spent links and links of a
 * disabled login all answer the same 401.
 */
export async function useLink<T>(db: Database, token: string, kinds: readonly CustomerLinkKind[], fn: (tx: Tx, login: CustomerLogin, kind: CustomerLinkKind) => Promise<T>): Promise<T> {
  const hash = hashRefreshToken(token);
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config(${CUSTOMER_TOKEN_HASH_SETTING}, ${hash}, true)`);
    const [found] = await tx.select({ id: customerLinkTokens.id, tenantId: customerLinkTokens.tenantId }).from(customerLinkTokens).where(eq(customerLinkTokens.tokenHash, hash));
    if (!found) throw new AppError('UNAUTHENTICATED', INVALID_LINK);
    await tx.execute(sql`select set_config(${TENANT_SETTING}, ${found.tenantId}, true), set_config(${CUSTOMER_TOKEN_HASH_SETTING}, '', true)`);
    const [link] = await tx.select().from(customerLinkTokens).where(eq(customerLinkTokens.id, found.id)).for('update');
    if (!link || link.usedAt !== null || link.expiresAt.getTime() <= Date.now() || !kinds.includes(link.kind)) throw new AppError('UNAUTHENTICATED', INVALID_LINK);
    const [login] = await tx.select().from(customerLogins).where(and(eq(customerLogins.id, link.loginId), isNull(customerLogins.deletedAt)));
    if (!login?.isActive) throw new AppError('UNAUTHENTICATED', INVALID_LINK);
    await tx.update(customerLinkTokens).set({ usedAt: new Date() }).where(eq(customerLinkTokens.id, link.id));
    return fn(tx, login, link.kind);
  });
}
