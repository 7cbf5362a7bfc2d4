import { describe, expect, it } from 'vitest';
import { classifyAddress, refusalOf } from './address-guard.js';

describe('the SSRF address guard', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['93.184.215.14', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.1.2.3', 'private'],
    ['64:ff9b::a00:1', 'reserved'],
    ['169.254.169.254', 'metadata'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['2001:db8::1', 'public'], // documentation: shared/ip-address.ts counts it public
    ['2001:0:4136:e378::1', 'reserved'], // Teredo
    ['2002:a00:1::', 'reserved'],
    ['not-an-ip', 'reserved'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });

  it('loopback is acceptable only when the policy says so; private and metadata never', () => {
    expect(refusalOf('127.0.0.1', { allowLoopback: true })).toBeNull();
    expect(refusalOf('127.0.0.1', { allowLoopback: false })).toBe('127.0.0.1 is a loopback address');
    expect(refusalOf('10.0.0.1', { allowLoopback: true })).toBe('10.0.0.1 is a private address');
    expect(refusalOf('169.254.169.254', { allowLoopback: true })).toBe('169.254.169.254 is a metadata address');
    expect(refusalOf('8.8.8.8', { allowLoopback: false })).toBeNull();
  });
});
