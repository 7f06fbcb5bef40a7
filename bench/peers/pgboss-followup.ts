/**
 * Fair-bench consumer: pg-boss 10 (the last major that runs on Node 20) whose work() handler is
 * the design's follow-up handler (bench/lib/followup-work.ts) for each job of its batch. pg-boss
 * keeps its own pool (its default, 10 connections) for fetching and completing jobs; the handler's
 * SQL goes through its own pool of crm-worker's dispatcher size, like BullMQ's.
 * Settings:
 * - defaults: boss.work(queue, handler) — pollingIntervalSeconds 2, batchSize 1, one loop;
 * - best: pollingIntervalSeconds 0.5 (the minimum pg-boss accepts), batchSize 1000, four work()
 *   loops, and the jobs of a batch handled side by side.
 * Prints "ready" once polling; runs until the bench sends SIGTERM (or SIGKILL).
 */
import PgBoss from 'pg-boss';
import { followupWork } from '../lib/followup-work';
import { exitOnSignal, readFairPeerArgs } from './fair-args';

export const PGBOSS_FAIR_BEST = { pollingIntervalSeconds: 0.5, batchSize: 1000, loops: 4 };

async function main(): Promise<void> {
  const args = readFairPeerArgs();
  const work = followupWork({ databaseUrl: args.databaseUrl, sinkUrl: args.sinkUrl, secret: args.secret, sentBy: 'pgboss_worker' });
  const boss = new PgBoss({ connectionString: args.databaseUrl });
  boss.on('error', (err) => console.error('pg-boss error', err.message));
  await boss.start();
  const handler = async (jobs: PgBoss.Job<{ id: number }>[]) => {
    await Promise.all(jobs.map((job) => work.handle(job.data.id, 1)));
  };
  if (args.settings === 'best') {
    const { loops, ...options } = PGBOSS_FAIR_BEST;
    for (let i = 0; i < loops; i++) await boss.work(args.queue, options, handler);
  } else {
    await boss.work(args.queue, handler);
  }
  exitOnSignal(async () => {
    await boss.stop({ graceful: false, wait: false }).catch(() => undefined);
    await work.close();
  });
  process.stdout.write('ready\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
