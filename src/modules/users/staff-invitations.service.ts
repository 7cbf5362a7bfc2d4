import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../config/database.js';
import { staffInvitations, tenants, users, type StaffInvitation } from '../../db/schema/index.js';
import { STAFF_INVITATION_TOKEN_HASH_SETTING, TENANT_SETTING } from '../../db/schema/rls.js';
import { withTenant, type Tx } from '../../db/tenant-tx.js';
import { AppError, conflict, notFound } from '../../shared/errors/app-error.js';
import { recordAudit, type AuditActor } from '../audit/audit.service.js';
import type { AuthContext } from '../auth/auth-context.js';
import { hashPassword } from '../auth/password.js';
import { hashRefreshToken, newRefreshToken } from '../auth/tokens.js';
import { listPage } from '../list-page.js';
import type { StaffInvitationMail } from './staff-invitation-mailer.js';
import type { InviteUserBody, ListStaffInvitationsQuery, StaffInvitationView, StaffInvitationsPage } from './staff-invitations.types.js';
import { assertMayGrant, insertUser } from './users.service.js';

/**
 * Staff invitations (issue 12: "creating a user with an address used in another tenant must not
 * reveal that it exists there"). Emails are unique across the install because staff log in by
 * email alone, so creating a user directly answers 409 for an address another tenant uses. A
 * tenant ADMIN therefore invites: the answer is the same whatever the address, and the user is
 * created only when the owner of the address accepts, the one person who may learn that the
 * address already has an account. Creating a user with a password directly is left to the
 * platform's SUPER_ADMIN, who sees every tenant anyway.
 */

export const INVITATION_TTL_SECONDS = 72 * 3600;

const INVALID_LINK = 'This invitation is not valid, has expired, was revoked or was already used';

function statusOf(invitation: StaffInvitation, now = Date.now()): StaffInvitationView['status'] {
  if (invitation.acceptedAt) return 'ACCEPTED';
  if (invitation.revokedAt) return 'REVOKED';
  return invitation.expiresAt.getTime() <= now ? 'EXPIRED' : 'PENDING';
}

export function staffInvitationView(invitation: StaffInvitation): StaffInvitationView {
  const { id, email, name, role, invitedBy, expiresAt, acceptedAt, userId, revokedAt, createdAt } = invitation;
  return { id, email, name, role, status: statusOf(invitation), invitedBy, expiresAt, acceptedAt, userId, revokedAt, createdAt };
}

/** What of an invitation an audit row keeps (never the token's hash). */
function auditedInvitation(invitation: StaffInvitation) {
  return { id: invitation.id, email: invitation.email, name: invitation.name, role: invitation.role, expiresAt: invitation.expiresAt.toISOString() };
}

/**
 * POST /users/invitations. 409 only for what the tenant can see anyway: a user of its own with
 * that address. An open invitation to the same address is replaced (its link stops working).
 * Returns the view and the mail to send once the transaction has committed.
 */
