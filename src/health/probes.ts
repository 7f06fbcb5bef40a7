import type { Database } from '../db/database';
import type { RedisConnection } from '../redis/redis-client';
import { ProbeFailure, type Probe } from './health-monitor';

/**
 * Whether the database can take writes, without writing: a standby (in recovery) or read-only
 * transactions answer every SELECT and refuse every write, so `SELECT 1` alone would call it
 * healthy while no message can be marked sent. `default_transaction_read_only` set on the
 * database or role (ALTER DATABASE/ROLE ... SET) reaches only new sessions, so the stored
 * setting is read too: the pool's next connections will be read-only even if this one is not.
 * The most specific stored setting wins, as in PostgreSQL (database and role, role, database).
 */
const WRITABILITY_SQL = `
  SELECT pg_is_in_recovery() AS in_recovery,
         current_setting('transaction_read_only') AS session_read_only,
         (SELECT substring(c FROM '=(.*)$')
            FROM pg_db_role_setting s, unnest(s.setconfig) AS c
           WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
             AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user))
             AND c LIKE 'default_transaction_read_only=%'
           ORDER BY (s.setdatabase <> 0 AND s.setrole <> 0) DESC, (s.setrole <> 0) DESC, (s.setdatabase <> 0) DESC
           LIMIT 1) AS stored_read_only`;

const TRUE_SETTING = /^(on|true|yes|1|t|y)$/i;

export function databaseProbe(db: Database): Probe {
  return {
    service: 'database',
    required: true,
    okStatus: 'connected',
    failStatus: 'disconnected',
    async check() {
      const result = await db.query<{ in_recovery: boolean; session_read_only: string; stored_read_only: string | null }>(WRITABILITY_SQL);
      const row = result.rows[0];
      if (!row) throw new Error('database probe returned no row');
      if (row.in_recovery) throw new ProbeFailure('read-only', 'cannot take writes: the server is a standby (in recovery)');
      if (TRUE_SETTING.test(row.session_read_only) || TRUE_SETTING.test(row.stored_read_only ?? '')) {
        throw new ProbeFailure('read-only', 'cannot take writes: transactions are read-only (default_transaction_read_only is on)');
      }
    },
  };
}

export function redisProbe(client: RedisConnection): Probe {
  return {
    service: 'redis',
    required: true,
    okStatus: 'connected',
    failStatus: 'disconnected',
    async check() {
      // With the offline queue disabled, PING fails at once while the client reconnects.
      await client.ping();
    },
  };
}
