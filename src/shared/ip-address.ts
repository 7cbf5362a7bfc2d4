import { BlockList, isIP } from 'node:net';

/**
 * What kind of address an IP literal is, for the places that must not be pointed at the
 * machine's own services or the cloud's metadata endpoint: a server's addresses (the worker
 * connects there and nginx listens there) and outgoing webhooks. IPv4-mapped IPv6 addresses
 * (::ffff:127.0.0.1) are judged as the IPv4 address they carry. The documentation ranges
 * (192.0.2.0/24, 2001:db8::/32) count as public: examples and tests use them.
 */
export type AddressKind = 'loopback' | 'unspecified' | 'link-local' | 'multicast' | 'private' | 'reserved' | 'public';

function blockList(ranges: readonly (readonly [string, number, 'ipv4' | 'ipv6'])[]): BlockList {
  const list = new BlockList();
  for (const [network, prefix, family] of ranges) list.addSubnet(network, prefix, family);
  return list;
}

const kinds: readonly (readonly [Exclude<AddressKind, 'public'>, BlockList])[] = [
  ['loopback', blockList([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']])],
  ['unspecified', blockList([['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']])],
  ['link-local', blockList([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']])],
  ['multicast', blockList([['224.0.0.0', 4, 'ipv4'], ['ff00::', 8, 'ipv6']])],
  [
    'private',
    blockList([
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
      ['fc00::', 7, 'ipv6'], // unique local
    ]),
  ],
  [
    'reserved',
    blockList([
      ['240.0.0.0', 4, 'ipv4'], // includes 255.255.255.255
      ['192.0.0.0', 24, 'ipv4'],
      ['198.18.0.0', 15, 'ipv4'], // benchmarking
      ['64:ff9b::', 96, 'ipv6'], // NAT64: reaches IPv4 space through a translator
    ]),
  ],
];

/** The kind of an IP literal, or null when `address` is not one. */
export function addressKind(address: string): AddressKind | null {
  const family = isIP(address);
  if (family === 0) return null;
  // BlockList judges an IPv4-mapped IPv6 address (::ffff:7f00:1) by the IPv4 rules too.
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [kind, list] of kinds) if (list.check(address, type)) return kind;
  return 'public';
}
