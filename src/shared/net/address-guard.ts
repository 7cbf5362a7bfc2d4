import net, { type LookupFunction } from 'node:net';
import { addressKind } from '../ip-address.js';

/**
 * The SSRF guard for connections mPanel opens to addresses someone else chose (a tenant's webhook
 * URL; the site check pins its request the same way): classify each resolved address, refuse
 * what is not public, then connect ONLY to an address that was checked (`pinnedLookup`), so a name
 * that resolves differently a moment later (DNS rebinding) cannot move the connection elsewhere.
 */

/**
 * The kinds are shared/ip-address.ts's (the servers' rule), with two narrowings for connections
 * to addresses a tenant chose: the cloud metadata endpoints are named as such (they are inside
 * link-local or private ranges anyway), and IPv6 prefixes that tunnel to IPv4 space we would
 * have to judge again (6to4, Teredo and the other IETF assignments in 2001::/23) are reserved.
 */
export type AddressKind = Exclude<ReturnType<typeof addressKind>, null> | 'metadata';

const metadata = new net.BlockList();
metadata.addAddress('169.254.169.254'); // AWS, GCP, Azure, OpenStack...
metadata.addAddress('169.254.170.2'); // AWS ECS task metadata
metadata.addAddress('100.100.100.200'); // Alibaba Cloud
metadata.addAddress('fd00:ec2::254', 'ipv6'); // AWS IMDS over IPv6
const tunnels = new net.BlockList();
tunnels.addSubnet('2002::', 16, 'ipv6'); // 6to4
tunnels.addSubnet('2001::', 23, 'ipv6'); // Teredo, ORCHIDv2 and other protocol assignments

/** What kind of address `address` (an IP literal) is; 'reserved' for anything that is not an IP. */
export function classifyAddress(address: string): AddressKind {
  const kind = addressKind(address);
  if (kind === null) return 'reserved';
  const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (metadata.check(address, type)) return 'metadata';
  if (kind === 'public' && type === 'ipv6' && tunnels.check(address, 'ipv6')) return 'reserved';
  return kind;
}

export interface AddressPolicy {
  /** Loopback is acceptable (development and tests only: the install's own receivers). */
  readonly allowLoopback: boolean;
}

/** Why `address` may not be connected to under `policy`, or null when it may. */
export function refusalOf(address: string, policy: AddressPolicy): string | null {
  const kind = classifyAddress(address);
  if (kind === 'public' || (kind === 'loopback' && policy.allowLoopback)) return null;
  return `${address} is a ${kind} address`;
}

/** One textual form per address, so "::1" and "0:0::1" compare equal. */
export function canonicalAddress(address: string): string {
  return net.isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

/** A `lookup` for http(s).request: whatever name the request asks for, the answer is `address`. */
export function pinnedLookup(address: string): LookupFunction {
  const family = net.isIP(address);
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}
