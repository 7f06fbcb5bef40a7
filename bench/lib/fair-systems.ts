import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import PgBoss from 'pg-boss';
import { Pool } from 'pg';
import { createTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../../test/support/services';
import { spawnWorker, waitUntilStarted, WORKER_MAIN, WORKER_NODE_FLAGS, type WorkerProcess } from '../../test/support/worker-process';
import { ensureTenants, scheduleBenchMessages, SINK_TARGET, type BenchMessage } from './crm-side';
import { FOLLOWUP_DDL, FOLLOWUP_TABLE, insertFollowups } from './followup-work';
import { SINK_SECRET, type SignedSink } from './signed-sink';
import type { FairPeerArgs } from '../peers/fair-args';

/**
 * The systems of the fair benches behind one face: a fresh database (and Redis prefix) per run,
 * a producer that enqueues the way each system's users do, and a consumer process started fresh.
 * The bench process only produces, runs the sink and measures.
 */

export type SystemName = 'crm' | 'bullmq' | 'pgboss';
export interface FairConfig {
  system: SystemName;
  /** 'design': the design document's own setting (BullMQ: concurrency 5), the one issue 17's lag ratio names. */
  settings: 'defaults' | 'design' | 'best';
  label: string;
}

/** crm-worker's tuned row: more sends in flight and larger claims than the defaults (5 and 100). */
export const CRM_TUNED_ENV = { DELIVERY_CONCURRENCY: '100', DELIVERY_BATCH_SIZE: '500' };

export const FAIR_CONFIGS: readonly FairConfig[] = [
  { system: 'crm', settings: 'defaults', label: 'crm-worker (defaults: DELIVERY_CONCURRENCY 5, DELIVERY_BATCH_SIZE 100)' },
  { system: 'crm', settings: 'best', label: 'crm-worker (tuned: DELIVERY_CONCURRENCY 100, DELIVERY_BATCH_SIZE 500)' },
  { system: 'bullmq', settings: 'defaults', label: 'BullMQ (defaults: concurrency 1)' },
  { system: 'bullmq', settings: 'design', label: "BullMQ (the design's concurrency 5, without its 10/minute limiter)" },
  { system: 'bullmq', settings: 'best', label: 'BullMQ (best: concurrency 100, removeOnComplete)' },
  { system: 'pgboss', settings: 'defaults', label: 'pg-boss (defaults: poll 2 s, batch 1)' },
  { system: 'pgboss', settings: 'best', label: 'pg-boss (best: poll 0.5 s, batch 1000, 4 loops)' },
];

/** A message's priority in the fairness bench; the peers map it onto their own scales. */
export type Urgency = 'high' | 'low';
export type FairMessage = BenchMessage & { urgency?: Urgency };

/**
 * Follow-ups of one tenant due at `dues`, numbered from 1, keyed `<group>:<n>:<due>` (the sink
 * counts them under `group` and reads their lag from the key): the exact-time runs' messages.
 */
export function dueFollowUps(tenantId: string, group: string, dues: readonly number[]): FairMessage[] {
  return dues.map((due, n) => ({ tenantId, type: 'bench', n: n + 1, due, key: `${group}:${n + 1}:${due}` }));
}

const PEERS_BUILD = path.join(__dirname, '..', 'tmp', 'fair-peers-build', 'bench', 'peers');

/** Peers run as plain JavaScript, like crm-worker's dist/main.js (a TypeScript loader would add its own cost). */
export function buildFairPeers(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(__dirname, '..', 'tsconfig.fair-peers.json')], {
    stdio: 'inherit',
  });
}

export interface RunningConsumer {
  pid: number;
  stop(): Promise<void>;
}

export interface FairSystem {
  readonly config: FairConfig;
  readonly db: TestDatabase;
  /** The bench's own pool on the run's database; queries made through it are counted (see benchQueries). */
  readonly pool: Pool;
  startConsumer(): Promise<RunningConsumer>;
  enqueue(messages: readonly FairMessage[]): Promise<void>;
  /** Rows marked sent in the system's own table (crm-worker: the outbox; peers: the follow-up table). */
  sentCount(): Promise<number>;
  /** PostgreSQL commits in the run's database so far (pg_stat_database.xact_commit), less the bench's own queries. */
  commits(): Promise<number>;
  cleanup(): Promise<void>;
}

/** Sets up one run of one system: database, schema, queue. */
/** The node flags crm-worker runs with: the shipped ones, or BENCH_CRM_NODE_FLAGS ('' for node's defaults) to compare. */
export function crmNodeFlags(): string[] {
  const given = process.env.BENCH_CRM_NODE_FLAGS;
  return given === undefined ? [...WORKER_NODE_FLAGS] : given.split(' ').filter(Boolean);
}