export async function inviteUser(
  db: Database,
  auth: AuthContext,
  body: InviteUserBody,
  actor: AuditActor,
  consoleUrl: string,
): Promise<{ invitation: StaffInvitationView; mail: StaffInvitationMail }> {
  assertMayGrant(auth, body.role);
  const { token, hash } = newRefreshToken();
  return withTenant(db, auth.tenantId, async (tx) => {
    const [own] = await tx
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.tenantId, auth.tenantId), sql`lower(${users.email}) = ${body.email}`, isNull(users.deletedAt)));
    if (own) throw conflict('A user of this tenant already has this email', [{ field: 'body/email', message: 'is already a user of this tenant' }]);

    // Two invitations of one address at once take turns: the later replaces the earlier, as one
    // after the other would (without this, both see no open invitation and one insert hits the
    // open-invitation unique index).
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`staff-invitation:${auth.tenantId}:${body.email}`}, 0))`);
    const now = new Date();
    await tx
      .update(staffInvitations)
      .set({ revokedAt: now })
      .where(and(eq(staffInvitations.tenantId, auth.tenantId), sql`lower(${staffInvitations.email}) = ${body.email}`, isNull(staffInvitations.acceptedAt), isNull(staffInvitations.revokedAt)));
    const [invitation] = await tx
      .insert(staffInvitations)
      .values({
        tenantId: auth.tenantId,
        email: body.email,
        name: body.name,
        role: body.role,
        tokenHash: hash,
        invitedBy: auth.userId,
        expiresAt: new Date(now.getTime() + INVITATION_TTL_SECONDS * 1000),
      })
      .returning();
    if (!invitation) throw new Error('insert into staff_invitations returned no row');
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'user.invited', targetType: 'staff_invitation', targetId: invitation.id, after: auditedInvitation(invitation) });
    const url = `${consoleUrl.replace(/\/+$/, '')}/accept-invitation?token=${encodeURIComponent(token)}`;
    return {
      invitation: staffInvitationView(invitation),
      mail: { tenantId: auth.tenantId, email: invitation.email, name: invitation.name, role: invitation.role, url, expiresAt: invitation.expiresAt },
    };
  });
}

export async function listStaffInvitations(db: Database, auth: AuthContext, query: ListStaffInvitationsQuery): Promise<StaffInvitationsPage> {
  return listPage(db, auth.tenantId, query, {
    table: staffInvitations,
    filters: [],
    rows: (tx, q) => tx.select().from(staffInvitations).where(q.where).orderBy(...q.orderBy).limit(q.limit),
    view: staffInvitationView,
  });
}

/** DELETE /users/invitations/:id: the link stops working. 409 once accepted (disable the user instead). */
export async function revokeStaffInvitation(db: Database, auth: AuthContext, id: string, actor: AuditActor): Promise<void> {
  await withTenant(db, auth.tenantId, async (tx) => {
    const [before] = await tx
      .select()
      .from(staffInvitations)
      .where(and(eq(staffInvitations.tenantId, auth.tenantId), eq(staffInvitations.id, id)))
      .for('update');
    if (!before) throw notFound('Invitation');
    if (before.acceptedAt) throw conflict('This invitation was accepted: disable or delete the user instead');
    if (before.revokedAt) return;
    assertMayGrant(auth, before.role);
    await tx.update(staffInvitations).set({ revokedAt: new Date() }).where(eq(staffInvitations.id, before.id));
    await recordAudit(tx, { tenantId: auth.tenantId, actor, action: 'user.invitation_revoked', targetType: 'staff_invitation', targetId: before.id, before: auditedInvitation(before) });
  });
}

/** The invitation the token opens, locked, in a transaction whose tenant is set to the invitation's. */
async function openInvitation(tx: Tx, token: string): Promise<StaffInvitation> {
  const hash = hashRefreshToken(token);
  await tx.execute(sql`select set_config(${STAFF_INVITATION_TOKEN_HASH_SETTING}, ${hash}, true)`);
  const [found] = await tx.select({ id: staffInvitations.id, tenantId: staffInvitations.tenantId }).from(staffInvitations).where(eq(staffInvitations.tokenHash, hash));
  if (!found) throw new AppError('UNAUTHENTICATED', INVALID_LINK);
  await tx.execute(sql`select set_config(${TENANT_SETTING}, ${found.tenantId}, true), set_config(${STAFF_INVITATION_TOKEN_HASH_SETTING}, '', true)`);
  const [invitation] = await tx.select().from(staffInvitations).where(eq(staffInvitations.id, found.id)).for('update');
  if (!invitation || statusOf(invitation) !== 'PENDING') throw new AppError('UNAUTHENTICATED', INVALID_LINK);
  return invitation;
}

/**
 * POST /auth/accept-invitation: the owner of the address chooses a password and the user is
 * created in the inviting tenant with the invited role, in one transaction with the invitation
 * spent. An address that already has an account (in any tenant) is told so, and only here.
 */
export async function acceptStaffInvitation(db: Database, token: string, password: string, actor: Omit<AuditActor, 'type' | 'userId'>): Promise<{ email: string; tenant: string }> {
  const passwordHash = await hashPassword(password);
  return db.transaction(async (tx) => {
    const invitation = await openInvitation(tx, token);
    const [tenant] = await tx.select({ slug: tenants.slug, isActive: tenants.isActive }).from(tenants).where(eq(tenants.id, invitation.tenantId));
    if (!tenant?.isActive) throw new AppError('UNAUTHENTICATED', INVALID_LINK);
    const user = await insertUser(
      tx,
      invitation.tenantId,
      { email: invitation.email, name: invitation.name, role: invitation.role },
      passwordHash,
      { type: 'SYSTEM', ...actor },
      () => conflict('This email address already has an mPanel account: ask whoever invited you to invite another address'),
    );
    await tx.update(staffInvitations).set({ acceptedAt: new Date(), userId: user.id }).where(eq(staffInvitations.id, invitation.id));
    await recordAudit(tx, {
      tenantId: invitation.tenantId,
      actor: { ...actor, type: 'USER', userId: user.id },
      action: 'user.invitation_accepted',
      targetType: 'staff_invitation',
      targetId: invitation.id,
      after: { ...auditedInvitation(invitation), userId: user.id },
    });
    return { email: user.email, tenant: tenant.slug };
  });
}
