/**
 * Consumer process for the delivery bench: a BullMQ Worker whose no-op handler records when it
 * started each delayed job (job.data.due is the due time in epoch ms). The bench adds the jobs
 * with Queue.addBulk and `delay`, BullMQ's documented way to run a job at a later time.
 * Settings:
 * - defaults: new Worker(queue, handler, { connection }) — concurrency 1, drainDelay 5 s,
 *   completed jobs kept;
 * - best: concurrency 100 (the handler does no I/O, so more slots only cut queueing) and
 *   completed jobs removed (removeOnComplete, set on the jobs by the producer), which spares
 *   Redis work per job.
 * Prints "ready" once the worker is connected; exits after writing its report.
 */
import { Worker } from 'bullmq';
import { Recorder, type ConsumerArgs } from '../lib/recorder';

export const BULLMQ_BEST_WORKER = { concurrency: 100 };

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ConsumerArgs;
  const url = new URL(args.redisUrl!);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  const recorder = new Recorder(args.expected, args.scenario === 'lag', args.outFile, args.capMs);
  const worker = new Worker(
    args.queue,
    async (job) => {
      recorder.record((job.data as { due: number }).due);
    },
    { connection, ...(args.settings === 'best' ? BULLMQ_BEST_WORKER : {}) },
  );
  await worker.waitUntilReady();
  recorder.arm();
  process.stdout.write('ready\n');
  await recorder.finished$();
  await worker.close(true);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
