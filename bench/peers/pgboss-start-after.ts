/**
 * Consumer process for the delivery bench: pg-boss 10 (the last major that runs on Node 20)
 * with a no-op work() handler that records when it started each job (job.data.due is the due
 * time in epoch ms). The bench inserts the jobs with `startAfter`, pg-boss's way to run a job
 * at a later time. pg-boss polls: a work() loop fetches `batchSize` jobs, handles them, and
 * waits out the rest of its polling interval before fetching again.
 * Settings:
 * - defaults: boss.work(queue, handler) — pollingIntervalSeconds 2, batchSize 1, one loop;
 * - best: pollingIntervalSeconds 0.5 (the minimum pg-boss accepts), batchSize 1000 and four
 *   work() loops, so fetching never limits a 1,000 msg/s stream or a backlog.
 * Prints "ready" once the workers are polling; exits after writing its report.
 */
import PgBoss from 'pg-boss';
import { Recorder, type ConsumerArgs } from '../lib/recorder';

export const PGBOSS_BEST = { pollingIntervalSeconds: 0.5, batchSize: 1000, loops: 4 };

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ConsumerArgs;
  const recorder = new Recorder(args.expected, args.scenario === 'lag', args.outFile, args.capMs);
  const boss = new PgBoss({ connectionString: args.databaseUrl! });
  boss.on('error', (err) => console.error('pg-boss error', err));
  await boss.start();
  const handler = async (jobs: PgBoss.Job<{ due: number }>[]) => {
    for (const job of jobs) recorder.record(job.data.due);
  };
  if (args.settings === 'best') {
    const { loops, ...options } = PGBOSS_BEST;
    for (let i = 0; i < loops; i++) await boss.work(args.queue, options, handler);
  } else {
    await boss.work(args.queue, handler);
  }
  recorder.arm();
  process.stdout.write('ready\n');
  await recorder.finished$();
  await boss.stop({ graceful: false, wait: false }).catch(() => undefined);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
