import { Client, type ClientConfig } from 'pg';
import type { Logger } from '../logging/logger';
import { hostPort, type DatabaseHost, type DatabaseTarget } from './database-hosts';

/**
 * The pg Client class a pool uses for a DATABASE_URL with several hosts or
 * target_session_attrs=read-write: libpq's semantics, which node-postgres lacks. Every new
 * connection asks the hosts in turn (the one that was the primary last time first, then the
 * URL's order) and connects to the first that answers and, with read-write, is not in recovery
 * (`pg_is_in_recovery()`); the session then checks once more on itself, since a host may be
 * promoted or demoted between the two. A pool discards connections that fail, so after a
 * failover the next connections find the promoted server: the worker follows it without a restart.
 */
export function primaryClientClass(target: DatabaseTarget, deps: { logger: Logger; connectTimeoutMs: number }): typeof Client {
  let lastPrimary: DatabaseHost | undefined;
  const urlOf = (host: DatabaseHost) => {
    const url = new URL(target.url);
    url.host = hostPort(host);
    return url.toString();
  };

  const candidates = (): DatabaseHost[] => (lastPrimary ? [lastPrimary, ...target.hosts.filter((h) => h !== lastPrimary)] : [...target.hosts]);

  /** The first host that takes connections (and writes, with read-write), probed on a connection of its own. */
  const findPrimary = async (config: ClientConfig): Promise<DatabaseHost> => {
    const refusals: string[] = [];
    for (const host of candidates()) {
      // The connection string wins over host and port in pg's config, so the probe gets its own.
      const probe = new Client({ ...config, connectionString: urlOf(host), connectionTimeoutMillis: deps.connectTimeoutMs });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if (target.readWrite) {
          const r = await probe.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
          if (r.rows[0]?.in_recovery) {
            refusals.push(`${hostPort(host)} is a standby (in recovery)`);
            continue;
          }
        }
        if (lastPrimary !== host) deps.logger.info('postgres host chosen', { host: hostPort(host), readWrite: target.readWrite });
        lastPrimary = host;
        return host;
      } catch (err) {
        refusals.push(`${hostPort(host)}: ${(err as Error).message}`);
      } finally {
        void probe.end().catch(() => undefined);
      }
    }
    lastPrimary = undefined;
    throw new Error(`no ${target.readWrite ? 'read-write ' : ''}PostgreSQL host among ${target.hosts.length}: ${refusals.join('; ')}`);
  };

  class PrimaryClient extends Client {
    private readonly baseConfig: ClientConfig;

    constructor(config: ClientConfig) {
      super(config);
      this.baseConfig = config;
    }

    override connect(): Promise<Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<Client> | void {
      const connecting = this.connectToPrimary().then(() => this as Client);
      if (!callback) return connecting;
      // pg-pool connects with a callback, called with no error on success as pg itself does.
      connecting.then(() => callback(null as unknown as Error), callback);
    }

    private async connectToPrimary(): Promise<void> {
      const host = await findPrimary(this.baseConfig);
      // pg reads host and port from these fields when it opens the socket (and for a cancel).
      const self = this as unknown as { host: string; port: number; connectionParameters: { host: string; port: number } };
      self.host = self.connectionParameters.host = host.host;
      self.port = self.connectionParameters.port = host.port;
      await super.connect();
      if (!target.readWrite) return;
      const r = await this.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
      if (r.rows[0]?.in_recovery) {
        lastPrimary = undefined;
        await this.end().catch(() => undefined);
        throw new Error(`${hostPort(host)} became a standby (in recovery) while connecting`);
      }
    }
  }
  return PrimaryClient as unknown as typeof Client;
}
