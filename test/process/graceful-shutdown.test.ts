import { withRedis } from '../support/services';
import { PROBE_WORKER, withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitUntilStarted } from '../support/worker-process';

describe('SIGTERM during a running job', () => {
  const fixture = useProcessFixture({ probeTable: true });

  const start = async (name: string, holdMs: number, shutdownTimeoutMs: number, extra: Record<string, string> = {}) => {
    const worker = fixture.spawn(
      name,
      {
        ...fixture.serviceEnv(`${name}:`),
        PROBE_CRON: '*/1 * * * * *',
        PROBE_HOLD_MS: String(holdMs),
        SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
        ...extra,
      },
      { script: PROBE_WORKER },
    );
    await waitUntilStarted(worker);
    const holding = await worker.waitForLog('the probe job to be running', (l) => l.message === 'probe holding');
    return { worker, runId: holding.runId as string, lockKey: `${fixture.keys.prefix}${name}:lock:probe` };
  };

  it('lets the job finish within SHUTDOWN_TIMEOUT_MS, releases its lock and exits 0', async () => {
    const { worker, runId, lockKey } = await start('finishes', 2_000, 30_000);
    worker.kill('SIGTERM');
    const exit = await worker.waitForExit();
    expect(exit).toEqual({ code: 0, signal: null });
    const finished = worker.logs.find((l) => l.message === 'job run finished' && l.runId === runId);
    expect(finished?.outcome).toBe('succeeded');
    const steps = await withClient(fixture.db.url, (c) => c.query('SELECT step FROM probe_writes WHERE run_id = $1 ORDER BY at', [runId]));
    expect(steps.rows.map((r) => r.step)).toEqual(['start', 'end']);
    expect(await withRedis((r) => r.exists(lockKey))).toBe(0);
    // No tick started after the signal.
    const signalAt = worker.logs.findIndex((l) => l.message === 'signal received: shutting down');
    expect(worker.logs.slice(signalAt).filter((l) => l.message === 'job run started')).toEqual([]);
  });

  it('aborts a job still running at SHUTDOWN_TIMEOUT_MS, records it, releases its lock and exits 0', async () => {
    const { worker, runId, lockKey } = await start('aborted', 60_000, 1_000);
    worker.kill('SIGTERM');
    const exit = await worker.waitForExit();
    expect(exit).toEqual({ code: 0, signal: null });
    const history = await withClient(fixture.db.url, (c) =>
      c.query<{ outcome: string; finished: boolean }>('SELECT outcome, finished_at IS NOT NULL AS finished FROM job_runs WHERE run_id = $1', [runId]),
    );
    expect(history.rows).toEqual([{ outcome: 'aborted', finished: true }]);
    expect(await withRedis((r) => r.exists(lockKey))).toBe(0);
    expect(worker.logs.some((l) => l.message === 'shutdown complete')).toBe(true);
  });

  it('a second signal forces exit', async () => {
    const { worker } = await start('forced', 60_000, 60_000);
    worker.kill('SIGTERM');
    await worker.waitForLog('the first signal to be handled', (l) => l.message === 'signal received: shutting down');
    worker.kill('SIGINT');
    const exit = await worker.waitForExit();
    expect(exit.code).not.toBe(0);
    expect(worker.logs.some((l) => l.message === 'second signal: forcing exit')).toBe(true);
  });

  it('an uncaught exception is logged, held locks are released, and the process exits non-zero', async () => {
    const { worker, lockKey } = await start('uncaught', 60_000, 5_000, { PROBE_UNCAUGHT: '1' });
    const exit = await worker.waitForExit();
    expect(exit.code).toBe(1);
    expect(worker.logs).toContainEqual(
      expect.objectContaining({ message: 'uncaught exception: exiting', error: expect.stringContaining('probe: unexpected failure') }),
    );
    // Released before exit: the next replica need not wait out the TTL.
    expect(await withRedis((r) => r.exists(lockKey))).toBe(0);
  });
});
