import { Client } from 'pg';
import { ADMIN_DATABASE_URL, runId } from './env';
import { withClient } from './probe';

/**
 * The shared PostgreSQL's client connections (max_connections, 100 by default) as a budget that
 * the test files running several worker processes draw from, so three jest workers can run side by
 * side without "too many clients already". Such a file reserves its peak in its beforeAll (the
 * peak scripts/pg-connections-by-file.sh measured) and releases it at the end of its afterAll,
 * after its processes are stopped. A reservation waits while other files hold the budget. Files
 * that open a few connections reserve nothing: the margin is theirs.
 *
 * The units are session advisory locks (one key per run, one per unit) on a connection of the
 * reservation's own, so a jest worker that dies gives its units back with its connection. They
 * are taken all at once under a mutex lock or not at all: two files each holding part of what
 * they need never wait on each other.
 */

/** What the files that reserve nothing may hold at once: two of them beside a reserving file (each under 16). */
export const UNRESERVED_MARGIN = 32;
/** A reservation that waits longer than this fails the file: something holds units and never gives them back. */
export const RESERVE_LIMIT_MS = 20 * 60_000;
const MUTEX_UNIT = -1;

export interface BudgetOptions {
  /** A budget apart from the suite's one (the budget's own test). */
  namespace?: string;
  limitMs?: number;
  everyMs?: number;
  /** Called each time the reservation finds too few units free and waits. */
  onWait?: () => void;
}

export interface ConnectionReservation {
  readonly units: number;
  /** The backend holding the units. */
  readonly pid: number;
  release(): Promise<void>;
}

/** The lock key of this run's budget: every jest worker of one run computes the same one. */
function budgetKey(run: string, namespace = ''): number {
  let hash = 0;
  for (const ch of `crmw-connection-budget:${run}:${namespace}`) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) | 0;
  return hash;
}

/** The units there are: what the server allows ordinary clients, less the margin. */
async function budgetSize(client: Client): Promise<number> {
  const { rows } = await client.query<{ max: number; reserved: number }>(
    `SELECT current_setting('max_connections')::int AS max, current_setting('superuser_reserved_connections')::int AS reserved`,
  );
  return rows[0]!.max - rows[0]!.reserved - UNRESERVED_MARGIN;
}

/**
 * Reserves `peak` connections for the calling file (plus the one the reservation itself holds).
 * Resolves once they are free; throws when more are asked than the budget has.
 */
export async function reserveConnections(peak: number, options: BudgetOptions = {}): Promise<ConnectionReservation> {
  const units = peak + 1;
  const key = budgetKey(runId(), options.namespace);
  const client = new Client({ connectionString: ADMIN_DATABASE_URL, application_name: 'crmw-test-connection-budget' });
  // A reservation whose backend is terminated has already given its units back with the session;
  // the file goes on without it, and an unhandled 'error' would fail it for nothing.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const size = await budgetSize(client);
    if (units > size) throw new Error(`a reservation of ${units} connections is more than the budget of ${size} (max_connections less the margin)`);
    const started = Date.now();
    for (;;) {
      if (await tryTake(client, key, size, units)) break;
      options.onWait?.();
      if (Date.now() - started > (options.limitMs ?? RESERVE_LIMIT_MS)) {
        throw new Error(`gave up reserving ${units} of ${size} connections: the budget stayed drawn down by other files`);
      }
      await new Promise((r) => setTimeout(r, options.everyMs ?? 200));
    }
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  let released = false;
  return {
    units,
    pid,
    async release() {
      if (released) return;
      released = true;
      // Ending the session drops its advisory locks: the units go back with the connection.
      await client.end();
    },
  };
}

/** Under the mutex: counts the units others hold and takes `units` free ones if there are enough. */
async function tryTake(client: Client, key: number, size: number, units: number): Promise<boolean> {
  await client.query('SELECT pg_advisory_lock($1, $2)', [key, MUTEX_UNIT]);
  try {
    // A two-key advisory lock shows in pg_locks as classid = first key, objid = second, objsubid = 2.
    const { rows } = await client.query<{ unit: number }>(
      `SELECT u AS unit FROM generate_series(0, $2::int - 1) u
        WHERE NOT EXISTS (SELECT 1 FROM pg_locks l
                           WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
                             AND l.classid = ($1::int)::bit(32)::bigint::oid
                             AND l.objid = u::bit(32)::bigint::oid)
        ORDER BY u LIMIT $3`,
      [key, size, units],
    );
    if (rows.length < units) return false;
    await client.query('SELECT pg_advisory_lock($1, u) FROM unnest($2::int[]) u', [key, rows.map((r) => r.unit)]);
    return true;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [key, MUTEX_UNIT]);
  }
}

/** Units of this run's budget held right now, by anyone (for the budget's own test). */
export async function unitsHeld(namespace?: string): Promise<number> {
  const key = budgetKey(runId(), namespace);
  return withClient(ADMIN_DATABASE_URL, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted
          AND classid = ($1::int)::bit(32)::bigint::oid AND objid::bigint < 2147483648`,
      [key],
    );
    return rows[0]!.n;
  });
}

/** The budget's size on this server (for the budget's own test). */
export async function budgetUnits(): Promise<number> {
  return withClient(ADMIN_DATABASE_URL, budgetSize);
}

/**
 * Reserves `peak` connections for a whole test file. Call it at the file's top level, outside its
 * describe blocks: jest-circus runs a describe block's afterAll hooks before its parent's, so the
 * release comes after every afterAll of the file's own, once its worker processes are stopped.
 */
export function reserveConnectionsForFile(peak: number): void {
  let reservation: ConnectionReservation | undefined;
  beforeAll(async () => {
    reservation = await reserveConnections(peak);
  }, RESERVE_LIMIT_MS + 30_000);
  afterAll(async () => {
    await reservation?.release();
  });
}
