import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Database } from '../../src/db/database';
import { createRedisLeaseLocks } from '../../src/locks/redis-lease-locks';
import type { RedisClient } from '../../src/redis/redis-client';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/fake-openai';
import { startRealQdrant, type RealQdrant } from '../support/real-qdrant';
import { connectTestRedis, openMigratedDatabase, quietLogger } from '../support/harness';
import { createKeyPrefix, createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../support/services';
import { killAll, REPO_ROOT, spawnWorker, waitUntilStarted, type WorkerProcess } from '../support/worker-process';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'index.js');

/** The built bin (dist/cli/index.js) as an operator runs it: a real process with its own env. */
function cli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number; stdout: string; stderr: string }> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(DATABASE_URL|REDIS_URL|REDIS_KEY_PREFIX|QDRANT_URL|OPENAI_API_KEY|OPENAI_BASE_URL|PORT)$/.test(k)) merged[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: merged, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as NodeJS.ErrnoException & { code?: unknown }).code ?? 1) : 0;
      resolve({ code: Number.isFinite(code) ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('operator CLI (crm-worker bin) against real Redis and PostgreSQL', () => {
  let database: TestDatabase;
  let db: Database;
  let redis: RedisClient;
  const keys = createKeyPrefix();
  let env: Record<string, string>;
  const workers: WorkerProcess[] = [];
  // Most of this file's time is spent starting node processes (each CLI call loads its modules
  // afresh). The worker the health test asks and the Qdrant the knowledge-sync test embeds into
  // are therefore started here, to come up while the lock tests run, and calls that do not
  // depend on each other's effects run side by side; each call's own assertions stay as they were.
  const healthApiKey = 'cli-health-api-key-0123';
  let healthWorker: WorkerProcess;
  let qdrantStarting: Promise<RealQdrant> | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openMigratedDatabase('postgres', database.url);
    redis = await connectTestRedis(TEST_REDIS_URL);
    env = { DATABASE_URL: database.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: keys.prefix };
    // Its own key prefix below ours: whatever it keeps in Redis is never one of the lock:* keys
    // the lock tests list (`locks` must see "no locks held"), and removeKeys still finds it.
    // JOBS_ENABLED=false: it runs no job, so it never takes trial-expiration from the run test.
    healthWorker = spawnWorker('cli-health', { ...env, REDIS_KEY_PREFIX: `${keys.prefix}health:`, JOBS_ENABLED: 'false', API_KEY: healthApiKey });
    workers.push(healthWorker);
    qdrantStarting = startRealQdrant();
    // Not left unhandled while no test awaits it yet; the knowledge-sync test's beforeAll rethrows.
    qdrantStarting.catch(() => undefined);
  });
  afterAll(async () => {
    await killAll(workers);
    await (await qdrantStarting?.catch(() => undefined))?.close();
    await redis?.quit();
    await db?.close();
    await database?.drop();
    await keys.removeKeys();
  });

  const holder = (owner: string) => createRedisLeaseLocks({ client: redis, keyPrefix: keys.prefix, owner, commandTimeoutMs: 2_000, logger: quietLogger });

  test('locks lists lock:* keys with owner and TTL', async () => {
    const lease = await holder('worker-a').acquire('call-cleanup', 60_000);
    try {
      const result = await cli(['locks'], env);
      expect(result.code).toBe(0);
      const line = result.stdout.split('\n').find((l) => l.startsWith(`${keys.prefix}lock:call-cleanup\t`));
      expect(line).toBeDefined();
      const [, owner, ttl] = line!.split('\t');
      expect(owner).toBe('worker-a');
      expect(ttl).toMatch(/^\d+s$/);
    } finally {
      await lease!.release();
    }
    expect((await cli(['locks'], env)).stdout).toContain('no locks held');
  });

  test('unlock refuses a live lease without --owner or --force, and clears it with the right owner', async () => {
    const lease = await holder('worker-b').acquire('trial-expiration', 60_000);
    expect(lease).not.toBeNull();
    const key = `${keys.prefix}lock:trial-expiration`;

    // Three refusals side by side: none may touch the key, so the token is checked after all of
    // them (had any one cleared it, it would be gone).
    const [refused, wrongOwner, noReason] = await Promise.all([
      cli(['unlock', 'trial-expiration'], env),
      cli(['unlock', 'trial-expiration', '--owner', 'worker-z'], env),
      cli(['unlock', 'trial-expiration', '--force'], env),
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/held by worker-b and expires by itself/);
    expect(wrongOwner.code).toBe(3);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--force needs --reason/);
    expect(await redis.get(key)).toBe(lease!.token);

    const cleared = await cli(['unlock', 'trial-expiration', '--owner', 'worker-b'], env);
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toMatch(/cleared .*lock:trial-expiration \(was held by worker-b/);
    expect(await redis.get(key)).toBeNull();
    // The former holder's compare-and-set release now finds someone else's (no) token.
    expect(await lease!.release()).toBe(false);
  });

  test('unlock clears a lock without expiry (never clears by itself) and --force with a reason clears a live one', async () => {
    const stuck = `${keys.prefix}lock:campaign-scheduler`;
    await redis.set(stuck, 'old-worker/abc');
    const live = await holder('worker-c').acquire('call-scheduler', 60_000);
    // Two different keys: the two unlocks run side by side.
    const [result, forced] = await Promise.all([
      cli(['unlock', 'campaign-scheduler'], env),
      cli(['unlock', 'call-scheduler', '--force', '--reason', 'worker-c host was decommissioned'], env),
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/no expiry/);
    expect(await redis.get(stuck)).toBeNull();

    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/forced: worker-c host was decommissioned/);
    expect(await redis.get(`${keys.prefix}lock:call-scheduler`)).toBeNull();
    expect(await live!.release()).toBe(false);

    const notHeld = await cli(['unlock', 'call-scheduler'], env);
    expect(notHeld.code).toBe(0);
    expect(notHeld.stdout).toMatch(/is not held/);
  });

  test('run <job> runs one tick under its lock and the job_runs fence; a held lock or a tick already run is refused', async () => {
    await db.query(`INSERT INTO tenants (id, name, status, trial_ends_at) VALUES
      ('cli-t1', 'Ended', 'trial', now() - interval '1 hour'), ('cli-t2', 'Running', 'trial', now() + interval '1 day')`);
    const fireTime = '2030-01-01T00:00:00.000Z';

    const lease = await holder('busy-worker').acquire('trial-expiration', 60_000);
    // The refusals of an unknown and of a disabled job touch neither the lock nor the database:
    // they run beside the contended run (and are checked at the end, as before).
    const refusals = Promise.all([cli(['run', 'no-such-job'], env), cli(['run', 'knowledge-sync'], env)]);
    const contended = await cli(['run', 'trial-expiration', '--fire-time', fireTime], env);
    expect(contended.code).toBe(3);
    expect(contended.stdout).toMatch(/not run: contended/);
    expect((await db.query(`SELECT status FROM tenants WHERE id = 'cli-t1'`)).rows[0]).toEqual({ status: 'trial' });
    await lease!.release();

    const ran = await cli(['run', 'trial-expiration', '--fire-time', fireTime], env);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toMatch(/trial-expiration: succeeded, 1 items/);
    const tenants = await db.query<{ id: string; status: string }>(`SELECT id, status FROM tenants WHERE id LIKE 'cli-%' ORDER BY id`);
    expect(tenants.rows).toEqual([
      { id: 'cli-t1', status: 'suspended' },
      { id: 'cli-t2', status: 'trial' },
    ]);
    const runs = await db.query(`SELECT trigger, outcome, items, instance FROM job_runs WHERE job = 'trial-expiration'`);
    expect(runs.rows).toEqual([expect.objectContaining({ trigger: 'manual', outcome: 'succeeded', items: 1 })]);
    expect(String(runs.rows[0]!.instance)).toMatch(/^cli-/);
    // The lock was released after the run.
    expect(await redis.get(`${keys.prefix}lock:trial-expiration`)).toBeNull();

    const again = await cli(['run', 'trial-expiration', '--fire-time', fireTime], env);
    expect(again.code).toBe(3);
    expect(again.stdout).toMatch(/not run: already-ran/);

    const [unknown, disabled] = await refusals;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown or disabled job "no-such-job"; jobs of this configuration: .*trial-expiration/);
    expect(disabled.code).toBe(2);
    expect(disabled.stderr).toMatch(/unknown or disabled job "knowledge-sync"/);
  });

  describe('run knowledge-sync (module jobs, as the worker builds them)', () => {
    let qdrant: RealQdrant;
    let openai: FakeOpenAI;
    beforeAll(async () => {
      qdrant = await qdrantStarting!;
      openai = await startFakeOpenAI();
    });
    afterAll(async () => {
      // Qdrant is closed by the outer afterAll, which started it.
      await openai?.close();
    });
    test('embeds the documents through the same job the worker schedules', async () => {
      await db.query(`INSERT INTO knowledge_documents (id, content) VALUES ('cli-doc-1', 'one'), ('cli-doc-2', 'two')`);
      const result = await cli(['run', 'knowledge-sync'], {
        ...env,
        QDRANT_URL: qdrant.url,
        QDRANT_COLLECTION: 'cli_knowledge',
        OPENAI_API_KEY: openai.apiKey,
        OPENAI_BASE_URL: openai.baseUrl,
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/knowledge-sync: succeeded, 2 items/);
      const count = await fetch(`${qdrant.url}/collections/cli_knowledge/points/count`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ exact: true }),
      });
      expect(((await count.json()) as { result: { count: number } }).result.count).toBe(2);
    });
  });

  test("health prints a running worker's /health summary; exit 1 when nothing answers", async () => {
    // The instance shows only to a caller with the API key: the CLI sends API_KEY as the worker reads it.
    const worker = healthWorker;
    await waitUntilStarted(worker);
    const [anonymous, result] = await Promise.all([
      cli(['health', '--url', `http://127.0.0.1:${worker.port()}`], {}),
      cli(['health', '--url', `http://127.0.0.1:${worker.port()}`], { API_KEY: healthApiKey }),
    ]);
    expect(anonymous.stdout).toMatch(/^status: ok \(HTTP 200\), instance \?/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^status: ok \(HTTP 200\), instance cli-health/);
    expect(result.stdout).toMatch(/database\s+connected/);
    expect(result.stdout).toMatch(/redis\s+connected/);
    expect(result.stdout).toMatch(/qdrant\s+disabled/);

    worker.kill('SIGTERM');
    await worker.waitForExit();
    const down = await cli(['health', '--url', `http://127.0.0.1:${worker.port()}`], {});
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/no answer from/);
  });

  describe('dead list / dead redrive', () => {
    test('a clear error while the outbox table does not exist', async () => {
      const bare = await createTestDatabase();
      try {
        const result = await cli(['dead', 'list'], { DATABASE_URL: bare.url });
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/table scheduled_messages does not exist/);
      } finally {
        await bare.drop();
      }
    });

    test('lists dead messages (recipients masked) and redrives only a dead one', async () => {
      // The delivery outbox (migration 0003, built on the delivery branch) when merged; until
      // then the columns these commands use, so the test runs either way.
      await db.query(`CREATE TABLE IF NOT EXISTS scheduled_messages (
        id bigserial PRIMARY KEY, tenant_id text NOT NULL, channel text NOT NULL, recipient text NOT NULL,
        scheduled_at timestamptz NOT NULL, due_at timestamptz NOT NULL, template text NOT NULL,
        status text NOT NULL DEFAULT 'scheduled', attempts integer NOT NULL DEFAULT 0, last_error text,
        claimed_by text, lease_expires_at timestamptz, resolution text, idempotency_key text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`);
      await db.query(`INSERT INTO tenants (id, name, status) VALUES ('dead-t', 'Dead letters', 'active') ON CONFLICT DO NOTHING`);
      const inserted = await db.query<{ id: string; status: string }>(
        `INSERT INTO scheduled_messages (tenant_id, channel, recipient, scheduled_at, due_at, template, status, attempts, last_error, idempotency_key)
         VALUES ('dead-t', 'email', 'jane@example.com', now() - interval '1 day', now() - interval '1 day', 'Hi', 'dead', 5, 'SMTP 550 mailbox jane@example.com unavailable', 'k-dead'),
                ('dead-t', 'sms', '+14155550100', now(), now(), 'Hi', 'sent', 1, NULL, 'k-sent')
         RETURNING id::text AS id, status`,
      );
      const deadId = inserted.rows.find((r) => r.status === 'dead')!.id;
      const sentId = inserted.rows.find((r) => r.status === 'sent')!.id;

      const list = await cli(['dead', 'list'], env);
      expect(list.code).toBe(0);
      const rows = list.stdout.trim().split('\n').slice(1);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.split('\t').slice(0, 5)).toEqual([deadId, 'dead-t', 'email', '[email]', '5']);
      expect(list.stdout).not.toContain('jane@example.com');

      const redriven = await cli(['dead', 'redrive', deadId, '--reason', 'mailbox fixed'], env);
      expect(redriven.code).toBe(0);
      const row = await db.query(`SELECT status, attempts, due_at <= now() AS due, resolution FROM scheduled_messages WHERE id = $1`, [deadId]);
      expect(row.rows[0]).toEqual(expect.objectContaining({ status: 'scheduled', attempts: 0, due: true }));
      expect(String(row.rows[0]!.resolution)).toMatch(/redriven by .*: mailbox fixed; last error: SMTP 550/);
      // The list after the redrive and two refused redrives (which change nothing) side by side.
      const [after, notDead, missing] = await Promise.all([
        cli(['dead', 'list'], env),
        cli(['dead', 'redrive', sentId], env),
        cli(['dead', 'redrive', '999999'], env),
      ]);
      expect(after.stdout).toContain('no dead messages');
      expect(notDead.code).toBe(1);
      expect(notDead.stderr).toMatch(new RegExp(`message ${sentId} is sent, not dead; left unchanged`));
      expect((await db.query('SELECT status FROM scheduled_messages WHERE id = $1', [sentId])).rows[0]).toEqual({ status: 'sent' });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/no message 999999/);
    });
  });
});
