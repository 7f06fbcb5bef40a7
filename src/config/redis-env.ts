import net from 'node:net';

/** One Redis Sentinel, as REDIS_SENTINELS names it. */
export interface SentinelNode {
  readonly host: string;
  readonly port: number;
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * REDIS_SENTINELS: "host:port,host:port" (an IPv6 address in brackets, "[::1]:26379"). Every
 * sentinel is listed with its port: Sentinel's 26379 is not Redis's 6379, and guessing one of them
 * for a forgotten port would point the worker at the wrong server.
 */
export function parseSentinelNodes(text: string): { value: SentinelNode[] } | { problem: string } {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) return { problem: 'must list at least one sentinel as host:port' };
  const value: SentinelNode[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
    const host = match ? (match[1] ?? match[2]!) : undefined;
    const port = match ? Number(match[3]) : NaN;
    if (!match || !host || !(match[1] ? net.isIPv6(host) : net.isIPv4(host) || HOST_NAME.test(host))) {
      return { problem: `"${entry}" is not host:port (such as 10.0.0.5:26379 or [::1]:26379)` };
    }
    if (port < 1 || port > 65535) return { problem: `"${entry}": the port must be 1-65535` };
    const key = `${host.toLowerCase()}:${port}`;
    if (seen.has(key)) return { problem: `"${entry}" is listed twice` };
    seen.add(key);
    value.push({ host, port });
  }
  return { value };
}
