import dns from 'node:dns';
import net from 'node:net';

/**
 * Addresses an outbound webhook must not reach unless WEBHOOK_ALLOW_PRIVATE=true: loopback,
 * RFC 1918, link-local (cloud metadata), CGNAT, unique-local IPv6 and unspecified. A tenant-
 * supplied URL must not become a way into the worker's own network (SSRF).
 */
const blocked = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return blocked.check(address, 'ipv4');
}

export class PrivateAddressError extends Error {
  constructor(host: string, address: string) {
    super(`webhook target ${host} resolves to private or loopback address ${address} (set WEBHOOK_ALLOW_PRIVATE=true to allow)`);
    this.name = 'PrivateAddressError';
  }
}

/**
 * A dns.lookup replacement for http.request: it checks the address actually connected to, so a
 * name that resolves to a public address at validation time and a private one later (DNS
 * rebinding) is still refused.
 */
export function guardedLookup(allowPrivate: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const bad = allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
      if (bad) return callback(Object.assign(new PrivateAddressError(hostname, bad.address), { code: 'EPRIVATE' }), '', 0);
      if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };
}
