import net from 'node:net';

/** One server of a DATABASE_URL that lists several (`postgres://u@a:5432,b:5432/db`). */
export interface DatabaseHost {
  readonly host: string;
  readonly port: number;
}

/**
 * A DATABASE_URL read the way libpq reads it: one or more hosts, and `target_session_attrs`
 * (`any`, or `read-write` / `primary`: only a server that takes writes, i.e. not in recovery).
 * node-postgres reads only a single host and ignores target_session_attrs, so the pool is given
 * `url` (the first host, the parameter removed) and chooses the host itself (primary-client.ts).
 */
export interface DatabaseTarget {
  readonly hosts: readonly DatabaseHost[];
  /** True for target_session_attrs=read-write or primary. */
  readonly readWrite: boolean;
  /** A single-host URL (the first host) with everything else of the original: user, password, database, parameters. */
  readonly url: string;
}

const DEFAULT_PORT = 5432;
const HOST_LIST = /^(postgres(?:ql)?:\/\/)([^/?#@]*@)?([^/?#]*)(.*)$/;

/** Parses a postgres:// or postgresql:// URL with one host or several; a problem names what is wrong. */
export function parseDatabaseUrl(text: string): { value: DatabaseTarget } | { problem: string } {
  const match = HOST_LIST.exec(text);
  if (!match) return { problem: 'must be a URL starting with postgres:// or postgresql://' };
  const [, scheme, userInfo = '', hostList, rest] = match as unknown as [string, string, string | undefined, string, string];
  const hosts: DatabaseHost[] = [];
  for (const entry of hostList.split(',')) {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(entry);
    const host = m ? (m[1] ?? m[2] ?? '') : '';
    if (!m || host === '' || (m[1] !== undefined && !net.isIPv6(host))) {
      return { problem: `"${entry}" is not a host or host:port (several hosts are separated by commas)` };
    }
    const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3]);
    if (port < 1 || port > 65535) return { problem: `"${entry}": the port must be 1-65535` };
    hosts.push({ host, port });
  }
  const first = hosts[0]!;
  let url: URL;
  try {
    url = new URL(`${scheme}${userInfo}${hostPort(first)}${rest}`);
  } catch {
    return { problem: 'must be a URL starting with postgres:// or postgresql://' };
  }
  const attrs = url.searchParams.get('target_session_attrs') ?? 'any';
  if (!['any', 'read-write', 'primary'].includes(attrs)) {
    return { problem: `target_session_attrs must be any, read-write or primary (got "${attrs}")` };
  }
  url.searchParams.delete('target_session_attrs');
  return { value: { hosts, readWrite: attrs !== 'any', url: url.toString() } };
}

/** The parsed target of a DATABASE_URL that the config has already accepted. */
export function databaseTargetOf(text: string): DatabaseTarget {
  const parsed = parseDatabaseUrl(text);
  if ('problem' in parsed) throw new Error(`DATABASE_URL ${parsed.problem}`);
  return parsed.value;
}

export function hostPort(host: DatabaseHost): string {
  return `${net.isIPv6(host.host) ? `[${host.host}]` : host.host}:${host.port}`;
}
