import { isIP } from 'node:net';
import { sql } from 'drizzle-orm';
import type { Env } from '../../config/env.js';
import type { Tx } from '../../db/tenant-tx.js';
import { AppError } from '../../shared/errors/app-error.js';
import { isNormalizedDomain } from '../../shared/domain-name.js';

/**
 * One registry of hosted names across the install (table hosted_names, migration 0007): a domain,
 * a name under it or a parent of it is hosted by one tenant only, and the platform's own host
 * names (below) can never be hosted. The database keeps the registry (a trigger on `domains`) and
 * answers through a SECURITY DEFINER function, so the check never shows a tenant another tenant's
 * rows; the answers below never name the other tenant either.
 */

/** The constraint name the `domains` trigger raises its unique violation under. */
export const HOSTED_NAME_OVERLAP = 'hosted_names_overlap';

/**
 * The platform's own host names from the configuration: the panel's (APP_URL), the name servers,
 * a fixed mail host, the domains of the hostmaster and sender addresses, and PLATFORM_HOSTNAMES.
 * The servers table's host names are kept by the database (platform_server_names).
 */
export function platformHostNames(
  env: Pick<Env, 'APP_URL' | 'DNS_NAMESERVERS' | 'DNS_MAIL_HOST' | 'DNS_HOSTMASTER' | 'EMAIL_FROM' | 'PLATFORM_HOSTNAMES'>,
): string[] {
  const names = [
    new URL(env.APP_URL).hostname,
    ...env.DNS_NAMESERVERS,
    ...(env.DNS_MAIL_HOST.includes('{domain}') ? [] : [env.DNS_MAIL_HOST]),
    env.DNS_HOSTMASTER.split('@')[1] ?? '',
    env.EMAIL_FROM.split('@')[1] ?? '',
    ...env.PLATFORM_HOSTNAMES,
  ].map((name) => name.toLowerCase().replace(/\.$/, ''));
  return [...new Set(names.filter((name) => isIP(name) === 0 && isNormalizedDomain(name)))];
}

/** true when one of the names is the other or under it (label-wise: a.example is not under ba.example). */
export function namesOverlap(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

export type HostedNameRefusal = 'PLATFORM' | 'HOSTED';

/**
 * Why `name` cannot be hosted by `tenantId`, or undefined when it can. `lock` (at order intake)
 * holds transaction-level locks on the name and its parents until commit, so a concurrent order of
 * an overlapping name in another tenant waits and then sees this one.
 */
export async function hostedNameRefusal(
  tx: Tx,
  input: { tenantId: string; name: string; platformNames: readonly string[]; lock?: boolean },
): Promise<HostedNameRefusal | undefined> {
  if (input.platformNames.some((platform) => namesOverlap(input.name, platform))) return 'PLATFORM';
  const rows = await tx.execute<{ refusal: HostedNameRefusal | null }>(
    sql`select hosted_name_conflict(${input.name}, ${input.tenantId}::uuid, ${input.lock ?? false}) as refusal`,
  );
  return rows.rows[0]?.refusal ?? undefined;
}

/** The 409 for a refused name: says why in general terms, never who holds it. */
export function hostedNameConflict(name: string, refusal: HostedNameRefusal, field: string): AppError {
  const reason =
    refusal === 'PLATFORM'
      ? `${name} cannot be hosted: it is, is under, or is a parent of one of this platform's own host names`
      : `${name} cannot be hosted here: it, a name under it or a parent of it is already hosted on this platform`;
  return new AppError('CONFLICT', reason, { fields: [{ field, message: refusal === 'PLATFORM' ? 'is reserved for the platform' : 'is already hosted on this platform' }] });
}

/** Throws the 409 when `name` cannot be hosted by the tenant. */
export async function assertHostable(tx: Tx, input: { tenantId: string; name: string; platformNames: readonly string[]; lock?: boolean; field: string }): Promise<void> {
  const refusal = await hostedNameRefusal(tx, input);
  if (refusal) throw hostedNameConflict(input.name, refusal, input.field);
}

/** Frees a domain's name for any tenant (its zone is gone for good); in the holding tenant's transaction. */
export async function releaseHostedName(tx: Tx, domainId: string): Promise<void> {
  await tx.execute(sql`select release_hosted_name(${domainId}::uuid)`);
}
