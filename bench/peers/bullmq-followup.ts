/**
 * Fair-bench consumer: a BullMQ Worker (ioredis underneath) whose processor is the design's
 * follow-up handler (bench/lib/followup-work.ts): read the row, skip if sent or cancelled, POST
 * it signed to the sink, mark it sent. The bench adds one job per row (job.data.id), delayed to
 * its due time, or with a priority in the fairness bench.
 * Settings:
 * - defaults: new Worker(queue, processor, { connection }) — concurrency 1 (BullMQ's default;
 *   the design itself runs 5 and a 10/minute limiter, which would cap every figure at 0.17 msg/s);
 * - design: concurrency 5, the design's own worker setting (its limiter left out, as above);
 * - best: concurrency 100 (crm-worker's tuned DELIVERY_CONCURRENCY), and the producer sets
 *   removeOnComplete on the jobs, which spares Redis a completed-set entry per job.
 * Prints "ready" once connected; runs until the bench sends SIGTERM (or SIGKILL).
 */
import { Worker } from 'bullmq';
import { followupWork } from '../lib/followup-work';
import { exitOnSignal, readFairPeerArgs } from './fair-args';

export const BULLMQ_FAIR_BEST = { concurrency: 100 };
export const BULLMQ_FAIR_DESIGN = { concurrency: 5 };

async function main(): Promise<void> {
  const args = readFairPeerArgs();
  const url = new URL(args.redisUrl!);
  const work = followupWork({ databaseUrl: args.databaseUrl, sinkUrl: args.sinkUrl, secret: args.secret, sentBy: 'bull_worker' });
  const worker = new Worker(
    args.queue,
    async (job) => {
      await work.handle((job.data as { id: number }).id, job.attemptsMade + 1);
    },
    {
      connection: { host: url.hostname, port: Number(url.port || 6379) },
      prefix: args.redisPrefix,
      ...(args.settings === 'best' ? BULLMQ_FAIR_BEST : args.settings === 'design' ? BULLMQ_FAIR_DESIGN : {}),
    },
  );
  worker.on('error', (err) => console.error('bullmq worker error', err.message));
  await worker.waitUntilReady();
  exitOnSignal(async () => {
    await worker.close(true).catch(() => undefined);
    await work.close();
  });
  process.stdout.write('ready\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
