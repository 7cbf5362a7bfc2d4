import net, { type LookupFunction } from 'node:net';

/**
 * The SSRF guard for connections mPanel opens to addresses someone else chose (a tenant's webhook
 * URL; the site check pins its request the same way): classify each resolved address, refuse
 * what is not public, then connect ONLY to an address that was checked (`pinnedLookup`), so a name
 * that resolves differently a moment later (DNS rebinding) cannot move the connection elsewhere.
 */

export type AddressKind = 'public' | 'loopback' | 'private' | 'link-local' | 'metadata' | 'unspecified' | 'multicast' | 'reserved';

const ranges = new Map<Exclude<AddressKind, 'public'>, net.BlockList>();
function add(kind: Exclude<AddressKind, 'public'>, cidr: string): void {
  const list = ranges.get(kind) ?? new net.BlockList();
  ranges.set(kind, list);
  const [address = '', prefix = ''] = cidr.split('/');
  list.addSubnet(address, Number(prefix), net.isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

// Cloud metadata services first: they sit inside the link-local and private ranges.
add('metadata', '169.254.169.254/32');
add('metadata', '169.254.170.2/32'); // AWS ECS task metadata
add('metadata', '100.100.100.200/32'); // Alibaba Cloud
add('metadata', 'fd00:ec2::254/128'); // AWS IMDS over IPv6
add('unspecified', '0.0.0.0/8');
add('unspecified', '::/128');
add('loopback', '127.0.0.0/8');
add('loopback', '::1/128');
add('private', '10.0.0.0/8');
add('private', '172.16.0.0/12');
add('private', '192.168.0.0/16');
add('private', '100.64.0.0/10'); // carrier-grade NAT
add('private', 'fc00::/7'); // unique local
add('link-local', '169.254.0.0/16');
add('link-local', 'fe80::/10');
add('multicast', '224.0.0.0/4');
add('multicast', 'ff00::/8');
add('reserved', '192.0.0.0/24');
add('reserved', '192.0.2.0/24');
add('reserved', '198.18.0.0/15');
add('reserved', '198.51.100.0/24');
add('reserved', '203.0.113.0/24');
add('reserved', '240.0.0.0/4'); // includes 255.255.255.255
add('reserved', '100::/64'); // discard
add('reserved', '2001:db8::/32'); // documentation
add('reserved', '2001::/23'); // IETF protocol assignments (Teredo, ORCHIDv2...)
add('reserved', '2002::/16'); // 6to4: embeds an IPv4 address we would have to check again

/** The IPv4 address an IPv6 address carries (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96), if any. */
function embeddedIpv4(address: string): string | null {
  const hex = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const match = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(hex);
  if (!match) return null;
  const high = Number.parseInt(match[1] ?? '0', 16);
  const low = Number.parseInt(match[2] ?? '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** What kind of address `address` (an IP literal) is; 'reserved' for anything that is not an IP. */
export function classifyAddress(address: string): AddressKind {
  const family = net.isIP(address);
  if (family === 0) return 'reserved';
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== null) return classifyAddress(v4);
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  for (const [kind, list] of ranges) if (list.check(address, type)) return kind;
  return 'public';
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
