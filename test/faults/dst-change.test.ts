import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withClient } from '../support/probe';
import { useProcessFixture } from '../support/process-fixture';
import { waitFor } from '../support/wait';
import { waitUntilStarted, type WorkerProcess } from '../support/worker-process';
import { fastForward, fastForwardableClockEnv, skewedClockEnv } from '../support/faketime';
import { reserveConnectionsForFile } from '../support/connection-budget';

const DST_WORKER = path.join(__dirname, '..', 'fixtures', 'dst-worker.js');
const SPEED = 120; // one real second is two fake minutes

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(30);

/**
 * Fault scenario 11: a daylight-saving change while hourly and daily jobs run. Real worker
 * processes run under libfaketime with their clock (wall and monotonic, so their timers too)
 * starting just before the change, at real speed until the worker is up and 120 times faster from
 * then on (so a slow start-up on a loaded machine cannot eat the first fire time), with
 * CRON_TIMEZONE=America/New_York.
 * The job history must hold exactly one run per intended fire time: the hourly job once per real
 * hour, the daily job at a skipped time once (shifted past the gap), at a repeated time once.
 * node-cron, which ran the schedules before, fails both: it skipped the daily 02:30 in spring
 * and the second 01:00 hour in autumn.
 */
describe('fault 11: daylight-saving changes under a fast fake clock', () => {
  const fixture = useProcessFixture();
  const faketimeInstalled = skewedClockEnv('+0') !== undefined;
  let clockDir = '';
  beforeAll(() => {
    clockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmw-dst-'));
  });
  afterAll(() => fs.rmSync(clockDir, { recursive: true, force: true }));

  async function runThrough(name: string, startUtc: string, firstFireUtc: string, untilUtc: string, dailyCron: string): Promise<WorkerProcess> {
    const clockFile = path.join(clockDir, `${name}.faketimerc`);
    const worker = fixture.spawn(
      name,
      {
        ...fixture.serviceEnv(`${name}:`),
        // The clock starts at `startUtc` at real speed, and runs x120 only once the worker is up.
        ...fastForwardableClockEnv(clockFile, startUtc),
        CRON_TIMEZONE: 'America/New_York',
        DST_JOB_PREFIX: `${name}-`,
        DST_HOURLY_CRON: '0 0 * * * *',
        DST_DAILY_CRON: dailyCron,
        // Durations the worker measures run on the fake clock too: make them long in fake time.
        LOCK_TTL_MS: '3600000',
        DB_QUERY_TIMEOUT_MS: '600000',
        DB_API_ACQUIRE_TIMEOUT_MS: '60000',
        DB_ACQUIRE_TIMEOUT_MS: '600000',
        REDIS_COMMAND_TIMEOUT_MS: '60000',
        HEALTH_CHECK_TIMEOUT_MS: '30000',
        HEALTH_PROBE_INTERVAL_MS: '60000',
        SHUTDOWN_TIMEOUT_MS: '600000',
        // 5 s of fake lateness is only 42 ms of real time at x120: a loaded machine would count
        // ticks as missed. Ten fake minutes (5 real seconds) keeps the test about DST alone.
        MISSED_TICK_TOLERANCE_MS: '600000',
      },
      { script: DST_WORKER },
    );
    // Started means the scheduler is armed. The request also has the worker read its clock, from
    // which libfaketime speeds it up (see fastForward).
    await waitUntilStarted(worker);
    const readyAt = Date.parse((await worker.get('/health')).json().timestamp);
    fastForward(clockFile, startUtc, SPEED);
    // At real speed, start-up would have to take four real minutes to reach the first fire time.
    if (readyAt >= Date.parse(firstFireUtc)) throw new Error(`${name}: the worker was ready only at ${new Date(readyAt).toISOString()}`);
    // The worker's own clock says when the window is over.
    await waitFor(`${name}: fake time past ${untilUtc}`, async () => Date.parse((await worker.get('/health')).json().timestamp) > Date.parse(untilUtc), {
      limitMs: 150_000,
      everyMs: 200,
    });
    worker.kill('SIGKILL');
    await worker.waitForExit();
    return worker;
  }

  async function fireTimes(job: string): Promise<string[]> {
    const rows = await withClient(fixture.db.url, (c) =>
      c.query<{ fire_time: Date; outcome: string }>(
        // Only the faked nights: the lease holder also runs ticks due on the database's (real)
        // clock that no replica ran (the skewed-replica catch-up), should a real hour pass meanwhile.
        `SELECT fire_time, outcome FROM job_runs WHERE job = $1 AND trigger = 'schedule' AND fire_time < '2026-11-02T00:00:00Z'
         ORDER BY fire_time`,
        [job],
      ),
    );
    expect(rows.rows.filter((r) => r.outcome !== 'succeeded')).toEqual([]);
    return rows.rows.map((r) => new Date(r.fire_time).toISOString());
  }

  (faketimeInstalled ? it : it.skip)('spring forward 2026-03-08 and fall back 2026-11-01: one run per intended fire time', async () => {
    // Both nights at once, in two processes: 01:56 EST → 04:05 EDT, and 00:56 EDT → 02:05 EST.
    // Four fake minutes before the first fire time: start-up runs at real speed (so four real
    // minutes of margin), and the about two real seconds left at x120 once started only have to reach
    // the first tick; the x120 stretch (the autumn night's, 129 fake minutes) is the file's time.
    const [spring, autumn] = await Promise.all([
      runThrough('spring', '2026-03-08T06:56:00Z', '2026-03-08T07:00:00Z', '2026-03-08T08:05:00Z', '0 30 2 * * *'),
      runThrough('autumn', '2026-11-01T04:56:00Z', '2026-11-01T05:00:00Z', '2026-11-01T07:05:00Z', '0 30 1 * * *'),
    ]);

    // Spring: the 02:00 hour does not exist; hourly runs at 03:00 and 04:00 EDT, the daily 02:30 once at 03:30 EDT.
    expect(await fireTimes('spring-hourly')).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-08T08:00:00.000Z']);
    expect(await fireTimes('spring-daily')).toEqual(['2026-03-08T07:30:00.000Z']);
    // Autumn: 01:00 EDT, 01:00 EST and 02:00 EST are three real hours; the daily 01:30 runs at the first 01:30 only.
    expect(await fireTimes('autumn-hourly')).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:00:00.000Z', '2026-11-01T07:00:00.000Z']);
    expect(await fireTimes('autumn-daily')).toEqual(['2026-11-01T05:30:00.000Z']);
    for (const worker of [spring, autumn]) {
      expect(worker.logs.filter((l) => String(l.message).startsWith('tick missed'))).toEqual([]);
    }
  });
});