export async function openFairSystem(config: FairConfig, sink: SignedSink, runTag: string, tenants: readonly string[]): Promise<FairSystem> {
  const db = await createTestDatabase();
  const pool = new Pool({ connectionString: db.url, max: 4 });
  // Other suites on a shared server may terminate backends; an idle client's error must not end the bench.
  pool.on('error', (err) => process.stderr.write(`[bench] idle postgres client error: ${err.message}\n`));
  let benchQueries = 0;
  const query = async <R extends object>(text: string, params?: unknown[]) => {
    benchQueries++;
    return (await pool.query<R>(text, params)).rows;
  };
  const commits = async () => {
    const rows = await query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1', [db.name]);
    return Number(rows[0]?.n ?? 0) - benchQueries;
  };
  const base = { config, db, pool, commits };

  if (config.system === 'crm') {
    await migrate(db.url);
    await ensureTenants(pool, tenants);
    const workers: WorkerProcess[] = [];
    return {
      ...base,
      async startConsumer() {
        const w = spawnWorker(
          `fair-${runTag}`,
          {
            DATABASE_URL: db.url,
            REDIS_URL: TEST_REDIS_URL,
            REDIS_KEY_PREFIX: `crmw-fair:${runTag}:`,
            WEBHOOK_TARGETS: `${SINK_TARGET}=${sink.url}`,
            WEBHOOK_SECRET: SINK_SECRET,
            WEBHOOK_ALLOW_PRIVATE: 'true',
            LOG_LEVEL: 'info',
            ...(config.settings === 'best' ? CRM_TUNED_ENV : {}),
            // As `npm start` and the image run it: node with the shipped heap flags.
          },
          { command: process.execPath, args: [...crmNodeFlags(), WORKER_MAIN] },
        );
        workers.push(w);
        await waitUntilStarted(w);
        return {
          pid: w.child.pid!,
          async stop() {
            w.kill('SIGKILL');
            await w.waitForExit(10_000).catch(() => undefined);
          },
        };
      },
      enqueue: (messages) => scheduleBenchMessages(pool, messages),
      async sentCount() {
        const rows = await query<{ n: string }>(`SELECT count(*) AS n FROM scheduled_messages WHERE status = 'sent'`);
        return Number(rows[0]!.n);
      },
      async cleanup() {
        for (const w of workers) w.kill('SIGKILL');
        await Promise.all(workers.map((w) => w.waitForExit(10_000).catch(() => undefined)));
        await pool.end();
        await db.drop();
      },
    };
  }

  await pool.query(FOLLOWUP_DDL);
  benchQueries++;
  const queue = `fair-${runTag}`;
  const redisPrefix = `fairbench:${runTag}`;
  const args: FairPeerArgs = { settings: config.settings, queue, databaseUrl: db.url, sinkUrl: sink.url, secret: SINK_SECRET };
  const insertRows = async (messages: readonly FairMessage[]) => {
    await insertFollowups(
      pool,
      messages.map((m) => ({
        id: m.n,
        tenantId: m.tenantId,
        contactId: `contact-${m.n}`,
        recipient: SINK_TARGET,
        type: m.type,
        template: 'bench message {{ n }}',
        variables: { n: m.n },
        idempotencyKey: m.key,
        scheduledTime: new Date(m.due),
      })),
    );
    benchQueries += Math.ceil(messages.length / 2_000);
  };
  const sentCount = async () => {
    const rows = await query<{ n: string }>(`SELECT count(*) AS n FROM ${FOLLOWUP_TABLE} WHERE status = 'sent'`);
    return Number(rows[0]!.n);
  };

  if (config.system === 'bullmq') {
    const url = new URL(TEST_REDIS_URL);
    const connection = { host: url.hostname, port: Number(url.port || 6379) };
    const q = new Queue(queue, { connection, prefix: redisPrefix });
    const removeOnComplete = config.settings === 'best' ? { removeOnComplete: true } : {};
    const children: ChildProcess[] = [];
    return {
      ...base,
      startConsumer: () => spawnPeer('bullmq-followup.js', { ...args, redisUrl: TEST_REDIS_URL, redisPrefix }, children),
      async enqueue(messages) {
        await insertRows(messages);
        for (let i = 0; i < messages.length; i += 1_000) {
          const now = Date.now();
          await q.addBulk(
            messages.slice(i, i + 1_000).map((m) => ({
              name: 'followup',
              data: { id: m.n },
              opts: {
                ...(m.due > now ? { delay: Math.round(m.due - now) } : {}),
                // BullMQ: 1 is the highest priority; a job without one goes before every prioritized job.
                ...(m.urgency ? { priority: m.urgency === 'high' ? 1 : 10 } : {}),
                ...removeOnComplete,
              },
            })),
          );
        }
      },
      sentCount,
      async cleanup() {
        for (const c of children) c.kill('SIGKILL');
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close();
        await pool.end();
        await db.drop();
      },
    };
  }

  const boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false, max: 2 });
  boss.on('error', (err) => process.stderr.write(`[bench] pg-boss producer error: ${err.message}\n`));
  await boss.start();
  await boss.createQueue(queue);
  const children: ChildProcess[] = [];
  return {
    ...base,
    startConsumer: () => spawnPeer('pgboss-followup.js', args, children),
    async enqueue(messages) {
      await insertRows(messages);
      const now = Date.now();
      // pg-boss: a higher number is served first; 0 is the default.
      const jobs = messages.map((m) => ({
        name: queue,
        data: { id: m.n },
        ...(m.due > now ? { startAfter: new Date(m.due) } : {}),
        ...(m.urgency ? { priority: m.urgency === 'high' ? 10 : 0 } : {}),
      }));
      for (let i = 0; i < jobs.length; i += 1_000) await boss.insert(jobs.slice(i, i + 1_000));
    },
    sentCount,
    async cleanup() {
      for (const c of children) c.kill('SIGKILL');
      await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
      await pool.end();
      await db.drop();
    },
  };
}

/**
 * Starts a peer consumer; resolves once it printed "ready". The producer's pg-boss instance
 * shares the run's database, so the commit counts of a pg-boss run include its inserts only
 * before the consumer starts (the bench reads commits after enqueueing).
 */
async function spawnPeer(script: string, args: FairPeerArgs, children: ChildProcess[]): Promise<RunningConsumer> {
  const child = spawn(process.execPath, [path.join(PEERS_BUILD, script), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready')) resolve();
    });
    void exited.then(() => reject(new Error(`${script} exited before it was ready`)));
  });
  return {
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function migrate(databaseUrl: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const m = spawn(process.execPath, [path.join(path.dirname(WORKER_MAIN), 'db', 'migrate-cli.js')], {
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: 'ignore',
    });
    m.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`migrate exited ${code}`))));
  });
}
