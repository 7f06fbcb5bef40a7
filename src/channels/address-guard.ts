import dns from 'node:dns';
import net from 'node:net';

/**
 * Addresses an outbound webhook must not reach unless WEBHOOK_ALLOW_PRIVATE=true: loopback,
 * RFC 1918, link-local (cloud metadata), CGNAT, benchmarking, multicast, reserved and broadcast,
 * unique-local, site-local and multicast IPv6, unspecified — and every IPv6 form that carries an
 * IPv4 address inside it (mapped, IPv4-compatible, NAT64, 6to4), judged by that IPv4 address. A
 * tenant-supplied URL must not become a way into the worker's own network (SSRF).
 */
const blockedV4 = new net.BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  // Multicast, then 240/4 (reserved, which holds the limited broadcast 255.255.255.255).
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blockedV4.addSubnet(network, prefix, 'ipv4');
}

const blockedV6 = new net.BlockList();
for (const [network, prefix] of [
  // IPv4-compatible (::a.b.c.d, deprecated; includes :: and ::1): no public host uses it.
  ['::', 96],
  // NAT64 local-use prefix (RFC 8215): translated by a gateway inside the operator's network.
  ['64:ff9b:1::', 48],
  // Teredo: the client's IPv4 address is hidden in it, and relays are not ours to trust.
  ['2001::', 32],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  // Site-local (deprecated by RFC 3879, still routed inside some networks).
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blockedV6.addSubnet(network, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = net.isIP(bare);
  if (family === 4) return blockedV4.check(bare, 'ipv4');
  if (family !== 6) return false;
  const embedded = embeddedIpv4(bare);
  if (embedded !== undefined) return blockedV4.check(embedded, 'ipv4');
  return blockedV6.check(bare, 'ipv6');
}

/**
 * The IPv4 address inside an IPv6 address that a host or gateway would actually connect to:
 * IPv4-mapped (::ffff:a.b.c.d, also written ::ffff:7f00:1), NAT64 well-known prefix
 * (64:ff9b::/96) and 6to4 (2002:AABB:CCDD::/48). Undefined for every other address.
 */
function embeddedIpv4(address: string): string | undefined {
  const words = ipv6Words(address);
  if (!words) return undefined;
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  const zeroUpTo = (n: number) => words.slice(0, n).every((w) => w === 0);
  if (zeroUpTo(5) && words[5] === 0xffff) return v4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && words.slice(2, 6).every((w) => w === 0)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return undefined;
}

/** The eight 16-bit words of a valid IPv6 address (net.isIP already said it is one). */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const words = tail === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

/** A URL's host as an IP address literal ('[::1]' → '::1'), or undefined for a name. */
export function ipLiteralOf(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return net.isIP(host) ? host : undefined;
}

/**
 * Whether a webhook URL is refused without a DNS lookup: an IP literal in a blocked range, or a
 * name that always means this machine (localhost, *.localhost). Other names are checked on the
 * address actually connected to (guardedLookup).
 */
export function isPrivateUrl(url: URL): boolean {
  const literal = ipLiteralOf(url);
  if (literal) return isPrivateAddress(literal);
  const name = url.hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
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
