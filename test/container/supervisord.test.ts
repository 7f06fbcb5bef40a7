import path from 'node:path';
import { createProbeTable, PROBE_WORKER, withClient } from '../support/probe';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, withRedis, type TestDatabase } from '../support/services';
import { findQdrantBinary, freePort, startSupervisor, waitForState, type Supervisor } from '../support/supervisor';
import { REPO_ROOT } from '../support/worker-process';
import { waitFor } from '../support/wait';
import { NEVER } from '../support/job-env';
import { reserveConnectionsForFile } from '../support/connection-budget';

// Its peak of PostgreSQL connections, measured by scripts/pg-connections-by-file.sh, with a margin.
reserveConnectionsForFile(27);

/**
 * The container's process tree without Docker: the real supervisord with the project's
 * supervisord.worker.conf, running the built worker (dist/main.js) on real PostgreSQL and Redis.
 *
 * Each describe below (and the Qdrant test) starts its own supervisord with its own folder,
 * socket, database, key prefix and ports, and most of their time is waiting on supervisord
 * (startsecs, the start retries' back-off, drains), not CPU: all but the first run as
 * test.concurrent, side by side with the first describe, whose tests share one supervisord and
 * run in order.
 */
describe('supervisord.worker.conf with the real supervisord', () => {
  let database: TestDatabase;
  const keys = createKeyPrefix();
  let sup: Supervisor;
  let port: number;

  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const healthy = () =>
    waitFor('worker /health 200 under supervisord', async () => (await health()).status === 200 || undefined, {
      limitMs: 60_000,
      everyMs: 250,
    });
  const workerPid = async () => Number((await sup.ctl('pid', 'worker')).stdout.trim());
  const workerLogLines = () =>
    sup
      .log('worker')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    database = await createTestDatabase();
    port = await freePort();
    sup = startSupervisor({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      PORT: String(port),
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    await waitForState(sup, 'worker', 'RUNNING');
  });

  afterAll(async () => {
    await sup?.close();
    await database?.drop();
    await keys.removeKeys();
  });

  test('supervisorctl status: worker and the fatal listener RUNNING; /health answers 200', async () => {
    const states = await sup.states();
    expect(states.worker).toBe('RUNNING');
    expect(states['fatal-exit']).toBe('RUNNING');
    await healthy();
    // The design's log file: the worker's JSON lines land in worker.log (/health answers as soon as
    // the server listens, a moment before the worker logs that it started).
    await waitFor('"crm-worker started" in worker.log', () => workerLogLines().some((l) => l.message === 'crm-worker started'));
  });

  test('the worker does not inherit SUPERVISOR_PASSWORD from supervisord', async () => {
    const pid = await workerPid();
    const environ = (await import('node:fs')).readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(sup.env.SUPERVISOR_PASSWORD).toMatch(/^[0-9a-f]{24}$/);
    // It got the rest of the environment (its PORT), but neither the password's name nor its value.
    expect(environ).toContain(`PORT=${port}`);
    expect(environ.filter((e) => e.startsWith('SUPERVISOR_PASSWORD='))).toEqual([]);
    expect(environ.join('\n')).not.toContain(sup.env.SUPERVISOR_PASSWORD);
  });

  test('supervisorctl restart worker: a new process, and /health comes back', async () => {
    const before = await workerPid();
    const result = await sup.ctl('restart', 'worker');
    expect(result.stdout).toMatch(/worker: stopped[\s\S]*worker: started/);
    const after = await workerPid();
    expect(after).not.toBe(before);
    await healthy();
  });

  test('a worker killed with SIGKILL is restarted by supervisord', async () => {
    const before = await workerPid();
    process.kill(before, 'SIGKILL');
    const after = await waitFor(
      'a new worker pid',
      async () => {
        const pid = await workerPid();
        return pid > 0 && pid !== before ? pid : undefined;
      },
      { limitMs: 60_000, everyMs: 250 },
    );
    expect(after).not.toBe(before);
    await waitForState(sup, 'worker', 'RUNNING');
    await healthy();
    expect(sup.log('supervisord')).toMatch(/exited: worker \(terminated by SIGKILL/);
  });

  test('supervisorctl stop worker drains: ordered shutdown in worker.log, exit status 0', async () => {
    const pid = await workerPid();
    const result = await sup.ctl('stop', 'worker');
    expect(result.stdout).toMatch(/worker: stopped/);
    expect((await sup.states()).worker).toBe('STOPPED');
    expect(sup.log('supervisord')).toMatch(/stopped: worker \(exit status 0\)/);

    const lines = workerLogLines();
    const mine = lines.filter((l) => String(l.instance ?? '').includes(`-${pid}-`));
    const messages = mine.map((l) => (l.message === 'shutdown step done' ? `step:${String(l.step)}` : String(l.message)));
    const order = ['signal received: shutting down', 'step:scheduler', 'step:http', 'step:redis', 'step:database api', 'shutdown complete'];
    const positions = order.map((m) => messages.indexOf(m));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // Leave it running for the other tests' afterAll.
    await sup.ctl('start', 'worker');
  });
});

describe('supervisorctl stop worker while a job runs', () => {
  let database: TestDatabase;
  const keys = createKeyPrefix();
  afterAll(async () => {
    await database?.drop();
    await keys.removeKeys();
  });

  // Concurrent (see the top): jest runs the afterAll above once this test has finished.
  test.concurrent('the running job finishes, its lock is released, the shutdown is ordered and the exit status is 0', async () => {
    database = await createTestDatabase();
    await createProbeTable(database.url);
    // The probe fixture: the real worker plus one job that writes, holds 3 s, and writes again.
    const sup = startSupervisor({
      WORKER_ENTRY: path.relative(REPO_ROOT, PROBE_WORKER),
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keys.prefix,
      PORT: '0',
      PROBE_CRON: '*/1 * * * * *',
      PROBE_HOLD_MS: '3000',
      INSTANCE_ID: 'supervised-probe',
      SHUTDOWN_TIMEOUT_MS: '20000',
      TRIAL_EXPIRATION_CRON: NEVER,
      CALL_CLEANUP_CRON: NEVER,
    });
    try {
      const lines = () =>
        sup
          .log('worker')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      const holding = await waitFor('the probe job holding', () => lines().find((l) => l.message === 'probe holding'), {
        limitMs: 60_000,
      }).catch((err) => {
        throw new Error(`${(err as Error).message}\nworker.log: ${sup.log('worker').slice(-3000)}\nworker-error.log: ${sup.log('worker-error').slice(-2000)}`);
      });
      const result = await sup.ctl('stop', 'worker');
      expect(result.stdout).toMatch(/worker: stopped/);
      expect(sup.log('supervisord')).toMatch(/stopped: worker \(exit status 0\)/);

      // supervisord may report the exit before it has written the child's last lines to the log
      // (seen under load): wait for the final line, then read everything.
      await waitFor("the worker's last log line in worker.log", () => lines().some((l) => l.message === 'shutdown complete'), { limitMs: 30_000 }).catch(
        (err) => {
          throw new Error(`${(err as Error).message}\nworker.log: ${sup.log('worker').slice(-3000)}`);
        },
      );
      const all = lines();
      const finished = all.find((l) => l.message === 'job run finished' && l.runId === holding.runId);
      expect(finished?.outcome).toBe('succeeded');
      const steps = await withClient(database.url, (c) => c.query('SELECT step FROM probe_writes WHERE run_id = $1 ORDER BY at', [holding.runId]));
      expect(steps.rows.map((r) => r.step)).toEqual(['start', 'end']);
      expect(await withRedis((r) => r.exists(`${keys.prefix}lock:probe`))).toBe(0);

      const messages = all.map((l) => (l.message === 'shutdown step done' ? `step:${String(l.step)}` : String(l.message)));
      const order = [
        'signal received: shutting down',
        'job run finished',
        'step:scheduler',
        'step:http',
        'step:redis',
        'step:database api',
        'shutdown complete',
      ];
      const signalAt = messages.indexOf(order[0]!);
      const positions = order.map((m, i) => (i === 0 ? signalAt : messages.indexOf(m, signalAt)));
      expect(order.filter((_, i) => positions[i]! < 0)).toEqual([]);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      // No tick started after the signal.
      expect(all.slice(signalAt).filter((l) => l.message === 'job run started')).toEqual([]);
    } finally {
      await sup.close();
    }
  });
});

describe('the fatal listener stops supervisord when a program turns FATAL', () => {
  test.concurrent('a worker that cannot start (bad config) goes FATAL and supervisord exits', async () => {
    const sup = startSupervisor({ LOCK_TTL_MS: 'not-a-number', PORT: String(await freePort()) });
    let limit: NodeJS.Timeout | undefined;
    try {
      const code = await Promise.race([sup.exited(), new Promise<'still running'>((r) => (limit = setTimeout(() => r('still running'), 90_000)))]);
      expect(code).not.toBe('still running');
      expect(sup.log('supervisord')).toMatch(/gave up: worker entered FATAL state/);
      expect(sup.log('fatal-listener')).toMatch(/program worker is FATAL; stopping supervisord/);
      expect(sup.log('worker-error')).toMatch(/LOCK_TTL_MS: must be a number/);
    } finally {
      // A pending limit would keep jest's process alive for the rest of its 90 s.
      clearTimeout(limit);
      await sup.close();
    }
  });
});

const qdrantBin = findQdrantBinary();
const qdrantTitle = qdrantBin
  ? `qdrant (${qdrantBin}) runs under supervisord at priority 100 and answers /readyz`
  : 'SKIPPED: qdrant under supervisord — no qdrant binary (set QDRANT_BIN or put qdrant on PATH)';
if (!qdrantBin) {
  console.warn('supervisord test: Qdrant is not run under supervisord here: no qdrant binary on PATH or in QDRANT_BIN');
}
(qdrantBin ? test.concurrent : test.skip)(qdrantTitle, async () => {
  const httpPort = await freePort();
  const workerPort = await freePort();
  const database = await createTestDatabase();
  const keys = createKeyPrefix();
  const apiKey = 'supervisord-test-api-key-0123456789';
  const sup = startSupervisor({
    QDRANT_BIN: qdrantBin!,
    QDRANT_AUTOSTART: 'true',
    QDRANT_HTTP_PORT: String(httpPort),
    QDRANT_GRPC_PORT: String(await freePort()),
    QDRANT_URL: `http://127.0.0.1:${httpPort}`,
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: keys.prefix,
    API_KEY: apiKey,
    JOBS_ENABLED: 'false',
    PORT: String(workerPort),
  });
  // The test's own requests to Qdrant close their connection: Qdrant's graceful stop (the restart
  // below) waits for open keep-alive connections, and this process's idle ones linger for seconds.
  const qdrant = (route: string) => fetch(`http://127.0.0.1:${httpPort}${route}`, { headers: { connection: 'close' } });
  const workerSeesQdrant = async () => {
    const res = await fetch(`http://127.0.0.1:${workerPort}/health`, { headers: { 'x-api-key': apiKey } }).catch(() => undefined);
    return res && ((await res.json()) as { services?: { qdrant?: string } }).services?.qdrant === 'healthy';
  };
  try {
    await waitForState(sup, 'qdrant', 'RUNNING');
    // Qdrant asks for the container's API key: without it a caller is refused.
    await waitFor('qdrant /readyz', async () => (await qdrant('/readyz')).ok || undefined);
    const anonymous = await qdrant('/collections');
    expect(anonymous.status).toBe(401);
    await waitFor('the worker under the same supervisord sees qdrant healthy', workerSeesQdrant);
    const result = await sup.ctl('restart', 'qdrant');
    expect(result.stdout).toMatch(/qdrant: started/);
    // A graceful stop, not supervisord's SIGKILL after stopwaitsecs: the worker's /readyz probe
    // must not keep Qdrant's connections busy (src/knowledge/qdrant-probe.ts).
    expect(sup.log('supervisord')).toMatch(/stopped: qdrant \(exit status 0\)/);
    await waitFor('qdrant /readyz after restart', async () => (await qdrant('/readyz')).ok || undefined);
    await waitFor('the worker sees qdrant healthy after its restart', workerSeesQdrant);
  } finally {
    await sup.close();
    await database.drop();
    await keys.removeKeys();
  }
});
