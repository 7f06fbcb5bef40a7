import type { Queryable } from '../db/database';

export interface WorkerHealth {
  ok: boolean;
  last_tick: string | null;
  status: 'running' | 'stale' | 'unknown';
  checked_at: string;
}

/**
 * GET /api/worker/health, in the shape the CRM's worker check reads: running when some
 * dispatcher ticked within staleMs (5 minutes by default), stale when the last tick is older,
 * unknown when none ever ticked. The tick is kept in the database, so any worker process answers
 * for all of them and the state survives restarts.
 */
export async function workerHealth(db: Queryable, staleMs: number): Promise<WorkerHealth> {
  const result = await db.query<{ last_tick: Date | string | null; now: Date | string }>(
    'SELECT max(last_tick) AS last_tick, now() AS now FROM delivery_heartbeats',
  );
  const row = result.rows[0];
  const checkedAt = new Date(row?.now ?? Date.now());
  if (!row?.last_tick) return { ok: false, last_tick: null, status: 'unknown', checked_at: checkedAt.toISOString() };
  const lastTick = new Date(row.last_tick);
  const running = checkedAt.getTime() - lastTick.getTime() <= staleMs;
  return {
    ok: running,
    last_tick: lastTick.toISOString(),
    status: running ? 'running' : 'stale',
    checked_at: checkedAt.toISOString(),
  };
}

/** This dispatcher's last tick, shared through the database so any process can answer /api/worker/health. */
export async function recordHeartbeat(db: Queryable, instance: string): Promise<void> {
  await db.query(
    `INSERT INTO delivery_heartbeats (instance, last_tick) VALUES ($1, now())
     ON CONFLICT (instance) DO UPDATE SET last_tick = now()`,
    [instance],
  );
}
