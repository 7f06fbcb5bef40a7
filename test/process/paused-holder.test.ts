import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withRedis } from '../support/services';
import { PROBE_WORKER, withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitUntilStarted } from '../support/worker-process';

describe('a worker stopped with SIGSTOP past its lock TTL', () => {
  const fixture = useProcessFixture({ probeTable: true });
  const releaseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-paused-holder-'));
  afterAll(() => fs.rmSync(releaseDir, { recursive: true, force: true }));

  it('loses the lock to another worker and, resumed, neither releases it nor writes', async () => {
    const db = fixture.db;
    const env = {
      ...fixture.serviceEnv(),
      LOCK_TTL_MS: '2000',
      PROBE_CRON: '*/1 * * * * *',
    };
    const a = fixture.spawn('worker-a', { ...env, PROBE_HOLD_MS: '5000' }, { script: PROBE_WORKER });
    await waitUntilStarted(a);
    const aHolding = await a.waitForLog('probe holding', (l) => l.message === 'probe holding');
    const aRunId = aHolding.runId as string;
    a.kill('SIGSTOP');

    // B holds its run until this test has checked A's stale run (the release file): its lease is
    // then certainly held during those checks, however slowly a loaded machine gets there, and the
    // test does not wait out a fixed hold chosen long enough for the worst case.
    const releaseB = path.join(releaseDir, 'release-b');
    const b = fixture.spawn('worker-b', { ...env, PROBE_HOLD_MS: '0', PROBE_RELEASE_FILE: releaseB }, { script: PROBE_WORKER });
    const bHolding = await b.waitForLog('b takes over the probe job', (l) => l.message === 'probe holding');
    const bRunId = bHolding.runId as string;
    const lockKey = `${fixture.keys.prefix}lock:probe`;
    const tokenOfB = await withRedis((r) => r.get(lockKey));
    expect(tokenOfB).toMatch(/^worker-b\//);

    a.kill('SIGCONT');
    const aFinished = await a.waitForLog('a finishes its stale run', (l) => l.message === 'job run finished' && l.runId === aRunId);
    expect(aFinished.outcome).toBe('lease-lost');

    // B still holds its lease (its run waits for the release file): A's release must not have touched it.
    expect(await withRedis((r) => r.get(lockKey))).toBe(tokenOfB);
    const writes = await withClient(db.url, (c) => c.query<{ run_id: string; step: string }>('SELECT run_id, step FROM probe_writes ORDER BY at'));
    expect(writes.rows.filter((w) => w.run_id === aRunId).map((w) => w.step)).toEqual(['start']);
    expect(b.logs.some((l) => l.message === 'job run finished' && l.runId === bRunId)).toBe(false);

    fs.writeFileSync(releaseB, '');
    const bFinished = await b.waitForLog('b finishes', (l) => l.message === 'job run finished' && l.runId === bRunId);
    expect(bFinished.outcome).toBe('succeeded');
    const bWrites = await withClient(db.url, (c) => c.query<{ step: string }>('SELECT step FROM probe_writes WHERE run_id = $1 ORDER BY at', [bRunId]));
    expect(bWrites.rows.map((w) => w.step)).toEqual(['start', 'end']);
    const history = await withClient(db.url, (c) => c.query<{ outcome: string }>('SELECT outcome FROM job_runs WHERE run_id = $1', [aRunId]));
    expect(history.rows).toEqual([{ outcome: 'lease-lost' }]);
  });
});
