import { PROBE_WORKER } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitUntilStarted } from '../support/worker-process';

describe('missed ticks are counted and logged', () => {
  const fixture = useProcessFixture({ probeTable: true });
  const env = () => fixture.serviceEnv();

  it('while no worker ran: counted at the next start, not replayed', async () => {
    // A 1 s lateness tolerance (5 s by default) keeps the outage below short.
    const jobEnv = () => ({ ...env(), TRIAL_EXPIRATION_CRON: '*/1 * * * * *', MISSED_TICK_TOLERANCE_MS: '1000' });
    const first = fixture.spawn('before-outage', jobEnv());
    await waitUntilStarted(first);
    await first.waitForLog('a recorded run', (l) => l.message === 'job run finished' && l.job === 'trial-expiration');
    first.kill('SIGTERM');
    await first.waitForExit();
    // Down for longer than the lateness tolerance plus a few fire times: the outage is the subject.
    await new Promise((r) => setTimeout(r, 4_000));

    const second = fixture.spawn('after-outage', jobEnv());
    const line = await second.waitForLog('the missed-tick report', (l) => String(l.message).startsWith('ticks missed while no worker ran this job'));
    expect(line.job).toBe('trial-expiration');
    expect(Number(line.missed)).toBeGreaterThanOrEqual(2);
    await waitUntilStarted(second);
    const metrics = await second.get('/metrics', { accept: 'text/plain' });
    const counted = /crm_worker_missed_ticks_total\{job="trial-expiration",reason="down"\} (\d+)/.exec(metrics.body);
    expect(Number(counted?.[1])).toBe(Number(line.missed));
    second.kill('SIGTERM');
    await second.waitForExit();
  });

  it('while the event loop was blocked past fire times: counted as blocked', async () => {
    const worker = fixture.spawn(
      'blocked',
      { ...fixture.serviceEnv('blocked:'), PROBE_CRON: '*/1 * * * * *', PROBE_BLOCK_MS: '3500' },
      { script: PROBE_WORKER },
    );
    await waitUntilStarted(worker);
    const missed = await worker.waitForLog('a blocked-tick report', (l) => l.message === 'tick missed: the process was blocked past its fire time');
    expect(missed.job).toBe('probe');
    const metrics = await worker.get('/metrics', { accept: 'text/plain' });
    const counted = /crm_worker_missed_ticks_total\{job="probe",reason="blocked"\} (\d+)/.exec(metrics.body);
    expect(Number(counted?.[1])).toBeGreaterThanOrEqual(1);
  });
});
