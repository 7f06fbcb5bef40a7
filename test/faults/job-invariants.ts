import { withClient } from '../support/probe';
import type { WorkerProcess } from '../support/worker-process';

/**
 * The invariants every job fault scenario ends with:
 * - at most one handler execution per (job, fire time), across every process's logs;
 * - the history agrees: one job_runs row per execution, none left 'running' by a process that
 *   exited cleanly;
 * - no write after a lost lease: a probe run that did not succeed wrote no 'end' step (one whose
 *   outcome could not be recorded counts by what its worker logged).
 */
export async function checkJobInvariants(databaseUrl: string, workers: WorkerProcess[]) {
  const executions = workers.flatMap((w) =>
    w.logs.filter((l) => l.message === 'job run started').map((l) => ({ key: `${l.job}@${l.fireTime}`, worker: w.name })),
  );
  const byTick = new Map<string, string[]>();
  for (const e of executions) byTick.set(e.key, [...(byTick.get(e.key) ?? []), e.worker]);
  const duplicateRuns = [...byTick.entries()].filter(([, who]) => who.length > 1);

  const runs = await withClient(databaseUrl, (c) =>
    c.query<{ run_id: string; job: string; instance: string; outcome: string }>('SELECT run_id, job, instance, outcome FROM job_runs'),
  );
  const cleanExits = new Set(workers.filter((w) => w.child.exitCode === 0).map((w) => w.name));
  const leftRunning = runs.rows.filter((r) => r.outcome === 'running' && cleanExits.has(r.instance));

  const probeTable = await withClient(databaseUrl, (c) => c.query(`SELECT to_regclass('probe_writes') AS t`));
  let writesAfterLoss: unknown[] = [];
  if (probeTable.rows[0]?.t) {
    const late = await withClient(databaseUrl, (c) =>
      c.query(
        `SELECT w.run_id, r.outcome FROM probe_writes w JOIN job_runs r ON r.run_id = w.run_id
         WHERE w.step = 'end' AND r.outcome <> 'succeeded'`,
      ),
    );
    // A run that finished but could not record it (its connection died at that moment, every
    // retry too) is marked 'abandoned' by the next holder: its own log says it succeeded, with
    // the lease held, so its end write is not one after a loss.
    const loggedSucceeded = new Set(
      workers.flatMap((w) => w.logs.filter((l) => l.message === 'job run finished' && l.outcome === 'succeeded').map((l) => String(l.runId))),
    );
    writesAfterLoss = late.rows.filter((r: { run_id: string; outcome: string }) => !(r.outcome === 'abandoned' && loggedSucceeded.has(r.run_id)));
  }
  return { executions: executions.length, historyRows: runs.rowCount, duplicateRuns, leftRunning, writesAfterLoss };
}

export function expectJobInvariants(result: Awaited<ReturnType<typeof checkJobInvariants>>): void {
  expect(result.duplicateRuns).toEqual([]);
  expect(result.leftRunning).toEqual([]);
  expect(result.writesAfterLoss).toEqual([]);
  expect(result.historyRows).toBe(result.executions);
}
