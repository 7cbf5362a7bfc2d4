import { describe, expect, it } from 'vitest';
import { addressKind } from './ip-address.js';

describe('addressKind', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['10.1.2.3', 'private'],
    ['172.31.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd00::1', 'private'],
    ['255.255.255.255', 'reserved'],
    ['2001:db8::1', 'public'],
    ['64:ff9b::7f00:1', 'reserved'],
    ['192.0.2.10', 'public'],
    ['93.184.216.34', 'public'],
    ['2a00:1450:4001::1', 'public'],
  ])('%s is %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind);
  });

  it('is null for what is not an IP literal', () => {
    expect(addressKind('localhost')).toBeNull();
    expect(addressKind('127.1')).toBeNull();
  });
});
