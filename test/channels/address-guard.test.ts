import { isPrivateAddress, isPrivateUrl } from '../../src/channels/address-guard';

describe('webhook address guard', () => {
  it.each([
    // IPv4 ranges already refused before, kept as a regression net.
    '127.0.0.1',
    '10.1.2.3',
    '169.254.169.254',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1',
    '0.0.0.0',
    // Multicast, reserved and the limited broadcast address.
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    // IPv6 loopback, unspecified, unique-local, link-local.
    '::1',
    '::',
    'fd00::1',
    'fe80::1',
    // IPv4-mapped, in dotted and in hex form.
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    // IPv4-compatible (deprecated): ::a.b.c.d.
    '::127.0.0.1',
    '::10.0.0.1',
    '::7f00:1',
    // NAT64 well-known prefix with a private IPv4 inside, and the local-use NAT64 prefix.
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::1',
    // 6to4 embedding a private IPv4 (2002:AABB:CCDD::).
    '2002:7f00:1::1',
    '2002:a9fe:a9fe::',
    '2002:c0a8:101::5',
    // Site-local and multicast IPv6.
    'fec0::1',
    'feff::1',
    'ff02::1',
    'ff05::1:3',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2a00:1450:4001::200e'])(
    'lets the public address %s through',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );

  it('judges URLs by their literal host, brackets and all, and refuses localhost names', () => {
    expect(isPrivateUrl(new URL('http://[::ffff:7f00:1]:8080/hook'))).toBe(true);
    expect(isPrivateUrl(new URL('http://[64:ff9b::7f00:1]/'))).toBe(true);
    expect(isPrivateUrl(new URL('http://2130706433/'))).toBe(true); // 127.0.0.1 as one number
    expect(isPrivateUrl(new URL('http://0x7f.1/'))).toBe(true);
    expect(isPrivateUrl(new URL('http://localhost:3000/'))).toBe(true);
    expect(isPrivateUrl(new URL('http://api.localhost./'))).toBe(true);
    expect(isPrivateUrl(new URL('https://hooks.example.com/x'))).toBe(false);
    expect(isPrivateUrl(new URL('https://8.8.8.8/x'))).toBe(false);
  });
});
