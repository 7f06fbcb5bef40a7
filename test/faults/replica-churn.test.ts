import { PROBE_WORKER } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { checkJobInvariants, expectJobInvariants } from './job-invariants';
import { reserveConnectionsForFile } from '../support/connection-budget';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(50);

/** Five replicas racing the same ticks, then a rolling restart of them one by one. */
describe('fault injection: five replicas and a rolling restart', () => {
  const fixture = useProcessFixture({ probeTable: true });

  it('keeps every tick to one run while replicas come and go', async () => {
    const env = {
      ...fixture.serviceEnv(),
      PROBE_CRON: '*/1 * * * * *',
      PROBE_HOLD_MS: '200',
      TRIAL_EXPIRATION_CRON: '*/1 * * * * *',
      CALL_CLEANUP_CRON: '*/2 * * * * *',
      LOCK_TTL_MS: '5000',
      SHUTDOWN_TIMEOUT_MS: '3000',
    };
    const all: WorkerProcess[] = [];
    const start = (name: string) => {
      const w = fixture.spawn(name, env, { script: PROBE_WORKER });
      all.push(w);
      return w;
    };
    let live = [1, 2, 3, 4, 5].map((n) => start(`replica-${n}`));
    await Promise.all(live.map((w) => waitUntilStarted(w)));
    const succeeded = () => all.flatMap((w) => w.logs).filter((l) => l.message === 'job run finished' && l.outcome === 'succeeded').length;
    await waitFor('ticks with five replicas', () => succeeded() >= 10);

    // Rolling restart: stop one (SIGTERM), start its replacement, wait for it, next.
    for (let i = 0; i < live.length; i++) {
      const old = live[i]!;
      old.kill('SIGTERM');
      expect((await old.waitForExit()).code).toBe(0);
      const replacement = start(`replica-${i + 1}-b`);
      await waitUntilStarted(replacement);
      live = live.map((w) => (w === old ? replacement : w));
      const before = succeeded();
      await waitFor('ticks after a replacement', () => succeeded() >= before + 2);
    }
    for (const w of live) w.kill('SIGTERM');
    expect((await Promise.all(live.map((w) => w.waitForExit()))).map((e) => e.code)).toEqual([0, 0, 0, 0, 0]);
    const result = await checkJobInvariants(fixture.db.url, all);
    expectJobInvariants(result);
    expect(result.executions).toBeGreaterThan(20);
  });
});
